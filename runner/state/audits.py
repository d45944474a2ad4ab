"""The last audit of each step, kept in the state store (table ``audits``, migration 4).

Only the SQL store keeps audits; an in-memory state (a plan's overlay, unit-test doubles) has
no ``audits`` table and :func:`record_audits` leaves it alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runner.state.codec import decode_json, encode_json, utcnow
from runner.state.schema import audits
from runner.state.store import SqlStateStore

__all__ = ["AuditRecord", "last_audits", "record_audits"]


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


def record_audits(state: Any, found: Iterable[Any], *, repaired: bool) -> None:
    """Replace each audited step's last audit with ``found`` (StepAudit results)."""
    del repaired  # what a repair wrote is in each result's own ``repaired``
    if not isinstance(state, SqlStateStore):
        return
    now = utcnow()
    with state._write() as conn:
        for a in found:
            conn.execute(sa.delete(audits).where(audits.c.job == a.job, audits.c.step == a.step))
            conn.execute(sa.insert(audits).values(
                job=a.job, step=a.step, status=a.status, drift=a.drift,
                counts=encode_json(a.counts), repaired=encode_json(a.repaired),
                error=a.error, finished_at=now))


def last_audits(state: Any, job: str | None = None) -> list[AuditRecord]:
    if not isinstance(state, SqlStateStore):
        return []
    query = sa.select(audits).order_by(audits.c.job, audits.c.step)
    if job is not None:
        query = query.where(audits.c.job == job)
    with state._read() as conn:
        return [AuditRecord(r.job, r.step, r.status, r.drift, decode_json(r.counts),
                            decode_json(r.repaired), r.error, r.finished_at)
                for r in conn.execute(query)]
