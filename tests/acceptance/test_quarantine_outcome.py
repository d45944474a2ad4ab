"""A run that set records aside says so: outcome, status, history, exit code (issue 11, item 6).

A mapped value the destination refuses sent records to quarantine while the run reported
``succeeded`` and exited 0, so a cron wrapper or a CI job could not tell.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.engine_env import FIXTURES, make_shop


def test_a_run_with_quarantined_records_is_partial_and_exits_3(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=4, price_check=True)
    shop.erp_exec("UPDATE items SET list_price = 5000 WHERE item_id IN ('I001', 'I003')")
    done = shop.cli("run", "products")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "products: partial in" in done.stdout
    assert "2 records quarantined" in done.stdout
    assert "commerce-sync quarantine list --job products" in done.stdout

    runs = json.loads(shop.cli("history", "--format", "json").stdout)
    job_run = next(r for r in runs if r["step"] is None)
    assert (job_run["status"], job_run["quarantined"]) == ("partial", 2)
    status = shop.cli("status", str(FIXTURES), "--format", "json")
    products = next(s for s in json.loads(status.stdout) if s["job"] == "products")
    assert (products["last_status"], products["quarantined"]) == ("partial", 2)

    (tmp_path / "clean").mkdir()
    clean = make_shop(tmp_path / "clean", items=2)
    ok = clean.cli("run", "products")
    assert ok.returncode == 0 and "products: succeeded in" in ok.stdout
