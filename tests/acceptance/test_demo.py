"""``commerce-sync demo`` as a user runs it: one command, a shopper's order, SIGTERM.

In a fresh folder holding a copy of ``pipelines/``: start ``demo`` (reference ERP, sandbox
store, scheduler), wait until the first runs published the catalogue, place an order with
``demo-order``, ask for ``trigger online-orders``, and watch the sales order appear in the ERP
file. SIGTERM then stops the demo cleanly (exit 0).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.support.loopback import free_port

CLI = [sys.executable, "-m", "runner"]
PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
KEY = "demo-acceptance-key"


def _wait(what: str, predicate: Callable[[], bool], proc: subprocess.Popen[str],
          timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"demo exited {proc.returncode} while waiting for {what}:\n"
                                 f"{out[-2000:]}\n{err[-4000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _published(url: str) -> bool:
    try:
        page = httpx.get(f"{url}/v1/products", params={"limit": 5},
                         headers={"X-API-Key": KEY}, timeout=5)
        modes = httpx.get(f"{url}/v1/delivery-modes", headers={"X-API-Key": KEY}, timeout=5)
    except httpx.HTTPError:
        return False
    return page.status_code == 200 and bool(page.json()["data"]) and bool(modes.json()["data"])


def _sales_orders(erp: Path) -> list[tuple[str, int]]:
    with closing(sqlite3.connect(erp, timeout=10)) as conn:
        return conn.execute(
            "SELECT o.store_order_number, COUNT(l.line_number) FROM sales_orders o"
            " JOIN sales_order_lines l ON l.sales_order_id = o.sales_order_id"
            " GROUP BY o.sales_order_id"
        ).fetchall()


# Four CLI processes and the scheduler's first round of every job: well over the default
# suite's budget on a loaded 2-core machine, so it runs in CI's slow step.
@pytest.mark.slow
def test_demo_takes_a_shoppers_order_into_the_erp_and_stops_cleanly(tmp_path: Path) -> None:
    shutil.copytree(PIPELINES, tmp_path / "pipelines")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("ERP_DATABASE_URL", "COMMERCE_URL", "COMMERCE_SYNC_STATE")}
    env["COMMERCE_API_KEY"] = KEY
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", str(port), "--products", "300"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait("the first runs to publish the catalogue", lambda: _published(url), proc)
        assert _sales_orders(tmp_path / "var" / "erp.db") == []

        client_env = {**env, "COMMERCE_URL": url}
        placed = subprocess.run([*CLI, "demo-order", "--quantity", "2"], cwd=tmp_path,
                                env=client_env, capture_output=True, text=True, timeout=60)
        assert placed.returncode == 0, placed.stderr
        number = placed.stdout.split("placed order ", 1)[1].split()[0]

        asked = subprocess.run([*CLI, "trigger", "online-orders"], cwd=tmp_path, env=client_env,
                               capture_output=True, text=True, timeout=60)
        assert asked.returncode == 0, asked.stderr
        assert "triggered online-orders" in asked.stdout

        _wait("the sales order in the ERP",
              lambda: _sales_orders(tmp_path / "var" / "erp.db") == [(number, 1)], proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, f"{out[-2000:]}\n{err[-4000:]}"
