"""SQLite-specific behaviour of the state store: locations, pragmas, migrations, processes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runner.errors import LockedError, StateError, redact
from runner.state import SCHEMA_VERSION, BatchCommit, open_state
from runner.state.engine import resolve_url

ROOT = Path(__file__).resolve().parents[2]

# The hand-written layout of schema version 1, as commerce-sync 0.1 created it.
V1_DDL = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, job VARCHAR(200) NOT NULL,
  step VARCHAR(200) NOT NULL, mode VARCHAR(40) NOT NULL, status VARCHAR(20) NOT NULL,
  started_at DATETIME NOT NULL, finished_at DATETIME, read BIGINT DEFAULT 0 NOT NULL,
  written BIGINT DEFAULT 0 NOT NULL, unchanged BIGINT DEFAULT 0 NOT NULL,
  deleted BIGINT DEFAULT 0 NOT NULL, quarantined BIGINT DEFAULT 0 NOT NULL, error TEXT);
CREATE INDEX ix_runs_job_id ON runs (job, id);
CREATE TABLE cursors (job VARCHAR(200) NOT NULL, step VARCHAR(200) NOT NULL,
  value TEXT NOT NULL, updated_at DATETIME NOT NULL, PRIMARY KEY (job, step));
CREATE TABLE row_hashes (job VARCHAR(200) NOT NULL, step VARCHAR(200) NOT NULL,
  key TEXT NOT NULL, hash VARCHAR(128) NOT NULL, PRIMARY KEY (job, step, key));
CREATE TABLE keymap (job VARCHAR(200) NOT NULL, entity VARCHAR(200) NOT NULL,
  key TEXT NOT NULL, dest_id TEXT NOT NULL, PRIMARY KEY (job, entity, key));
CREATE TABLE quarantine (id INTEGER PRIMARY KEY AUTOINCREMENT, job VARCHAR(200) NOT NULL,
  step VARCHAR(200) NOT NULL, run_id INTEGER NOT NULL, key TEXT, record TEXT NOT NULL,
  reason TEXT NOT NULL, attempts INTEGER DEFAULT 1 NOT NULL, created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL);
CREATE UNIQUE INDEX ux_quarantine_job_step_key ON quarantine (job, step, key);
CREATE TABLE locks (job VARCHAR(200) NOT NULL PRIMARY KEY, owner VARCHAR(200) NOT NULL,
  pid INTEGER NOT NULL, hostname VARCHAR(255) NOT NULL, acquired_at DATETIME NOT NULL,
  heartbeat_at DATETIME NOT NULL);
INSERT INTO runs (job, step, mode, status, started_at, read)
  VALUES ('inventory', '', 'full', 'succeeded', '2024-01-01 03:00:00.000000', 42);
INSERT INTO cursors VALUES ('inventory', 'stock', '{"id": 7}', '2024-01-01 03:00:00.000000');
INSERT INTO row_hashes VALUES ('inventory', 'stock', '["SKU-1"]', 'abc');
INSERT INTO keymap VALUES ('inventory', 'stock', '["SKU-1"]', 'store-1');
"""

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from runner.state import open_state
    store = open_state(sys.argv[1])
    with store.job_lock("inventory", sys.argv[2]):
        print("locked", flush=True)
        time.sleep(float(sys.argv[3]))
    print("released", flush=True)
    """
)

CLAIM_SLOTS = textwrap.dedent(
    """
    import datetime as dt, sys
    from runner.state import open_state
    store = open_state(sys.argv[1])
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    won = [i for i in range(int(sys.argv[3]))
           if store.try_claim("inventory", base + dt.timedelta(minutes=i), sys.argv[2], 60)]
    print(" ".join(map(str, won)), flush=True)
    """
)


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        _out, err = proc.communicate(timeout=10)
        pytest.fail(f"child said {line!r}, stderr: {err}")


# locations -----------------------------------------------------------------------------------
def test_default_location_is_var_state_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMERCE_SYNC_STATE", raising=False)
    store = open_state()
    store.begin_run("inventory", "", "full")
    store.close()
    assert (tmp_path / "var" / "state.db").is_file()


def test_env_var_and_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "deep" / "er" / "s.db"
    monkeypatch.setenv("COMMERCE_SYNC_STATE", str(target))
    store = open_state()
    assert store.backend == "sqlite"
    store.close()
    assert target.is_file()
    other = tmp_path / "u.db"
    store = open_state(f"sqlite:///{other}")
    store.begin_run("inventory", "", "full")
    store.close()
    assert open_state(str(other)).runs()[0].job == "inventory"


def test_postgres_urls_use_psycopg_and_hide_the_password() -> None:
    url = resolve_url("postgresql://sync:pw-very-secret@db.example:5432/state")
    assert url.drivername == "postgresql+psycopg"
    assert (
        url.render_as_string(hide_password=True)
        == "postgresql+psycopg://sync:***@db.example:5432/state"
    )
    assert redact("auth failed for pw-very-secret") == "auth failed for ***"
    assert resolve_url("postgresql+psycopg2://u@h/d").drivername == "postgresql+psycopg"
    assert resolve_url("postgres://u@h/d").drivername == "postgresql+psycopg"


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(StateError, match="not supported"):
        open_state("mysql+pymysql://root@127.0.0.1/state")


def test_unreachable_postgres_is_a_state_error_without_password() -> None:
    with pytest.raises(StateError) as err:
        open_state("postgresql://u:hunter2-secret@127.0.0.1:1/state?connect_timeout=2")
    assert "hunter2-secret" not in str(err.value)
    assert "***" in str(err.value)


def test_unwritable_location_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StateError):
        open_state(str(blocker / "state.db"))


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = open_state(str(tmp_path / "s.db"))
    with store._engine.connect() as conn:  # white-box: the pragmas are the point
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_in_memory_store_works_for_unit_tests() -> None:
    store = open_state("sqlite://")
    run = store.begin_run("inventory", "stock", "full")
    store.commit_batch(BatchCommit(run, "inventory", "stock", "p", cursor=3, hashes={("a",): "h"}))
    assert store.get_cursor("inventory", "stock") == 3
    with (
        store.job_lock("inventory", "me"),
        pytest.raises(LockedError),
        store.job_lock("inventory", "you"),
    ):
        pass
    store.close()


# migrations ----------------------------------------------------------------------------------
def test_migrates_a_version_1_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(V1_DDL)
        # Enough hashes that their rebuild (version 7) frees most of the file.
        raw.executemany("INSERT INTO row_hashes VALUES ('inventory', 'bulk', ?, ?)",
                        [(f'["K{n:06d}"]', f"{n:032x}") for n in range(20_000)])
    store = open_state(str(path))
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version FROM schema_version").scalar() == SCHEMA_VERSION
        assert {"schedule", "claims", "triggers"} <= set(sa.inspect(conn).get_table_names())
    old = store.runs("inventory")[0]
    assert old.counts.read == 42
    assert old.started_at == dt.datetime(2024, 1, 1, 3, 0, tzinfo=dt.UTC)
    assert store.get_cursor("inventory", "stock") == {"id": 7}
    assert store.get_hashes("inventory", "stock", [("SKU-1",)]) == {("SKU-1",): "abc"}
    assert store.keymap_get("inventory", "stock", [("SKU-1",)]) == {("SKU-1",): "store-1"}
    # version 7: the per-record tables rebuilt clustered by their key, rows and all, and the
    # pages of the old ones given back
    with sqlite3.connect(path) as raw:
        layouts = dict(raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE name IN ('row_hashes', 'keymap')"))
        assert raw.execute("PRAGMA freelist_count").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM row_hashes").fetchone() == (20_001,)
    assert sorted(layouts) == ["keymap", "row_hashes"]
    assert all(sql.rstrip().endswith("WITHOUT ROWID") for sql in layouts.values()), layouts
    # version 4: a hash written before has no source hash, so a changes run maps its record
    assert store.get_source_hashes("inventory", "stock", [("SKU-1",)]) == {}
    run = store.begin_run("inventory", "stock", "changes")
    store.commit_batch(BatchCommit(run, "inventory", "stock", "p",
                                   source_hashes={("SKU-1",): "src"}))
    assert store.get_source_hashes("inventory", "stock", [("SKU-1",)]) == {("SKU-1",): "src"}
    assert store.get_hashes("inventory", "stock", [("SKU-1",)]) == {("SKU-1",): "abc"}
    slot = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert store.try_claim("inventory", slot, "a", 30)
    store.close()
    open_state(str(path)).close()  # already current: a no-op


def test_a_file_another_process_is_writing_is_left_to_compact_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import runner.state.engine
    from runner.state.schema import compact_after

    monkeypatch.setattr(runner.state.engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "state.db"
    open_state(str(path)).close()
    with sqlite3.connect(path) as raw:  # pages to give back, as a rebuild leaves them
        raw.execute("CREATE TABLE scratch (x)")
        raw.executemany("INSERT INTO scratch VALUES (?)", [("x" * 500,)] * 2000)
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE scratch")
    engine = runner.state.engine.make_engine(resolve_url(str(path)))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process's write transaction
        compact_after(engine, 6, "state.db")  # waits its busy timeout, then gives up
    finally:
        writer.close()
        engine.dispose()
    assert "state.compact_skipped" in [r.getMessage() for r in caplog.records]
    caplog.clear()
    engine = runner.state.engine.make_engine(resolve_url(str(path)))
    try:
        compact_after(engine, SCHEMA_VERSION, "state.db")  # current already: nothing to do
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA freelist_count").fetchone()[0] > 0
        compact_after(engine, 6, "state.db")  # the file is free now
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA freelist_count").fetchone() == (0,)
            pages = raw.execute("PRAGMA page_count").fetchone()[0]
        compact_after(engine, 6, "state.db")  # another process's turn: nothing left to give back
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA page_count").fetchone()[0] == pages
    finally:
        engine.dispose()
    assert caplog.records == []


def test_refuses_a_database_from_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    open_state(str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match="upgrade commerce-sync"):
        open_state(str(path))


class _Switching:
    """A cursor whose switch to WAL finds the file locked ``locked`` times, then succeeds."""

    def __init__(self, locked: int, error: str = "database is locked") -> None:
        self.locked, self.error, self.calls = locked, error, 0

    def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode=WAL"
        self.calls += 1
        if self.calls <= self.locked:
            raise sqlite3.OperationalError(self.error)


def test_the_switch_to_wal_waits_out_another_connections_switch() -> None:
    # SQLite answers "locked" at once, without its busy handler, while another connection
    # switches a new file to WAL: seen in CI as a failed first open of a shared state store.
    from runner.state.engine import _wal

    cursor = _Switching(locked=3)
    _wal(cursor)
    assert cursor.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _wal(_Switching(locked=1, error="disk I/O error"))  # not a lock: not waited out


@pytest.mark.slow
def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    procs = [
        spawn("import sys; from runner.state import open_state; open_state(sys.argv[1])", str(path))
        for _ in range(3)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


# processes -----------------------------------------------------------------------------------
def test_job_lock_excludes_another_process(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    store = open_state(path)
    holder = spawn(HOLD_LOCK, path, "scheduler", "30")
    try:
        wait_for_line(holder, "locked")
        with pytest.raises(LockedError) as err, store.job_lock("inventory", "cli", wait_s=0.5):
            pass
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(err.value)
        assert "scheduler" in str(err.value)
    finally:
        holder.kill()
        holder.wait(10)
    store.close()


def test_process_waits_for_lock_then_gets_it(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    store = open_state(path)
    holder = spawn(HOLD_LOCK, path, "first", "0.5")
    wait_for_line(holder, "locked")
    started = time.monotonic()
    with store.job_lock("inventory", "second", wait_s=20):
        waited = time.monotonic() - started
    assert 0.0 < waited < 20
    assert holder.wait(10) == 0
    store.close()


def test_stale_lock_of_killed_process_is_taken_over(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    store = open_state(path)
    holder = spawn(HOLD_LOCK, path, "doomed", "60")
    wait_for_line(holder, "locked")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    with store.job_lock("inventory", "survivor"):
        with store._engine.connect() as conn:
            owner = conn.exec_driver_sql("SELECT owner, pid FROM locks").one()
        assert tuple(owner) == ("survivor", os.getpid())
    store.close()


def test_lock_from_other_host_is_stale_only_after_heartbeat_ttl(tmp_path: Path) -> None:
    from runner.state.locks import STALE_AFTER_S

    path = tmp_path / "s.db"
    store = open_state(str(path))
    fresh = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = fresh - dt.timedelta(seconds=STALE_AFTER_S + 5)
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO locks VALUES ('inventory', 'remote', 1, 'elsewhere', ?, ?)",
            (fresh.isoformat(" "), fresh.isoformat(" ")),
        )
    with (
        pytest.raises(LockedError, match="pid 1 on host elsewhere"),
        store.job_lock("inventory", "local"),
    ):
        pass
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE locks SET heartbeat_at = ?", (old.isoformat(" "),))
    with store.job_lock("inventory", "local"):
        pass
    store.close()


def test_heartbeat_keeps_a_long_run_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.state import locks

    monkeypatch.setattr(locks, "HEARTBEAT_S", 0.05)
    store = open_state(str(tmp_path / "s.db"))
    query = sa.text("SELECT acquired_at, heartbeat_at FROM locks")
    with store.job_lock("inventory", "me"):
        time.sleep(0.3)
        with store._engine.connect() as conn:
            acquired, beat = conn.execute(query).one()
    assert beat > acquired
    store.close()


def test_processes_racing_for_slots_each_claimed_once(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    open_state(path).close()
    procs = [spawn(CLAIM_SLOTS, path, f"runner-{i}", "30") for i in range(3)]
    won: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        won += [int(x) for x in out.split()]
    assert sorted(won) == list(range(30))


def test_a_writer_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_state(str(path))
    run = store.begin_run("inventory", "stock", "full")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO triggers (job, requested_by, requested_at) VALUES ('x', 'y', 'z')")
    timer = threading.Timer(0.8, lambda: other.execute("COMMIT"))
    timer.start()
    started = time.monotonic()
    store.commit_batch(BatchCommit(run, "inventory", "stock", "p", hashes={("a",): "h"}))
    waited = time.monotonic() - started
    timer.join()
    other.close()
    assert waited >= 0.5
    assert store.get_hashes("inventory", "stock", [("a",)]) == {("a",): "h"}
    store.close()


def test_a_corrupt_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StateError, match="cannot open the state store"):
        open_state(str(path))


def test_driver_failures_become_state_errors(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_state(str(path))
    with sqlite3.connect(path) as raw:
        raw.execute("DROP TABLE runs")
    with pytest.raises(StateError, match=r"no such table: runs; check that it") as err:
        store.runs()
    assert isinstance(err.value.__cause__, sa.exc.OperationalError)
    with pytest.raises(StateError, match="no such table"):
        store.begin_run("inventory", "", "full")
    store.close()


def test_release_after_takeover_leaves_the_new_holder_alone(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_state(str(path))
    with store.job_lock("inventory", "slow-run"), sqlite3.connect(path) as raw:
        # Another host decided this run was stale and took the lock over.
        raw.execute("UPDATE locks SET owner = 'thief', hostname = 'elsewhere'")
    with (
        pytest.raises(LockedError, match="thief, pid"),
        store.job_lock("inventory", "next-run"),
    ):
        pass
    store.close()


def _hashes(n: int, every: int = 1) -> dict[tuple[str, ...], str]:
    return {(f"K{i:05d}",): f"h{i}" for i in range(0, n, every)}


def test_look_ups_in_key_order_scan_ranges_and_find_exactly_the_keys_asked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.state.store as store_mod

    monkeypatch.setattr(store_mod, "LOOKUP_CHUNK", 100)
    store = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    run = store.begin_run("j", "s", "changes")
    stored = _hashes(1000, every=2)  # even keys stored, odd ones not
    store.commit_batch(BatchCommit(run_id=run, job="j", step="s", entity="e", hashes=stored))
    store.commit_batch(BatchCommit(run_id=run, job="j", step="t", entity="e",
                                   hashes={("K00001",): "other step"}))
    statements: list[str] = []
    engine = store._engine  # type: ignore[attr-defined]
    engine.dispose()  # new connections, traced: the look-ups bypass SQLAlchemy's events
    sa.event.listen(engine, "connect",
                    lambda dbapi, _: dbapi.set_trace_callback(statements.append))

    def scans() -> list[str]:
        found = ["range" if " BETWEEN " in q else "probe" for q in statements
                 if q.startswith('SELECT "key"')]
        statements.clear()
        return found

    # Every third key from 0 to 899, in order: ranges hold stored keys that were not asked for.
    asked = [(f"K{i:05d}",) for i in range(0, 900, 3)] + [("K99999",), ("é",)]
    got = store.get_hashes("j", "s", asked)
    assert got == {k: stored[k] for k in asked if k in stored}
    assert scans() == ["range"] * 3 + ["probe"]  # the last chunk: two keys, probed
    # A chunk whose range holds far more stored keys than it asks for: probed, same answer;
    # from then on this step's look-ups probe.
    spread = [("K00000",), ("K00998",)] + [(f"K{i:05d}",) for i in range(1001, 1100)]
    assert store.get_hashes("j", "s", spread) == {("K00000",): "h0", ("K00998",): "h998"}
    assert scans() == ["range", "probe", "probe"]  # 100 keys overflow their range; then 1
    assert store.get_hashes("j", "s", asked) == got
    assert set(scans()) == {"probe"}
    # The same step's source hashes keep their own pattern: a changes run asks for them in
    # the source's order while its row hashes are asked for only a few spread keys.
    assert store.get_source_hashes("j", "s", asked) == {}  # none stored in this step
    assert scans() == ["range"] * 3 + ["probe"]
    assert store.get_hashes("j", "t", [("K00001",), ("K00002",)]) == {("K00001",): "other step"}
    store.close()
