"""The sandbox store's data: one SQLite file (WAL), one connection guarded by a lock.

Each catalogue resource is a keyed collection of JSON documents: ``content`` is the canonical
form of what the client sent (compared to tell "unchanged" from "updated"), ``body`` is what the
API serves (content plus id and updated_at), so a list is a concatenation of stored bytes. Batch
writes run in one transaction. Idempotency keys and their first responses live here too, so a
replay after a restart still returns the first answer.

Tests and demos can inspect a store file directly::

    stats("var/sandbox.db")                  # {"products": 3, "orders": 1, ...}
    product_by_sku("var/sandbox.db", "I000001")
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from runner.demo.sandbox import tables

__all__ = [
    "COLLECTIONS",
    "SEED_STORES",
    "Collection",
    "SandboxStore",
    "order",
    "product_by_sku",
    "stats",
]

SEED_STORES = [
    {
        "id": "web-us",
        "name": "Contoso Online US",
        "url": "https://us.contoso.example",
        "currency": "USD",
    },
    {
        "id": "web-eu",
        "name": "Contoso Online EU",
        "url": "https://eu.contoso.example",
        "currency": "EUR",
    },
]


@dataclass(frozen=True)
class Collection:
    """A keyed resource: ``key`` builds the natural key from a normalized record; ``prefix``
    (if any) makes server ids like ``prd_000123`` from the row number."""

    table: str
    key: Callable[[dict[str, Any]], str]
    key_field: str
    prefix: str | None = None


COLLECTIONS = {
    "products": Collection("products", lambda r: r["sku"], "sku", "prd"),
    "inventory": Collection("inventory", lambda r: f"{r['sku']}\x1f{r['warehouse']}", "sku", None),
    "prices": Collection("prices", lambda r: r["id"], "id", None),
    "delivery-modes": Collection("delivery_modes", lambda r: r["code"], "code", None),
}

_ALL_TABLES = [c.table for c in COLLECTIONS.values()] + [
    "variant_skus",
    "stores",
    "orders",
    "shipments",
    "idempotency",
]


class _Batch:
    """One write transaction's shared timestamp and its next row numbers. Row numbers are
    assigned here (AUTOINCREMENT's sequence + 1, safe under the store's lock) so that a new
    record is written by one INSERT that already carries its id."""

    def __init__(self, conn: sqlite3.Connection, table: str, stamp: str) -> None:
        self.conn = conn
        self.table = table
        self.stamp = stamp
        self._next: int | None = None

    def next_n(self) -> int:
        if self._next is None:
            row = self.conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = ?", (self.table,)
            ).fetchone()
            self._next = (row[0] if row else 0) + 1
        n, self._next = self._next, self._next + 1
        return n


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def make_id(prefix: str, n: int) -> str:
    return f"{prefix}_{n:06d}"


def parse_id(prefix: str, ident: str) -> int | None:
    head, _, digits = ident.partition("_")
    if head != prefix or not digits.isdigit():
        return None
    return int(digits)


class SandboxStore:
    """All reads and writes of one sandbox data file. Thread-safe: one lock, one connection."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        if os.path.dirname(self.path):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        self._last_stamp = ""
        with self.transaction() as conn:
            tables.create(conn, [c.table for c in COLLECTIONS.values()])
            self._seed_stores(conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside BEGIN IMMEDIATE ... COMMIT, holding the lock."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def now(self) -> str:
        """A UTC timestamp strictly later than every one handed out before by this store, so
        ``updated_since`` never misses a change made in the same microsecond."""
        moment = dt.datetime.now(dt.UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if stamp <= self._last_stamp:
            last = dt.datetime.strptime(self._last_stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
            stamp = (last + dt.timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._last_stamp = stamp
        return stamp

    def _seed_stores(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO stores (id, body) VALUES (?, ?)",
            [(s["id"], _dumps(s)) for s in SEED_STORES],
        )

    # -- keyed collections -------------------------------------------------------------------

    def upsert(
        self,
        resource: str,
        records: Sequence[dict[str, Any] | str],
        *,
        always_create: bool = False,
    ) -> list[dict[str, Any]]:
        """Upsert normalized records (a ``str`` stands for a record that failed validation and
        is echoed back as its error). Returns one result per record, in order.

        ``always_create`` (products only) makes every record a new product with a new id, even
        when its sku or variant skus exist already: the create-always mode of real stores."""
        collection = COLLECTIONS[resource]
        if always_create and resource != "products":
            raise ValueError("only products are created always; other resources are set by key")
        keys = [] if always_create else [collection.key(r) for r in records if isinstance(r, dict)]
        results: list[dict[str, Any]] = []
        with self.transaction() as conn:
            existing = self._existing(conn, collection.table, keys)
            batch = _Batch(conn, collection.table, self.now())
            for record in records:
                if isinstance(record, str):
                    results.append({"error": record})
                    continue
                if always_create:
                    existing.clear()
                results.append(
                    self._upsert_one(
                        conn, collection, record, existing, batch, check_variants=not always_create
                    )
                )
        return results

    def replace_product(
        self, n: int, record: dict[str, Any], *, check_variants: bool = True
    ) -> dict[str, Any]:
        """Write ``record`` over the product at row ``n`` (an update by id: with duplicate skus,
        the key alone would not say which product). ``check_variants=False`` lets variant skus
        that other products hold stand, as in the create-always mode."""
        collection = COLLECTIONS["products"]
        with self.transaction() as conn:
            row = conn.execute("SELECT content FROM products WHERE n = ?", (n,)).fetchone()
            if row is None:
                return {"id": make_id("prd", n), "error": f"no product {make_id('prd', n)}"}
            existing = {collection.key(record): (n, row[0])}
            batch = _Batch(conn, "products", self.now())
            return self._upsert_one(
                conn, collection, record, existing, batch, check_variants=check_variants
            )

    def _existing(
        self, conn: sqlite3.Connection, table: str, keys: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        found: dict[str, tuple[int, bytes]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            # Newest first, so that where keys repeat (create-always mode) the oldest row wins.
            rows = conn.execute(
                f"SELECT key, n, content FROM {table} WHERE key IN ({marks}) ORDER BY n DESC",
                chunk,
            )
            found.update({key: (n, content) for key, n, content in rows})
        return found

    def _upsert_one(
        self,
        conn: sqlite3.Connection,
        collection: Collection,
        record: dict[str, Any],
        existing: dict[str, tuple[int, bytes]],
        batch: _Batch,
        *,
        check_variants: bool = True,
    ) -> dict[str, Any]:
        key = collection.key(record)
        result: dict[str, Any] = {collection.key_field: record[collection.key_field]}
        if collection.table == "inventory":
            result["warehouse"] = record["warehouse"]
        content = _dumps(record)
        previous = existing.get(key)
        if previous is not None and previous[1] == content:
            if collection.prefix:
                result["id"] = make_id(collection.prefix, previous[0])
            result["status"] = "unchanged"
            return result
        if collection.table == "products" and check_variants:
            conflict = self._variant_conflict(conn, record, previous[0] if previous else None)
            if conflict:
                return {**result, "error": conflict}
        stamp = batch.stamp
        n = batch.next_n() if previous is None else previous[0]
        served = dict(record)
        if collection.prefix:
            served = {"id": make_id(collection.prefix, n), **served}
            result["id"] = served["id"]
        served["updated_at"] = stamp
        body = orjson.dumps(served)
        if previous is None:
            conn.execute(
                f"INSERT INTO {collection.table} (n, key, content, body, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (n, key, content, body, stamp),
            )
            status = "created"
        else:
            conn.execute(
                f"UPDATE {collection.table} SET content = ?, body = ?, updated_at = ? WHERE n = ?",
                (content, body, stamp, n),
            )
            status = "updated"
        if collection.table == "products":
            if previous is not None:
                conn.execute("DELETE FROM variant_skus WHERE product_n = ?", (n,))
            if record["variants"]:
                conn.executemany(
                    "INSERT INTO variant_skus (sku, product_n) VALUES (?, ?)",
                    [(v["sku"], n) for v in record["variants"]],
                )
        existing[key] = (n, content)
        result["status"] = status
        return result

    def _variant_conflict(
        self, conn: sqlite3.Connection, record: dict[str, Any], own: int | None
    ) -> str | None:
        skus = [v["sku"] for v in record["variants"]]
        if not skus:
            return None
        marks = ",".join("?" * len(skus))
        row = conn.execute(
            f"SELECT sku, product_n FROM variant_skus WHERE sku IN ({marks})"
            " AND product_n IS NOT ?",
            [*skus, own],
        ).fetchone()
        if row is None:
            return None
        return f"variant sku {row[0]} already belongs to product {make_id('prd', row[1])}"

    def list_page(
        self,
        resource: str,
        *,
        limit: int,
        after: int = 0,
        key: str | Sequence[str] | None = None,
    ) -> tuple[list[bytes], int | None]:
        """A page of served bodies after row ``after`` (with natural key ``key``, or any of the
        keys if a list); the second item is the cursor for the next page (None on the last)."""
        return self._page(COLLECTIONS[resource].table, "key", key, after, limit)

    def _page(
        self, table: str, column: str, value: Any, after: int, limit: int
    ) -> tuple[list[bytes], int | None]:
        """Rows of ``table`` after row ``after`` (where ``column`` = ``value``, or is in it if a
        list, unless None). ``table`` and ``column`` are this module's own names, never a
        request's."""
        sql = f"SELECT n, body FROM {table} WHERE n > ?"
        params: list[Any] = [after]
        if isinstance(value, list | tuple):
            sql += f" AND {column} IN ({','.join('?' * len(value))})"
            params.extend(value)
        elif value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
        sql += " ORDER BY n LIMIT ?"
        params.append(limit)
        with self.reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = rows[-1][0] if len(rows) == limit else None
        return [body for _, body in rows], more

    def get(self, resource: str, n: int) -> dict[str, Any] | None:
        table = COLLECTIONS[resource].table
        with self.reading() as conn:
            row = conn.execute(f"SELECT body FROM {table} WHERE n = ?", (n,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def get_by_key(self, resource: str, key: str) -> tuple[int, dict[str, Any]] | None:
        table = COLLECTIONS[resource].table
        with self.reading() as conn:
            row = conn.execute(
                f"SELECT n, body FROM {table} WHERE key = ? ORDER BY n LIMIT 1", (key,)
            ).fetchone()
        return (row[0], orjson.loads(row[1])) if row else None

    def delete(self, resource: str, *, n: int | None = None, key: str | None = None) -> bool:
        table = COLLECTIONS[resource].table
        with self.transaction() as conn:
            if n is None:
                row = conn.execute(
                    f"SELECT n FROM {table} WHERE key = ? ORDER BY n LIMIT 1", (key,)
                ).fetchone()
                if row is None:
                    return False
                n = row[0]
            if table == "products":
                conn.execute("DELETE FROM variant_skus WHERE product_n = ?", (n,))
            return conn.execute(f"DELETE FROM {table} WHERE n = ?", (n,)).rowcount > 0

    def set_published(self, skus: Sequence[str], published: bool) -> list[dict[str, Any]]:
        """Publish or unpublish products by sku; one result per sku, in order."""
        results = []
        with self.transaction() as conn:
            existing = self._existing(conn, "products", list(skus))
            for sku in skus:
                found = existing.get(sku)
                if found is None:
                    results.append({"sku": sku, "error": f"no product with sku {sku}"})
                    continue
                record = orjson.loads(found[1])
                if record["published"] == published:
                    results.append(
                        {"sku": sku, "id": make_id("prd", found[0]), "status": "unchanged"}
                    )
                    continue
                record["published"] = published
                batch = _Batch(conn, "products", self.now())
                results.append(
                    self._upsert_one(conn, COLLECTIONS["products"], record, existing, batch)
                )
        return results

    def find_sku(self, sku: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The product a shopper's sku refers to, and the variant if it is a variant's."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT body FROM products WHERE key = ? ORDER BY n LIMIT 1", (sku,)
            ).fetchone()
            if row is not None:
                return orjson.loads(row[0]), None
            row = conn.execute(
                "SELECT p.body FROM variant_skus v JOIN products p ON p.n = v.product_n"
                " WHERE v.sku = ? ORDER BY v.product_n LIMIT 1",
                (sku,),
            ).fetchone()
        if row is None:
            return None
        found = orjson.loads(row[0])
        variant = next(v for v in found["variants"] if v["sku"] == sku)
        return found, variant

    # -- stores --------------------------------------------------------------------------------

    def stores(self) -> list[dict[str, Any]]:
        with self.reading() as conn:
            return [orjson.loads(b) for (b,) in conn.execute("SELECT body FROM stores ORDER BY id")]

    # -- orders and shipments ----------------------------------------------------------------

    def insert_order(self, build: Callable[[int, str], dict[str, Any]]) -> dict[str, Any]:
        """Insert the order ``build(n, now)`` returns, n being its new row number."""
        with self.transaction() as conn:
            stamp = self.now()
            n = conn.execute(
                "INSERT INTO orders (status, body, updated_at) VALUES ('placed', x'', ?)",
                (stamp,),
            ).lastrowid
            assert n is not None
            document = build(n, stamp)
            conn.execute("UPDATE orders SET body = ? WHERE n = ?", (orjson.dumps(document), n))
        return document

    def get_order(self, n: int) -> dict[str, Any] | None:
        with self.reading() as conn:
            row = conn.execute("SELECT body FROM orders WHERE n = ?", (n,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def update_order(
        self, n: int, change: Callable[[dict[str, Any], str, sqlite3.Connection], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """Apply ``change(order, now, conn)`` to an order inside one transaction. ``change`` may
        raise to abort; it returns the new document, stored with a new updated_at."""
        with self.transaction() as conn:
            row = conn.execute("SELECT body FROM orders WHERE n = ?", (n,)).fetchone()
            if row is None:
                return None
            current = orjson.loads(row[0])
            stamp = self.now()
            document = change(current, stamp, conn)
            document["updated_at"] = stamp
            conn.execute(
                "UPDATE orders SET status = ?, body = ?, updated_at = ? WHERE n = ?",
                (document["status"], orjson.dumps(document), stamp, n),
            )
        return document

    def list_orders(
        self, *, since: str | None, after: tuple[str, int] | None, limit: int
    ) -> tuple[list[bytes], tuple[str, int] | None]:
        """Orders by (updated_at, n), from ``since`` (inclusive) and after the cursor."""
        sql = "SELECT updated_at, n, body FROM orders WHERE 1=1"
        params: list[Any] = []
        if since:
            sql += " AND updated_at >= ?"
            params.append(since)
        if after:
            sql += " AND (updated_at, n) > (?, ?)"
            params.extend(after)
        sql += " ORDER BY updated_at, n LIMIT ?"
        params.append(limit)
        with self.reading() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = (rows[-1][0], rows[-1][1]) if len(rows) == limit else None
        return [body for _, _, body in rows], more

    def list_shipments(
        self, *, order_n: int | None, after: int, limit: int
    ) -> tuple[list[bytes], int | None]:
        return self._page("shipments", "order_n", order_n, after, limit)

    # -- idempotency -------------------------------------------------------------------------

    def idempotent_reply(self, key: str) -> tuple[str, int, bytes] | None:
        """(fingerprint, status, body) of the first request made with ``key``."""
        with self.reading() as conn:
            row = conn.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def remember_reply(self, key: str, fingerprint: str, status: int, body: bytes) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO idempotency VALUES (?, ?, ?, ?, ?)",
                (key, fingerprint, status, body, self.now()),
            )

    # -- administration ----------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self.reading() as conn:
            counts = {
                name: conn.execute(f"SELECT count(*) FROM {c.table}").fetchone()[0]
                for name, c in COLLECTIONS.items()
            }
            for table in ("orders", "shipments", "stores", "idempotency"):
                counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            counts["published_products"] = conn.execute(
                "SELECT count(*) FROM products WHERE json_extract(content, '$.published')"
            ).fetchone()[0]
        return counts

    def reset(self) -> None:
        """Delete every record, restart ids, and seed the stores again."""
        with self.transaction() as conn:
            for table in _ALL_TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM sqlite_sequence")
            self._seed_stores(conn)


def _with_store(path: str | os.PathLike[str]) -> SandboxStore:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no sandbox data at {os.fspath(path)}")
    return SandboxStore(path)


def stats(path: str | os.PathLike[str]) -> dict[str, int]:
    """Record counts of the sandbox data file at ``path``."""
    store = _with_store(path)
    try:
        return store.stats()
    finally:
        store.close()


def product_by_sku(path: str | os.PathLike[str], sku: str) -> dict[str, Any] | None:
    """The product with ``sku`` as the API serves it, or None."""
    store = _with_store(path)
    try:
        found = store.get_by_key("products", sku)
        return found[1] if found else None
    finally:
        store.close()


def order(path: str | os.PathLike[str], order_id: str) -> dict[str, Any] | None:
    """The order with id ``order_id`` (``ord_000001``) as the API serves it, or None."""
    n = parse_id("ord", order_id)
    if n is None:
        return None
    store = _with_store(path)
    try:
        return store.get_order(n)
    finally:
        store.close()
