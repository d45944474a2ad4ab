"""The per-job run lock: two runs of one job never write at the same time.

PostgreSQL: a session advisory lock ``pg_try_advisory_lock(NAMESPACE, hashtext(job))`` on a
connection held for the run; the server drops it when that connection ends, so a killed runner
frees the lock by itself. A row in ``locks`` names the holder for the error message only.

SQLite: the row in ``locks`` *is* the lock, inserted inside ``BEGIN IMMEDIATE``. A background
thread refreshes ``heartbeat_at`` every :data:`HEARTBEAT_S`; a row is stale, and taken over, when
its pid is dead on this host or its heartbeat is older than :data:`STALE_AFTER_S` (a holder on
another host, or a frozen one).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa

from runner.errors import LockedError, StateError
from runner.state.codec import utcnow
from runner.state.engine import failure
from runner.state.schema import locks

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "pg_job_lock", "pid_alive", "sqlite_job_lock"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0
POLL_S = 0.2
PG_NAMESPACE = 0x6A6F6273  # first half of the two-int advisory key, so ours never collide


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs on this host (a zombie, killed but not reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _holder_message(job: str, row: Any) -> str:
    if row is None:
        return f"job {job!r} is already running; wait for it or stop it"
    since = row.acquired_at.astimezone().strftime("%H:%M:%S")
    return (
        f"job {job!r} is already running ({row.owner}, pid {row.pid} on host {row.hostname} "
        f"since {since}); wait for it or stop it"
    )


def _is_stale(row: Any, now: dt.datetime, hostname: str) -> bool:
    if row.hostname == hostname and not pid_alive(row.pid):
        return True
    age = (now - row.heartbeat_at).total_seconds()
    return age > STALE_AFTER_S


def _write_conn(engine: sa.Engine) -> Any:
    return engine.connect().execution_options(cs_write=True)


def _sqlite_try_acquire(
    engine: sa.Engine, job: str, owner: str, serial: AbstractContextManager[Any]
) -> tuple[bool, Any]:
    hostname = socket.gethostname()
    now = utcnow()
    values = {
        "owner": owner,
        "pid": os.getpid(),
        "hostname": hostname,
        "acquired_at": now,
        "heartbeat_at": now,
    }
    with serial, _write_conn(engine) as conn, conn.begin():
        row = conn.execute(sa.select(locks).where(locks.c.job == job)).first()
        if row is None:
            conn.execute(sa.insert(locks).values(job=job, **values))
            return True, None
        if _is_stale(row, now, hostname):
            log.warning(
                "state.lock_taken_over",
                extra={"job": job, "previous_owner": row.owner, "previous_pid": row.pid},
            )
            conn.execute(sa.update(locks).where(locks.c.job == job).values(**values))
            return True, None
        return False, row


def _ours(job: str, owner: str) -> tuple[Any, ...]:
    """The lock row of ``job`` if this very process holds it (not one that took it over)."""
    return (
        locks.c.job == job,
        locks.c.owner == owner,
        locks.c.pid == os.getpid(),
        locks.c.hostname == socket.gethostname(),
    )


class _Heartbeat(threading.Thread):
    def __init__(self, engine: sa.Engine, job: str, owner: str) -> None:
        super().__init__(name=f"state-lock-heartbeat-{job}", daemon=True)
        self._engine = engine
        self._job = job
        self._owner = owner
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                with _write_conn(self._engine) as conn, conn.begin():
                    conn.execute(
                        sa.update(locks)
                        .where(*_ours(self._job, self._owner))
                        .values(heartbeat_at=utcnow())
                    )
            except sa.exc.SQLAlchemyError as exc:
                # A missed beat is harmless until STALE_AFTER_S; keep trying.
                log.warning(
                    "state.lock_heartbeat_failed", extra={"job": self._job, "error": str(exc)}
                )


@contextmanager
def sqlite_job_lock(
    engine: sa.Engine,
    job: str,
    owner: str,
    wait_s: float,
    heartbeat: bool = True,
    serial: AbstractContextManager[Any] | None = None,
) -> Iterator[None]:
    """``serial`` guards the one shared connection of an in-memory database."""
    serial = serial if serial is not None else nullcontext()
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        try:
            acquired, holder = _sqlite_try_acquire(engine, job, owner, serial)
        except sa.exc.SQLAlchemyError as exc:
            raise failure(engine, str(engine.url.database), exc,
                          f"could not take the lock of job {job!r}") from exc
        if acquired:
            break
        if time.monotonic() >= deadline:
            raise LockedError(_holder_message(job, holder))
        time.sleep(POLL_S)
    beat = _Heartbeat(engine, job, owner) if heartbeat else None
    if beat is not None:
        beat.start()
    log.info("state.lock_acquired", extra={"job": job, "owner": owner})
    try:
        yield
    finally:
        if beat is not None:
            beat.stop.set()
            beat.join()
        try:
            with serial, _write_conn(engine) as conn, conn.begin():
                conn.execute(sa.delete(locks).where(*_ours(job, owner)))
        except sa.exc.SQLAlchemyError as exc:
            # Not fatal: once this process exits the row is stale and the next run takes it.
            log.warning("state.lock_release_failed", extra={"job": job, "error": str(exc)})
        else:
            log.info("state.lock_released", extra={"job": job, "owner": owner})


@contextmanager
def pg_job_lock(engine: sa.Engine, job: str, owner: str, wait_s: float) -> Iterator[None]:
    deadline = time.monotonic() + max(wait_s, 0.0)
    try:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except sa.exc.SQLAlchemyError as exc:
        raise StateError(f"could not reach the state store to lock job {job!r}") from exc
    try_lock = sa.text("SELECT pg_try_advisory_lock(:ns, hashtext(:job))")
    try:
        while not conn.execute(try_lock, {"ns": PG_NAMESPACE, "job": job}).scalar():
            if time.monotonic() >= deadline:
                holder = conn.execute(sa.select(locks).where(locks.c.job == job)).first()
                raise LockedError(_holder_message(job, holder))
            time.sleep(POLL_S)
        now = utcnow()
        values = {
            "owner": owner,
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "acquired_at": now,
            "heartbeat_at": now,
        }
        from sqlalchemy.dialects.postgresql import insert as pg_insert  # first use only

        stmt = pg_insert(locks).values(job=job, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[locks.c.job], set_=values))
    except BaseException:
        conn.invalidate()  # a half-taken session lock must not go back to the pool
        conn.close()
        raise
    log.info("state.lock_acquired", extra={"job": job, "owner": owner})
    try:
        yield
    finally:
        try:
            conn.execute(sa.delete(locks).where(locks.c.job == job, locks.c.owner == owner))
            conn.execute(
                sa.text("SELECT pg_advisory_unlock(:ns, hashtext(:job))"),
                {"ns": PG_NAMESPACE, "job": job},
            )
        except sa.exc.SQLAlchemyError:
            conn.invalidate()  # closing the session releases the lock anyway
        conn.close()
        log.info("state.lock_released", extra={"job": job, "owner": owner})
