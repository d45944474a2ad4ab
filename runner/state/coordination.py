"""Scheduling state shared by runners: last slots per job, claims with leases, triggers.

A claim is the right to run ``job`` at one cron ``slot``. ``INSERT ... ON CONFLICT DO NOTHING``
gives it to exactly one runner. A claim still ``running`` after its lease expired belongs to a
runner that died: one other runner takes it over with a conditional ``UPDATE`` (on PostgreSQL
after ``SELECT ... FOR UPDATE SKIP LOCKED``, so contenders do not queue on the row; concurrent
conditional updates re-check the lease after the first commits, so only one wins either way).
A finished claim is never claimed again. Leases are measured on PostgreSQL's clock there,
so runners on machines whose clocks disagree still agree on when a lease ran out.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from runner.state.base import RunStatus, ScheduleEntry
from runner.state.codec import utcnow
from runner.state.schema import claims, schedule, triggers

__all__ = ["CoordinationMixin"]


class CoordinationMixin:
    """Mixed into :class:`runner.state.store.SqlStateStore`, which provides the plumbing."""

    _dialect: str

    def _insert(self, table: sa.Table) -> Any:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _record_outcome(self, conn: sa.Connection, job: str, status: RunStatus, now: Any) -> None:
        raise NotImplementedError

    # schedule ------------------------------------------------------------------------------
    def schedule_entries(self) -> dict[str, ScheduleEntry]:
        with self._read() as conn:
            return {
                row.job: ScheduleEntry(
                    job=row.job,
                    last_scheduled_at=row.last_scheduled_at,
                    last_finished_at=row.last_finished_at,
                    last_status=row.last_status,
                    last_success_at=row.last_success_at,
                )
                for row in conn.execute(sa.select(schedule).order_by(schedule.c.job))
            }

    def record_scheduled(self, job: str, slot: dt.datetime) -> None:
        stmt = self._insert(schedule).values(job=job, last_scheduled_at=slot)
        with self._write() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[schedule.c.job], set_={"last_scheduled_at": slot}
                )
            )

    # claims --------------------------------------------------------------------------------
    def _lease_clock(self, lease_s: float) -> tuple[Any, Any]:
        """``(now, now + lease_s)``: on PostgreSQL the server's clock, shared by every runner
        whatever their own clocks say; on SQLite (one host) this process's clock."""
        if self._dialect == "postgresql":
            now = sa.func.now()
            return now, now + sa.literal_column("interval '1 second'") * sa.literal(
                float(lease_s), sa.Float
            )
        local = utcnow()
        return local, local + dt.timedelta(seconds=lease_s)

    def try_claim(self, job: str, slot: dt.datetime, owner: str, lease_s: float) -> bool:
        now, expires = self._lease_clock(lease_s)
        with self._write() as conn:
            inserted = conn.execute(
                self._insert(claims)
                .values(
                    job=job,
                    slot=slot,
                    owner=owner,
                    lease_expires_at=expires,
                    status="running",
                    claimed_at=now,
                )
                .on_conflict_do_nothing(index_elements=[claims.c.job, claims.c.slot])
                .returning(claims.c.job)  # rowcount of INSERT is -1 through psycopg
            ).first()
            if inserted is not None:
                return True
            expired = (
                claims.c.job == job,
                claims.c.slot == slot,
                claims.c.status == "running",
                claims.c.lease_expires_at < now,
            )
            if self._dialect == "postgresql":
                row = conn.execute(
                    sa.select(claims.c.owner).where(*expired).with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return False
            taken = conn.execute(
                sa.update(claims)
                .where(*expired)
                .values(owner=owner, lease_expires_at=expires, claimed_at=now)
                .returning(claims.c.job)
            ).first()
            return taken is not None

    def renew_lease(self, job: str, slot: dt.datetime, owner: str, lease_s: float) -> bool:
        _now, expires = self._lease_clock(lease_s)
        with self._write() as conn:
            renewed = conn.execute(
                sa.update(claims)
                .where(
                    claims.c.job == job,
                    claims.c.slot == slot,
                    claims.c.owner == owner,
                    claims.c.status == "running",
                )
                .values(lease_expires_at=expires)
            ).rowcount
        return bool(renewed == 1)

    def expired_claims(self) -> list[tuple[str, dt.datetime]]:
        """``(job, slot)`` of claims still ``running`` whose lease expired, oldest first: their
        runner died. A claim with a newer claim of the same job is left out (the newer run
        supersedes it)."""
        now, _ = self._lease_clock(0.0)
        newer = claims.alias("newer")
        stmt = (
            sa.select(claims.c.job, claims.c.slot)
            .where(
                claims.c.status == "running",
                claims.c.lease_expires_at < now,
                ~sa.exists().where(newer.c.job == claims.c.job, newer.c.slot > claims.c.slot),
            )
            .order_by(claims.c.slot)
        )
        with self._read() as conn:
            return [(row.job, row.slot) for row in conn.execute(stmt)]

    def held_claims(self) -> list[tuple[str, dt.datetime, str, dt.datetime]]:
        """``(job, slot, owner, lease_expires_at)`` of every claim still ``running``, by job:
        which runner holds which job's lease (read by the operations console)."""
        stmt = (
            sa.select(claims.c.job, claims.c.slot, claims.c.owner, claims.c.lease_expires_at)
            .where(claims.c.status == "running")
            .order_by(claims.c.job, claims.c.slot)
        )
        with self._read() as conn:
            return [(r.job, r.slot, r.owner, r.lease_expires_at) for r in conn.execute(stmt)]

    def release_claim(self, job: str, slot: dt.datetime, owner: str, status: RunStatus) -> None:
        now = utcnow()
        with self._write() as conn:
            released = conn.execute(
                sa.update(claims)
                .where(claims.c.job == job, claims.c.slot == slot, claims.c.owner == owner)
                .values(status=status, finished_at=now)
            ).rowcount
            if released == 1:
                self._record_outcome(conn, job, status, now)

    # triggers ------------------------------------------------------------------------------
    def request_trigger(self, job: str, requested_by: str) -> None:
        with self._write() as conn:
            conn.execute(
                sa.insert(triggers).values(
                    job=job, requested_by=requested_by, requested_at=utcnow()
                )
            )

    def take_triggers(self) -> list[str]:
        # Polled every second by each `serve`: a plain read first, so an idle poll neither
        # takes SQLite's write lock nor writes to the WAL (nor PostgreSQL's).
        with self._read() as conn:
            if conn.execute(sa.select(triggers.c.id).limit(1)).first() is None:
                return []
        with self._write() as conn:
            if self._dialect == "postgresql":
                ids = sa.select(triggers.c.id).with_for_update(skip_locked=True).scalar_subquery()
                stmt = sa.delete(triggers).where(triggers.c.id.in_(ids))
            else:
                stmt = sa.delete(triggers)  # BEGIN IMMEDIATE: no other writer meanwhile
            rows = conn.execute(stmt.returning(triggers.c.id, triggers.c.job)).all()
        return [job for _id, job in sorted(rows)]
