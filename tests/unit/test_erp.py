"""The reference ERP: schema integrity, deterministic generation, triggers and helpers."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from runner.demo.erp import connect, create_erp, record_shipment, set_sell_online
from runner.errors import ConfigError

TABLES = [
    "item_tax_groups", "dimension_groups", "products", "variants", "warehouses", "on_hand",
    "customers", "trade_agreements", "delivery_modes", "online_stores", "sales_orders",
    "sales_order_lines", "shipments",
]  # fmt: skip

INCREMENTAL = [
    "products", "variants", "on_hand", "trade_agreements", "delivery_modes", "item_tax_groups",
    "dimension_groups", "sales_orders", "shipments",
]  # fmt: skip


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with closing(sqlite3.connect(path)) as conn:
        for table in TABLES:
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("erp") / "erp.db"
    create_erp(path, products=2000, seed=7)
    return path


def test_same_seed_gives_identical_rows(tmp_path: Path, erp: Path) -> None:
    again = tmp_path / "again.db"
    create_erp(again, products=2000, seed=7)
    assert _digest(again) == _digest(erp)


def test_other_seed_gives_other_rows(tmp_path: Path, erp: Path) -> None:
    other = tmp_path / "other.db"
    create_erp(other, products=2000, seed=8)
    assert _digest(other) != _digest(erp)


def test_schema_is_consistent(erp: Path) -> None:
    with closing(connect(erp)) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert set(TABLES) <= tables
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert counts["products"] == 2000
    # About 10% of products have 1 to 5 variants each.
    assert 300 < counts["variants"] < 900
    assert counts["on_hand"] >= 2000
    assert counts["sales_orders"] == 0 and counts["online_stores"] == 0


def test_every_stocked_sku_exists(erp: Path) -> None:
    with closing(connect(erp)) as conn:
        orphans = conn.execute(
            "SELECT count(*) FROM on_hand WHERE sku NOT IN (SELECT sku FROM variants)"
            " AND sku NOT IN (SELECT item_id FROM products)"
        ).fetchone()[0]
        negative = conn.execute("SELECT count(*) FROM on_hand WHERE reserved > physical").fetchone()
    assert orphans == 0
    assert negative == (0,)


def test_sell_online_ratio_is_respected(tmp_path: Path) -> None:
    path = tmp_path / "erp.db"
    create_erp(path, products=5000, seed=3, sell_online_ratio=0.5)
    with closing(connect(path)) as conn:
        selected = conn.execute("SELECT count(*) FROM products WHERE sell_online = 1").fetchone()
    assert 2300 < selected[0] < 2700


def test_every_incremental_table_has_an_indexed_modified_at(erp: Path) -> None:
    with closing(connect(erp)) as conn:
        for table in INCREMENTAL:
            indexed = [
                conn.execute(f"PRAGMA index_info({name})").fetchall()
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?", (table,)
                )
            ]
            assert any(cols and cols[0][2] == "modified_at" for cols in indexed), table


def test_unique_constraints_hold(tmp_path: Path) -> None:
    path = tmp_path / "erp.db"
    create_erp(path, products=50, seed=1)
    with closing(connect(path)) as conn:
        sku = conn.execute("SELECT sku, item_id FROM variants LIMIT 1").fetchone()
        if sku is not None:
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(
                    "INSERT INTO variants VALUES ('VX', ?, 'S', 'Red', NULL, NULL, ?, 0, 'x')",
                    (sku[1], sku[0]),
                )
        conn.execute(
            "INSERT INTO sales_orders (store_id, store_order_id, ordered_at, modified_at)"
            " VALUES ('web-us', 'ord_1', 'x', 'x')"
        )
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO sales_orders (store_id, store_order_id, ordered_at, modified_at)"
                " VALUES ('web-us', 'ord_1', 'x', 'x')"
            )
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced by connect()
            conn.execute(
                "INSERT INTO variants VALUES"
                " ('VY', 'NOPE', 'S', 'Red', NULL, NULL, 'NOPE-S', 0, 'x')"
            )
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE sales_orders SET status = 'shipped'")


def test_trigger_stamps_hand_edits(tmp_path: Path) -> None:
    path = tmp_path / "erp.db"
    create_erp(path, products=20, seed=1)
    with closing(connect(path)) as conn:
        before = conn.execute("SELECT modified_at FROM products WHERE item_id='I000001'").fetchone()
    assert set_sell_online(path, ["I000001"], True) + set_sell_online(path, ["I000001"], False) >= 1
    with closing(connect(path)) as conn, conn:
        after = conn.execute("SELECT modified_at FROM products WHERE item_id='I000001'").fetchone()
        assert after[0] > before[0]  # generated history ends at 2026-01-01
        conn.execute(
            "UPDATE products SET list_price = 1, modified_at = '2030-01-01T00:00:00.000Z'"
            " WHERE item_id = 'I000002'"
        )
        explicit = conn.execute("SELECT modified_at FROM products WHERE item_id='I000002'")
        assert explicit.fetchone() == ("2030-01-01T00:00:00.000Z",)


def test_record_shipment_marks_order_delivered(tmp_path: Path) -> None:
    path = tmp_path / "erp.db"
    create_erp(path, products=5, seed=1)
    with closing(connect(path)) as conn, conn:
        order_id = conn.execute(
            "INSERT INTO sales_orders (store_id, store_order_id, ordered_at, modified_at)"
            " VALUES ('web-us', 'ord_9', '2026-02-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z')"
        ).lastrowid
    assert order_id is not None
    shipment = record_shipment(path, order_id, "FedEx", "1Z999")
    with closing(connect(path)) as conn:
        row = conn.execute(
            "SELECT s.carrier, s.tracking_number, o.status FROM shipments s"
            " JOIN sales_orders o USING (sales_order_id) WHERE s.shipment_id = ?",
            (shipment,),
        ).fetchone()
    assert row == ("FedEx", "1Z999", "delivered")
    with pytest.raises(ConfigError, match="does not exist"):
        record_shipment(path, 999, "FedEx", "x")


def test_refuses_existing_file_and_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "erp.db"
    path.write_text("keep me")
    with pytest.raises(ConfigError, match="already exists"):
        create_erp(path, products=1)
    assert path.read_text() == "keep me"
    with pytest.raises(ConfigError, match="sell_online_ratio"):
        create_erp(tmp_path / "x.db", products=1, sell_online_ratio=2)


def test_ten_thousand_products_are_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    create_erp(tmp_path / "erp.db", products=10_000, seed=1)
    elapsed = time.perf_counter() - started
    print(f"10k products: {elapsed:.2f}s")
    assert elapsed < 10  # 1M takes ~30 s on the CI machine; 10k is a hundredth of that


@pytest.mark.slow
def test_one_million_products(tmp_path: Path) -> None:
    started = time.perf_counter()
    create_erp(tmp_path / "erp.db", products=1_000_000, seed=42)
    elapsed = time.perf_counter() - started
    print(f"1M products: {elapsed:.1f}s")
    with closing(connect(tmp_path / "erp.db")) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (1_000_000,)
    assert elapsed < 120
