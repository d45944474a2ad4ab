"""The last audit of each step, kept in the state store (table ``audits``, migration 5).

Only the SQL store keeps audits (:class:`AuditsMixin` is mixed into it); an in-memory state (a
plan's overlay, unit-test doubles) has no ``audits`` table: :func:`record_audits` leaves it
alone and :func:`last_audits` finds none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runner.state.codec import decode_json, encode_json, utcnow
from runner.state.schema import audits

__all__ = ["AuditRecord", "AuditsMixin", "last_audits", "record_audits"]


@dataclass(frozen=True)
class AuditRecord:
    job: str
    step: str
    status: str
    drift: int
    counts: dict[str, int]
    repaired: dict[str, int]
    error: str | None
    finished_at: dt.datetime


class AuditsMixin:
    """Mixed into :class:`runner.state.store.SqlStateStore`, which provides the plumbing."""

    def _write(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def record_audits(self, found: Iterable[Any]) -> None:
        """Replace each audited step's last audit with ``found`` (StepAudit results)."""
        now = utcnow()
        with self._write() as conn:
            for a in found:
                conn.execute(sa.delete(audits).where(audits.c.job == a.job,
                                                     audits.c.step == a.step))
                conn.execute(sa.insert(audits).values(
                    job=a.job, step=a.step, status=a.status, drift=a.drift,
                    counts=encode_json(a.counts), repaired=encode_json(a.repaired),
                    error=a.error, finished_at=now))

    def last_audits(self, job: str | None = None) -> list[AuditRecord]:
        query = sa.select(audits).order_by(audits.c.job, audits.c.step)
        if job is not None:
            query = query.where(audits.c.job == job)
        with self._read() as conn:
            return [AuditRecord(r.job, r.step, r.status, r.drift, decode_json(r.counts),
                                decode_json(r.repaired), r.error, r.finished_at)
                    for r in conn.execute(query)]


def record_audits(state: Any, found: Iterable[Any], *, repaired: bool) -> None:
    """Replace each audited step's last audit with ``found`` (StepAudit results)."""
    del repaired  # what a repair wrote is in each result's own ``repaired``
    if isinstance(state, AuditsMixin):
        state.record_audits(found)


def last_audits(state: Any, job: str | None = None) -> list[AuditRecord]:
    return state.last_audits(job) if isinstance(state, AuditsMixin) else []
