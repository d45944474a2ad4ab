"""The money example of docs/pipeline-language.md runs on the embedded default: the reference
ERP (SQLite) to a SQLite table, through the shared connections of its project.yaml."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path

from runner.demo.erp import create_erp
from runner.engine import run_job
from runner.project import load_project
from runner.state import open_state

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "docs"


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
    project = load_project([EXAMPLES], env=env)
    project.raise_for_errors()
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        result = run_job(project.job("prices"), project=project, state=state)
    finally:
        state.close()
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
