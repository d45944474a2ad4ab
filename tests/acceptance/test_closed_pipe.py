"""Every command exits quietly when its reader goes away (``commerce-sync history | head -1``).

Issue 11, item 9: a closed pipe sometimes ended in a ``BrokenPipeError`` traceback. The reader
here is a real pipe closed after the first line; it is repeated because whether the write that
fails is one of ours or the interpreter's final flush depends on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner.state import open_state

CLI = [sys.executable, "-m", "runner"]


def test_history_into_a_pipe_closed_after_one_line_exits_quietly(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    store = open_state(str(state_path))
    try:
        for n in range(3000):
            store.finish_run(store.begin_run(f"job-{n % 7}", "", "incremental"), "succeeded")
    finally:
        store.close()
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
