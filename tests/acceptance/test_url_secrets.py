"""Credentials carried by a URL never reach the terminal, the logs or the state store.

Issue 11, item 1: ``ERP_DATABASE_URL='postgresql://erp@host/erp?password=S3cretQ'`` was echoed
in ``sql.source.opened``, in the run's error and in two ``runs.error`` rows. The real CLI runs
here as a subprocess against a PostgreSQL that refuses the (unknown) role, or that is absent:
either way the connection fails and every message about it names the URL.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "runner"]
PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
SECRETS = ("S3cretQuery", "UserInfoPw9", "TokenVal77", "SslPw1234")
ERP_URL = ("postgresql://erp_nobody:UserInfoPw9@127.0.0.1:5432/erp"
           "?password=S3cretQuery&sslmode=disable&Access_Token=TokenVal77")
STATE_URL = "postgresql://state_nobody@127.0.0.1:5432/db?sslpassword=SslPw1234&PWD=S3cretQuery"


def _cli(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("ERP_DATABASE_URL", "COMMERCE_SYNC_STATE")}
    environ.update(env)
    return subprocess.run([*CLI, *args], cwd=tmp, env=environ, capture_output=True, text=True,
                          timeout=120)


def _dump(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return "\n".join(conn.iterdump())


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_url_credential_in_output_logs_state_or_quarantine(
    tmp_path: Path, log_format: str
) -> None:
    shutil.copytree(PIPELINES, tmp_path / "pipelines")
    ran = _cli(tmp_path, "--log-format", log_format, "--log-level", "DEBUG", "run", "inventory",
               ERP_DATABASE_URL=ERP_URL)
    assert ran.returncode == 1, ran.stderr  # the ERP refuses: the run fails, as it should
    output = ran.stdout + ran.stderr
    assert "sql.source.opened" in output and "127.0.0.1:5432/erp" in output
    assert _leaks(output) == [], output

    history = _cli(tmp_path, "history", "--format", "json")
    quarantine = _cli(tmp_path, "quarantine", "list", "--format", "json")
    state = _dump(tmp_path / "var" / "state.db")
    assert "erp_nobody" in state  # the failure was recorded, with the URL masked
    assert _leaks(history.stdout + history.stderr + quarantine.stdout + state) == [], state

    status = _cli(tmp_path, "--log-format", log_format, "status", "pipelines",
                  COMMERCE_SYNC_STATE=STATE_URL)
    assert status.returncode != 0
    assert "cannot open the state store" in status.stderr and "state_nobody" in status.stderr
    assert _leaks(status.stdout + status.stderr) == [], status.stderr
