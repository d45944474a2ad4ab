"""The README's ``sqlite3 var/erp.db '...'`` line shows a sales order with its lines.

Issue 11, item 11: it selected from ``sales_orders`` alone, whose rows hold no line; the lines
are in ``sales_order_lines``. The command is taken from the README as written and run on a
reference ERP holding an order of two lines.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from runner.demo.erp import create_erp

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_query() -> str:
    found = re.findall(r"^sqlite3 var/erp\.db '([^']+)'", README.read_text(), re.MULTILINE)
    assert len(found) == 1, "the README has one sqlite3 example on var/erp.db"
    return str(found[0])


def _erp_with_an_order(tmp: Path) -> Path:
    db = tmp / "erp.db"
    create_erp(str(db), products=20)
    with closing(sqlite3.connect(db)) as conn, conn:
        skus = [r[0] for r in conn.execute("SELECT sku FROM variants ORDER BY sku LIMIT 2")]
        conn.execute(
            "INSERT INTO sales_orders (store_id, store_order_id, store_order_number, "
            "customer_email, total, ordered_at) VALUES ('web-us', 'ord_1', 'W-1001', "
            "'shopper@example.com', 30, '2026-01-01T10:00:00Z')")
        conn.executemany(
            "INSERT INTO sales_order_lines (sales_order_id, line_number, sku, quantity, "
            "unit_price) VALUES (1, ?, ?, ?, 10)",
            [(1, skus[0], 1), (2, skus[1], 2)])
    return db


def test_the_readme_query_shows_the_order_with_its_lines(tmp_path: Path) -> None:
    db = _erp_with_an_order(tmp_path)
    with closing(sqlite3.connect(db)) as conn:
        skus = [r[0] for r in conn.execute("SELECT sku FROM sales_order_lines ORDER BY 1")]
        rows = conn.execute(_readme_query()).fetchall()
    shown = "\n".join("|".join(map(str, r)) for r in rows)
    assert "W-1001" in shown
    for sku in skus:
        assert sku in shown, f"line {sku} not shown by the README's query:\n{shown}"
    if shutil.which("sqlite3"):  # the very command a user types, where the tool is installed
        out = subprocess.run(["sqlite3", str(db), _readme_query()], capture_output=True,
                             text=True, timeout=30, check=True).stdout
        assert all(sku in out for sku in skus) and "W-1001" in out, out
