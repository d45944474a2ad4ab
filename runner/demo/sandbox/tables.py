"""The sandbox data file's tables, and the one migration of an older file.

Catalogue resources are keyed collections of JSON documents (see :mod:`storage`). Products and
variant SKUs are not unique: in the create-always mode a store holds duplicates the way real
stores do, and upserts by key find the oldest row through the index.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "COLLECTION_TABLE",
    "OTHER_TABLES",
    "PRODUCT_TABLES",
    "create",
    "drop_unique_product_keys",
]

COLLECTION_TABLE = """
CREATE TABLE IF NOT EXISTS {t} (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    content BLOB NOT NULL,
    body BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
"""
PRODUCT_TABLES = """
CREATE TABLE IF NOT EXISTS products (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    content BLOB NOT NULL,
    body BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS products_key ON products (key, n);
CREATE TABLE IF NOT EXISTS variant_skus (
    sku TEXT NOT NULL,
    product_n INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS variant_skus_sku ON variant_skus (sku, product_n);
"""
OTHER_TABLES = """
CREATE INDEX IF NOT EXISTS variant_skus_product ON variant_skus (product_n);
CREATE TABLE IF NOT EXISTS stores (id TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    body BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_updated ON orders (updated_at, n);
CREATE TABLE IF NOT EXISTS shipments (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    order_n INTEGER NOT NULL REFERENCES orders (n),
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS shipments_order ON shipments (order_n);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""


def _run(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def create(conn: sqlite3.Connection, collection_tables: list[str]) -> None:
    """Create what is missing (inside the caller's transaction), migrating an older file."""
    drop_unique_product_keys(conn)
    _run(conn, PRODUCT_TABLES)
    for table in collection_tables:
        if table != "products":
            conn.execute(COLLECTION_TABLE.format(t=table))
    _run(conn, OTHER_TABLES)


def drop_unique_product_keys(conn: sqlite3.Connection) -> None:
    """Rebuild the products and variant_skus tables of a data file made before the create-always
    mode, whose keys were UNIQUE (SQLite cannot drop a constraint in place)."""
    unique = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name IN ('products', 'variant_skus') AND name LIKE 'sqlite_autoindex_%'"
    ).fetchone()[0]
    if not unique:
        return
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'products'").fetchone()
    conn.execute("ALTER TABLE products RENAME TO products_unique")
    conn.execute("ALTER TABLE variant_skus RENAME TO variant_skus_unique")
    conn.execute("DROP INDEX IF EXISTS variant_skus_product")
    _run(conn, PRODUCT_TABLES)
    conn.execute("INSERT INTO products SELECT * FROM products_unique")
    conn.execute("INSERT INTO variant_skus SELECT sku, product_n FROM variant_skus_unique")
    conn.execute("DROP TABLE products_unique")
    conn.execute("DROP TABLE variant_skus_unique")
    # Keep the id high-water mark, so an id of a deleted product is never handed out again.
    top = conn.execute("SELECT coalesce(max(n), 0) FROM products").fetchone()[0]
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'products'")
    conn.execute(
        "INSERT INTO sqlite_sequence (name, seq) VALUES ('products', ?)",
        (max(top, seq[0] if seq else 0),),
    )
