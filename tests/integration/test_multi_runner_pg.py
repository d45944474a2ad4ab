"""Three ``serve`` processes sharing one PostgreSQL state: every run happens exactly once, and
a runner killed with SIGKILL mid-run loses its slot to another once the lease expires."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from runner.state import open_state

CLI = [sys.executable, "-m", "runner"]
pytestmark = pytest.mark.postgres

JOB = """\
version: 1
name: {name}
{schedule}
steps:
  - name: items
    source: {{connector: jsonl, path: {src}}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
    batch_size: {batch}
"""


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _source(path: Path, rows: int) -> Path:
    with path.open("w") as fh:
        for i in range(rows):
            fh.write(json.dumps({"sku": f"S{i:06d}", "qty": i}) + "\n")
    return path


def _fresh_schema(pg_url: str, name: str) -> str:
    """A database per test: the session's pg_url database, plus a schema-free fresh db."""
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def runners(tmp_path: Path) -> Iterator[Callable[..., list[subprocess.Popen[str]]]]:
    procs: list[subprocess.Popen[str]] = []

    def start(
        pipes: Path, state: str, n: int = 3, lease: float = 3.0
    ) -> list[subprocess.Popen[str]]:
        for i in range(n):
            log = (tmp_path / f"r{i}.log").open("w")
            procs.append(subprocess.Popen(
                [*CLI, "serve", str(pipes), "--state", state, "--owner", f"r{i}",
                 "--lease", str(lease), "--max-workers", "8"],
                cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log, text=True,
            ))
        return procs

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _job_runs(state: str) -> list:  # type: ignore[type-arg]
    store = open_state(state)
    try:
        return [r for r in store.runs(limit=1000) if r.step == ""]
    finally:
        store.close()


@pytest.mark.slow
def test_triggered_runs_across_three_runners_happen_exactly_once(
    pg_url: str, tmp_path: Path, runners: Callable[..., list[subprocess.Popen[str]]]
) -> None:
    state = _fresh_schema(pg_url, "cs_multi_trig")
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    src = _source(tmp_path / "src.jsonl", 50)
    names = [f"job{i:02d}" for i in range(24)]
    for name in names:
        (pipes / f"{name}.yaml").write_text(JOB.format(
            name=name, schedule="", src=src, dst=tmp_path / f"{name}.out.jsonl", batch=10))
    open_state(state).close()  # migrate once, before three processes race to
    procs = runners(pipes, state)
    time.sleep(1.0)
    store = open_state(state)
    try:
        for name in names:
            store.request_trigger(name, "test")
    finally:
        store.close()
    _wait(lambda: len([r for r in _job_runs(state) if r.status != "running"]) >= len(names), 120)
    time.sleep(2.0)  # a duplicate, if any, would show up now
    runs = _job_runs(state)
    assert sorted(r.job for r in runs) == names  # each exactly once: none missed, none twice
    assert all(r.status == "succeeded" for r in runs)
    assert all(p.poll() is None for p in procs)


ROWS = 20_000  # at batches of 100 a run lasts 10-40 s on a loaded 2-core box: killed mid-run


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cron", "trigger"])
def test_a_killed_runners_run_is_taken_over_after_its_lease(
    pg_url: str, tmp_path: Path, runners: Callable[..., list[subprocess.Popen[str]]], kind: str
) -> None:
    state = _fresh_schema(pg_url, f"cs_multi_kill_{kind}")
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    src = _source(tmp_path / "src.jsonl", ROWS)
    out = tmp_path / "minute.out.jsonl"
    schedule = 'schedule: {cron: "* * * * *", missed: skip}' if kind == "cron" else ""
    (pipes / "minute.yaml").write_text(JOB.format(
        name="minute", schedule=schedule, src=src, dst=out, batch=100))
    open_state(state).close()
    if kind == "cron":
        # Start well before a minute boundary so all three are up when the slot comes due.
        now = dt.datetime.now(dt.UTC)
        if now.second > 40:
            time.sleep(62 - now.second)
    procs = runners(pipes, state, lease=3.0)
    if kind == "trigger":
        time.sleep(1.0)
        store = open_state(state)
        try:
            store.request_trigger("minute", "test")
        finally:
            store.close()
    engine = sa.create_engine(state)

    def claim() -> tuple[str, dt.datetime, str] | None:
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT owner, slot, status FROM claims WHERE job='minute' ORDER BY slot LIMIT 1"
            )).first()
        return (row[0], row[1], row[2]) if row else None

    _wait(lambda: claim() is not None, 90)
    first = claim()
    assert first is not None
    owner, slot, _ = first
    assert (slot.microsecond != 0) == (kind == "trigger")
    victim = procs[int(owner[1:])]
    _wait(lambda: out.exists() and out.stat().st_size > 0, 30)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    written_by_victim = sum(1 for _ in out.open())
    assert written_by_victim < ROWS  # killed mid-run

    def taken_over() -> bool:
        found = claim()
        return found is not None and found[0] != owner and found[2] == "succeeded"

    _wait(taken_over, 150)
    took_s = time.monotonic() - killed_at
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT count(*) FROM claims WHERE job='minute' AND slot=:s"), {"s": slot}).scalar()
        # The victim's session, and with it its advisory job lock, is gone.
        stale = conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND a.datname = current_database()")).scalar()
    engine.dispose()
    assert rows == 1
    assert stale == 0
    heir = claim()
    assert heir is not None
    log = (tmp_path / f"r{int(heir[0][1:])}.log").read_text()
    assert "reason=takeover" in log and "state.lock_acquired job=minute" in log
    assert "run.locked" not in log  # the dead runner's job lock did not block the takeover
    keys = {json.loads(line)["sku"] for line in out.open()}
    assert len(keys) == ROWS  # the takeover completed the job: every record is there
    print(f"{kind}: victim wrote {written_by_victim} rows; taken over and done {took_s:.1f} s "
          "after the kill")
