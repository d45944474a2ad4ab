"""A run killed (SIGKILL, for real) after the destination acknowledged a batch but before the
state store committed it: the rerun replays that batch and the shop ends up exact."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from runner.state import open_state
from tests.acceptance.engine_env import make_shop


def test_kill_between_write_and_commit_then_rerun(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=10)  # batches of 3: 3 + 3 + 3 + 1
    killed = shop.cli("run", "products", COMMERCE_SYNC_TEST_KILL_AFTER_WRITES="2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The second batch reached the shop but is not in the state store. The first one is
    # committed on its own thread while the second is sent: the kill may come before it.
    assert len(shop.products()) == 6
    store = open_state(str(shop.state))
    try:
        keys = [(f"I{i:03d}",) for i in range(10)]
        committed = sorted(store.get_hashes("products", "products", keys))
        assert committed in ([], keys[:3])
        assert store.get_cursor("products", "products") is None
    finally:
        store.close()

    rerun = shop.cli("run", "products")
    assert rerun.returncode == 0, rerun.stderr
    # The replayed batch and the rest are written; the committed batch is not sent again.
    done = len(committed)
    assert f"read 10, written {10 - done}" in rerun.stdout, rerun.stdout
    assert f"unchanged {done}" in rerun.stdout, rerun.stdout
    assert shop.products() == [(f"I{i:03d}", f"Item {i}", 10 + i + 0.25) for i in range(10)]
    with sqlite3.connect(shop.shop) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT sku) FROM shop_products").fetchone() \
            == (10, 10)
    runs = json.loads(shop.cli("history", "products", "--format", "json").stdout)
    statuses = [(r["step"], r["status"]) for r in runs]
    # The killed run never finished; the rerun, holding the lock the dead process released,
    # recorded it as failed with the reason, at the job and the step level.
    assert ("products", "succeeded") in statuses and ("products", "failed") in statuses
    assert not [r for r in runs if r["status"] == "running"]
    abandoned = [r for r in runs if r["status"] == "failed"]
    assert {r["step"] or "" for r in abandoned} == {"", "products"}  # job level: no step
    assert all("its process ended before the run finished" in r["error"] for r in abandoned)
