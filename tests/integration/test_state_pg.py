"""The state store on a real PostgreSQL: the shared contract, plus what only many runners show."""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from runner.errors import LockedError, StateError
from runner.state import SCHEMA_VERSION, SqlStateStore, open_state
from runner.state.locks import PG_NAMESPACE
from runner.state.schema import metadata
from tests.unit.test_state_cases import StateContract
from tests.unit.test_state_sqlite import CLAIM_SLOTS, HOLD_LOCK, spawn, wait_for_line

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStateStore]:
    store = open_state(pg_url)
    tables = ", ".join(t.name for t in metadata.sorted_tables if t.name != "schema_version")
    with store._engine.begin() as conn:  # every test starts from empty tables
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")
    yield store
    store.close()


class TestPostgresContract(StateContract):
    @pytest.fixture
    def store(self, pg_store: SqlStateStore) -> SqlStateStore:
        return pg_store


def test_plain_postgresql_url_uses_psycopg(pg_url: str, pg_store: SqlStateStore) -> None:
    plain = sa.make_url(pg_url).set(drivername="postgresql").render_as_string(False)
    store = open_state(plain)
    assert store.backend == "postgresql"
    assert store._engine.dialect.driver == "psycopg"
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version FROM schema_version").scalar() == SCHEMA_VERSION
    store.close()


def test_newer_schema_is_refused(pg_store: SqlStateStore, pg_url: str) -> None:
    with pg_store._engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
    try:
        with pytest.raises(StateError, match="upgrade commerce-sync"):
            open_state(pg_url)
    finally:
        with pg_store._engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE schema_version SET version = {SCHEMA_VERSION}")


def race_for_slots(pg_store: SqlStateStore, pg_url: str, slots: int) -> None:
    procs = [spawn(CLAIM_SLOTS, pg_url, f"runner-{i}", str(slots)) for i in range(3)]
    won: list[list[int]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        won.append([int(x) for x in out.split()])
    assert sorted(slot for w in won for slot in w) == list(range(slots))
    with pg_store._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM claims").scalar() == slots
        owners = conn.exec_driver_sql("SELECT count(DISTINCT owner) FROM claims").scalar()
    assert owners == sum(1 for w in won if w)


def test_three_processes_racing_for_30_slots(pg_store: SqlStateStore, pg_url: str) -> None:
    race_for_slots(pg_store, pg_url, 30)


@pytest.mark.slow
def test_three_processes_racing_for_200_slots(pg_store: SqlStateStore, pg_url: str) -> None:
    race_for_slots(pg_store, pg_url, 200)


def test_advisory_lock_excludes_other_process_and_dies_with_it(
    pg_store: SqlStateStore, pg_url: str
) -> None:
    holder = spawn(HOLD_LOCK, pg_url, "scheduler", "60")
    try:
        wait_for_line(holder, "locked")
        with (
            pytest.raises(LockedError) as err,
            pg_store.job_lock("inventory", "cli", wait_s=0.3),
        ):
            pass
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(err.value)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        # The server ends the dead session (and its lock) once it notices the closed socket.
        with pg_store.job_lock("inventory", "cli", wait_s=20):
            with pg_store._engine.connect() as conn:
                owner = conn.exec_driver_sql("SELECT owner FROM locks").scalar()
            assert owner == "cli"
    finally:
        holder.kill()
        holder.wait(10)
    with pg_store._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM locks").scalar() == 0
        held = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %(ns)s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            {"ns": PG_NAMESPACE},
        ).scalar()
    assert held == 0


@pytest.mark.slow
def test_processes_migrate_a_version_1_database_once(pg_store: SqlStateStore, pg_url: str) -> None:
    with pg_store._engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO cursors VALUES ('inventory', 'stock', '7', now())")
        conn.exec_driver_sql(
            "DROP TABLE schedule, claims, triggers, intents, duplicates, audits, relations, "
            "echoes")
        conn.exec_driver_sql("ALTER TABLE row_hashes DROP COLUMN source_hash")  # version 4
        conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN echoed")  # version 6
        conn.exec_driver_sql("UPDATE schema_version SET version = 1")
    script = "import sys; from runner.state import open_state; open_state(sys.argv[1]).close()"
    procs = [spawn(script, pg_url) for _ in range(3)]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with pg_store._engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM schema_version").scalars().all()
        assert {"schedule", "claims", "triggers"} <= set(sa.inspect(conn).get_table_names())
    assert versions == [SCHEMA_VERSION]
    assert pg_store.get_cursor("inventory", "stock") == 7
    assert pg_store.take_triggers() == []


def test_password_never_reaches_logs_or_messages(
    pg_store: SqlStateStore, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The test server trusts local connections, so any password is accepted and must be hidden.
    url = sa.make_url(pg_url).set(password="pg-pass-4242").render_as_string(False)
    with caplog.at_level(logging.DEBUG):
        store = open_state(url)
        run = store.begin_run("inventory", "", "full")
        store.finish_run(run, "failed", error="login with pg-pass-4242 refused")
        with store._engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE triggers")
        with pytest.raises(StateError) as err:
            store.take_triggers()
        with store._engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TABLE schedule, claims, intents, duplicates, audits, relations, echoes")
            conn.exec_driver_sql("ALTER TABLE row_hashes DROP COLUMN source_hash")
            conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN echoed")
            conn.exec_driver_sql("UPDATE schema_version SET version = 1")
        store.close()
        open_state(url).close()  # migrates again and logs it
    assert "pg-pass-4242" not in store.location
    assert "pg-pass-4242" not in str(err.value)
    assert store.location in str(err.value)
    assert store.runs("inventory")[0].error == "login with *** refused"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "state.migrated" in logged
    assert "pg-pass-4242" not in logged
