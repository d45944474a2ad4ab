"""``commerce-sync demo-data`` and ``commerce-sync sandbox`` run as a user runs them."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import httpx

from tests.support.loopback import free_port, wait_for_health


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("commerce-sync")), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def test_demo_data_creates_and_refuses_to_overwrite(tmp_path: Path) -> None:
    db = tmp_path / "erp.db"
    made = _run("demo-data", "--products", "300", "--seed", "5", "--db", str(db))
    assert made.returncode == 0, made.stderr
    assert "300 products" in made.stdout
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (300,)
    again = _run("demo-data", "--products", "10", "--db", str(db))
    assert again.returncode == 2
    assert "--force" in again.stderr
    forced = _run("demo-data", "--products", "10", "--db", str(db), "--force")
    assert forced.returncode == 0, forced.stderr
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (10,)


def test_sandbox_serves_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "COMMERCE_API_KEY": "cli-key-42",
           "COMMERCE_SANDBOX_FAULTS": '{"burst_429": {"every": 3, "length": 1}}'}  # fmt: skip
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("commerce-sync")), "sandbox", "--port", str(port),
         "--data", str(tmp_path / "s.db")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, process)
        assert httpx.get(f"{url}/v1/stores").status_code == 401
        headers = {"X-API-Key": "cli-key-42"}
        statuses = [httpx.get(f"{url}/v1/stores", headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert (tmp_path / "s.db").exists()
    assert "cli-key-42" not in stderr
