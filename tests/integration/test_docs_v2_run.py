"""The money example of docs/pipeline-language.md runs on the embedded default: the reference
ERP (SQLite) to a SQLite table, through the shared connections of its project.yaml."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from runner.demo.erp import create_erp
from runner.engine import run_job
from runner.project import Project, load_project
from runner.state import open_state
from runner.state.base import StateStore

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "docs"


@contextmanager
def examples(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Project, StateStore]]:
    """The docs examples loaded against ``env``, and a state store in ``tmp_path``."""
    project = load_project([EXAMPLES], env=env)
    project.raise_for_errors()
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield project, state
    finally:
        state.close()


def test_prices_example_writes_cents_quarantines_eur_and_keeps_only_taxed(tmp_path: Path) -> None:
    erp, prices = tmp_path / "erp.db", tmp_path / "prices.db"
    create_erp(erp, products=40)
    with closing(sqlite3.connect(erp)) as conn, conn:
        online = [r[0] for r in conn.execute(
            "SELECT item_id FROM products WHERE sell_online = 1 ORDER BY item_id")]
        conn.execute("UPDATE products SET list_price = 17.99 WHERE item_id = ?", (online[0],))
        conn.execute("UPDATE products SET currency = 'EUR' WHERE item_id = ?", (online[1],))
        # A tax group the lookup does not hold: `keep` drops the product (SQLite leaves
        # foreign keys unchecked unless asked).
        conn.execute("UPDATE products SET tax_group_code = 'NONE' WHERE item_id = ?",
                     (online[2],))
        expected = {item: (Decimal(str(price)), Decimal(str(rate)))
                    for item, price, rate in conn.execute(
                        "SELECT p.item_id, p.list_price, t.rate FROM products p JOIN "
                        "item_tax_groups t ON t.code = p.tax_group_code "
                        "WHERE p.sell_online = 1 AND p.currency = 'USD'")}
    with closing(sqlite3.connect(prices)) as conn, conn:
        conn.execute("CREATE TABLE channel_prices (sku TEXT PRIMARY KEY, price_cents INTEGER,"
                     " currency TEXT, gross TEXT, tax_rate REAL)")
    env = {"ERP_DATABASE_URL": f"sqlite:///{erp}", "PRICES_DATABASE_URL": f"sqlite:///{prices}"}
    with examples(tmp_path, env) as (project, state):
        result = run_job(project.job("prices"), project=project, state=state)
    assert result.status == "partial"  # the EUR product is quarantined, the batch went on
    (summary,) = result.steps
    assert summary.quarantined == 1
    with closing(sqlite3.connect(prices)) as conn:
        rows = {sku: (cents, cur, gross) for sku, cents, cur, gross, _ in conn.execute(
            "SELECT * FROM channel_prices")}
    assert set(rows) == set(expected) and online[1] not in rows and online[2] not in rows
    assert rows[online[0]][0] == 1799  # 17.99 exactly, in cents
    for sku, (price, rate) in expected.items():
        cents, currency, gross = rows[sku]
        assert (cents, currency) == (int(price * 100), "USD")
        assert Decimal(gross) == (price * (1 + rate)).quantize(Decimal("0.01"))


def _run(project: Any, state: Any, name: str) -> dict[str, tuple[int, int]]:
    result = run_job(project.job(name), project=project, state=state)
    assert result.status == "succeeded", [s.summary() for s in result.steps]
    return {s.step: (s.written, s.echoed) for s in result.steps}


def test_order_status_example_crosses_each_change_once(tmp_path: Path) -> None:
    erp, shop = tmp_path / "erp.db", tmp_path / "shop.db"
    create_erp(erp, products=5)
    with closing(sqlite3.connect(erp)) as conn, conn:
        conn.executemany("INSERT INTO sales_orders (store_id, store_order_id, ordered_at) "
                         "VALUES ('web', ?, '2026-01-01')", [("o1",), ("o2",)])
        conn.execute("CREATE TABLE updates (store_order_id TEXT, status TEXT)")
        conn.execute("CREATE TRIGGER counted AFTER UPDATE OF status ON sales_orders BEGIN "
                     "INSERT INTO updates VALUES (NEW.store_order_id, NEW.status); END")
    with closing(sqlite3.connect(shop)) as conn, conn:
        conn.execute("CREATE TABLE shop_orders (order_id TEXT PRIMARY KEY, status TEXT)")
        conn.execute("CREATE TABLE shop_updates (order_id TEXT, status TEXT)")
        conn.execute("CREATE TRIGGER counted AFTER UPDATE ON shop_orders BEGIN "
                     "INSERT INTO shop_updates VALUES (NEW.order_id, NEW.status); END")
    env = {"ERP_DATABASE_URL": f"sqlite:///{erp}", "SHOP_DATABASE_URL": f"sqlite:///{shop}"}

    def sql(path: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path)) as conn, conn:
            return conn.execute(query, args).fetchall()

    with examples(tmp_path, env) as (project, state):
        assert _run(project, state, "order-status")["status-up"] == (2, 0)
        # The ERP cancels o1: it reaches the shop, whose report of it is not brought back.
        sql(erp, "UPDATE sales_orders SET status = 'cancelled' WHERE store_order_id = 'o1'")
        stamped = sql(erp, "SELECT modified_at FROM sales_orders WHERE store_order_id = 'o1'")
        assert _run(project, state, "order-status") == {"status-up": (1, 0),
                                                        "cancellations-down": (0, 1)}
        assert sql(erp, "SELECT modified_at FROM sales_orders WHERE store_order_id = 'o1'") \
            == stamped
        # The shop cancels o2: it reaches the ERP, and is not sent back to the shop.
        sql(shop, "UPDATE shop_orders SET status = 'cancelled' WHERE order_id = 'o2'")
        assert _run(project, state, "order-status") == {"status-up": (0, 0),
                                                        "cancellations-down": (1, 0)}
        assert _run(project, state, "order-status") == {"status-up": (0, 1),
                                                        "cancellations-down": (0, 0)}
    assert sql(erp, "SELECT store_order_id, status FROM updates ORDER BY rowid") == [
        ("o1", "cancelled"), ("o2", "cancelled")]
    assert sql(shop, "SELECT order_id, status FROM shop_updates ORDER BY rowid") == [
        ("o1", "cancelled"), ("o2", "cancelled")]


def test_tracking_example_looks_carriers_up_by_a_mapped_code(tmp_path: Path) -> None:
    erp, shop = tmp_path / "erp.db", tmp_path / "shop.db"
    create_erp(erp, products=5)
    with closing(sqlite3.connect(erp)) as conn, conn:
        conn.execute("INSERT INTO sales_orders (store_id, store_order_id, ordered_at) "
                     "VALUES ('web', 'o1', '2026-01-01')")
        conn.executemany("INSERT INTO shipments (sales_order_id, carrier, tracking_number, "
                         "shipped_at) VALUES (1, ?, ?, '2026-01-02')",
                         [(" fedex", "T1"), ("UPS ", "T2"), ("Pigeon", "T3")])
    with closing(sqlite3.connect(shop)) as conn, conn:
        conn.execute("CREATE TABLE tracking (shipment_id TEXT PRIMARY KEY, carrier_code TEXT,"
                     " carrier TEXT, tracking_number TEXT)")
    env = {"ERP_DATABASE_URL": f"sqlite:///{erp}", "SHOP_DATABASE_URL": f"sqlite:///{shop}"}
    with examples(tmp_path, env) as (project, state):
        assert _run(project, state, "tracking") == {"tracking": (3, 0)}
    with closing(sqlite3.connect(shop)) as conn:
        rows = conn.execute("SELECT tracking_number, carrier_code, carrier FROM tracking "
                            "ORDER BY tracking_number").fetchall()
    assert rows == [("T1", "FEDEX", "FedEx"), ("T2", "UPS", "UPS"), ("T3", "PIGEON", None)]
