"""Every command exits quietly when its reader goes away (``commerce-sync history | head -1``).

Issue 11, item 9: a closed pipe sometimes ended in a ``BrokenPipeError`` traceback. The reader
here is a real pipe closed after the first line; it is repeated because whether the write that
fails is one of ours or the interpreter's final flush depends on timing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from runner.state import open_state

CLI = [sys.executable, "-m", "runner"]


def test_history_into_a_pipe_closed_after_one_line_exits_quietly(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    open_state(str(state_path)).close()  # the state file, its schema made by the store
    # ~370 KB of history, far past a pipe's buffer: one transaction of rows, not 6,000 of the
    # store's (3 s of this test).
    with closing(sqlite3.connect(state_path)) as conn, conn:
        conn.executemany(
            "INSERT INTO runs (job, step, mode, status, started_at, finished_at)"
            " VALUES (?, '', 'incremental', 'succeeded', ?, ?)",
            [(f"job-{n % 7}", f"2026-11-30 10:{n // 60 % 60:02d}:{n % 60:02d}",
              f"2026-11-30 10:{n // 60 % 60:02d}:{n % 60:02d}") for n in range(3000)],
        )
    env = {**os.environ, "COMMERCE_SYNC_STATE": str(state_path)}
    for _ in range(4):
        proc = subprocess.Popen([*CLI, "history", "--limit", "3000"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what `head -1` does once it has its line
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
        assert first.startswith(b"  RUN"), first
        assert "Traceback" not in err and "BrokenPipe" not in err, err
        assert err == ""
        assert code == 141, (code, err)
