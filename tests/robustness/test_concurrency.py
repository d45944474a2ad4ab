"""Issue #8, concurrency: two ``run`` invocations of the same job at once never both write. The
second exits 1 with a clear message, or with ``--wait`` queues behind the first and then finds
nothing left to write; on SQLite state and on PostgreSQL state."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from runner.demo.sandbox import FaultConfig
from tests.robustness.harness import world


def _two_runs(tmp: Path, state: str) -> None:
    with world(tmp, products=40, seed=9, state=state) as w:
        # Slow the store down so that the first run is still writing when the others start.
        w.faults(FaultConfig(latency_ms=3000))
        first = w.popen("run", "inventory")
        assert first.stderr is not None
        started = threading.Event()
        lines: list[str] = []

        def watch() -> None:
            assert first.stderr is not None
            for line in first.stderr:
                lines.append(line)
                if "step.started" in line:
                    started.set()

        reader = threading.Thread(target=watch, daemon=True)
        reader.start()
        assert started.wait(120), "".join(lines)

        refused = w.run("run", "inventory")
        assert first.poll() is None, "the first run ended too soon for this test to mean much"
        assert refused.returncode == 1, refused.stdout + refused.stderr
        message = refused.stderr.strip().splitlines()[-1]
        assert message.startswith("error: ") and "inventory" in message, message
        assert "--wait" in message, message
        assert refused.stdout == ""

        queued = w.run("run", "inventory", "--wait", "120")
        assert first.wait(120) == 0, "".join(lines)
        reader.join(10)
        assert queued.returncode == 0, queued.stdout + queued.stderr
        # The first run wrote everything; the one that waited found it done.
        assert "written 0" in queued.stdout and "products" in queued.stdout, queued.stdout
        w.faults(None)
        w.verify_inventory(complete=False)
        history = w.run("history", "inventory", "--format", "json", "--limit", "50")
        assert history.returncode == 0, history.stderr
        assert '"running"' not in history.stdout


def test_second_run_refused_or_queued_on_sqlite_state(tmp_path: Path) -> None:
    _two_runs(tmp_path, str(tmp_path / "state.db"))


@pytest.mark.postgres
def test_second_run_refused_or_queued_on_postgresql_state(
    tmp_path: Path, pg_database: str
) -> None:
    _two_runs(tmp_path, pg_database)
