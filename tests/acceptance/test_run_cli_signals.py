"""SIGINT during ``commerce-sync run``: the batches in flight finish and commit, exit 130."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from runner.state import open_state
from tests.acceptance.engine_env import CLI, make_shop


@pytest.mark.slow
def test_first_sigint_finishes_the_batch_commits_and_exits_130(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=3000)  # 1000 batches of 3: far more than the test waits
    proc = subprocess.Popen([*CLI, "run", "products"], env=shop.env(), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "step.started" in line:
            break
    deadline = time.monotonic() + 30
    while not shop.products() and time.monotonic() < deadline:  # a batch has gone out
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "SIGINT: stopping after the batches in flight" in err
    assert "[incremental] interrupted" in out
    written = len(shop.products())
    assert 0 < written < 3000 and written % 3 == 0  # whole batches only
    store = open_state(str(shop.state))
    try:
        keys = [(f"I{i:03d}",) for i in range(3000)]
        assert len(store.get_hashes("products", "products", keys)) == written
        assert store.runs("products")[0].status == "interrupted"
    finally:
        store.close()
