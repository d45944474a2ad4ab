"""``commerce-sync run/plan/history/quarantine`` as a user runs them, on SQLite files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from runner.state import open_state
from tests.acceptance.engine_env import make_shop


# Each CLI call pays for importing SQLAlchemy (about a second); these walk whole stories.
@pytest.mark.slow
def test_run_plan_history_and_complete_sync(tmp_path: Path) -> None:
    shop = make_shop(tmp_path)
    shop.erp_exec("UPDATE items SET sell_online = 0 WHERE item_id = 'I009'")
    done = shop.cli("run", "products")
    assert done.returncode == 0, done.stderr
    assert "products/products [incremental] succeeded: read 9, written 9" in done.stdout
    rows = shop.products()
    assert [r[0] for r in rows] == [f"I{i:03d}" for i in range(9)]
    assert rows[0] == ("I000", "Item 0", 10.25)

    again = shop.cli("run", "products")
    assert "written 0" in again.stdout and again.returncode == 0

    shop.erp_exec("UPDATE items SET name = 'Renamed', modified_at = '2024-05-02 00:00:00' "
                  "WHERE item_id = 'I001'")
    shop.erp_exec("UPDATE items SET sell_online = 0 WHERE item_id = 'I002'")
    plan = shop.cli("plan", "products", "--full", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    step = json.loads(plan.stdout)["steps"][0]
    # The SQL destination upserts by key, and a full run rewrites every selected record (it
    # repairs a destination that lost data): the plan says exactly what the run will send.
    counts = ("creates", "updates", "upserts", "deletes", "unchanged")
    assert tuple(step[c] for c in counts) == (0, 0, 8, 1, 0)
    assert "Renamed" in [s["record"]["title"] for s in step["samples"]["upsert"]]
    assert step["samples"]["delete"][0]["key"] == ["I002"]
    text = shop.cli("plan", "products", "--full")
    assert "8 to upsert, 1 to delete" in text.stdout
    assert ("I002", "Item 2", 12.25) in shop.products()  # a plan writes nothing

    refused = shop.cli("run", "complete")
    assert refused.returncode == 1
    assert "may only run within 02:00-02:00 UTC; use --force" in refused.stderr
    forced = shop.cli("run", "complete", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "[full] succeeded" in forced.stdout and "removed 1" in forced.stdout
    skus = [r[0] for r in shop.products()]
    assert "I002" not in skus and len(skus) == 8
    assert ("I001", "Renamed", 11.25) in shop.products()

    history = shop.cli("history", "--format", "json", "--limit", "50")
    runs = json.loads(history.stdout)
    assert {(r["job"], r["step"], r["status"]) for r in runs} >= {
        ("products", "products", "succeeded"), ("complete", None, "succeeded")}
    full_step = next(r for r in runs if r["mode"] == "full" and r["step"] == "products")
    assert (full_step["written"], full_step["deleted"]) == (8, 1)
    table = shop.cli("history", "products")
    assert "products/products" in table.stdout and "succeeded" in table.stdout


@pytest.mark.slow
def test_quarantine_list_show_retry_drop(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=4, price_check=True)
    shop.erp_exec("UPDATE items SET list_price = 5000 WHERE item_id = 'I001'")
    shop.erp_exec("UPDATE items SET name = NULL WHERE item_id = 'I002'")
    done = shop.cli("run", "products")
    assert done.returncode == 3, done.stderr  # finished, with records set aside
    assert "quarantined 2" in done.stdout
    listing = json.loads(shop.cli("quarantine", "list", "--format", "json").stdout)
    by_key = {tuple(q["key"]): q for q in listing}
    assert set(by_key) == {("I001",), ("I002",)}
    assert "CHECK" in by_key[("I001",)]["reason"] or "constraint" in by_key[("I001",)]["reason"]
    assert "title" in by_key[("I002",)]["reason"]
    shown = json.loads(shop.cli("quarantine", "show", str(by_key[("I001",)]["id"])).stdout)
    assert float(shown["record"]["list_price"]) == 5000

    # The shop lifts its price limit; a retry delivers the refused record and releases it.
    with sqlite3.connect(shop.shop) as conn:
        conn.executescript(
            "ALTER TABLE shop_products RENAME TO old;"
            "CREATE TABLE shop_products (sku TEXT PRIMARY KEY, title TEXT NOT NULL, price NUMERIC);"
            "INSERT INTO shop_products SELECT * FROM old; DROP TABLE old;"
        )
    retry = shop.cli("quarantine", "retry", "--all")
    assert retry.returncode == 1  # the record without a name still fails
    assert "released 1, still quarantined 1" in retry.stdout
    assert ("I001", "Item 1", 5000) in shop.products()
    left = json.loads(shop.cli("quarantine", "list", "--format", "json").stdout)
    assert [(q["key"], q["attempts"]) for q in left] == [(["I002"], 2)]
    dropped = shop.cli("quarantine", "drop", "--all", "--job", "products")
    assert "dropped 1" in dropped.stdout
    assert "quarantine is empty" in shop.cli("quarantine", "list").stdout


def test_a_locked_job_is_refused_with_exit_1(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=2)
    store = open_state(str(shop.state))
    try:
        with store.job_lock("products", "another-runner"):
            done = shop.cli("run", "products")
    finally:
        store.close()
    assert done.returncode == 1
    assert "--wait SECONDS" in done.stderr
    assert shop.products() == []


def test_unknown_job_is_a_config_error(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=1)
    done = shop.cli("run", "nope")
    assert done.returncode == 2
    assert "unknown job 'nope'" in done.stderr
