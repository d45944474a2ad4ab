"""What the console's pages show, read from the state store through its protocol.

Nothing here renders: these functions turn runs, schedule entries, claims and quarantine into
plain values for the templates, so the pages and their tests read one model. With the
PostgreSQL state every runner's console reads the same rows: runs by every runner, and which
runner holds which job's lease.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from runner.errors import redact
from runner.scheduler.status import JobStatus, job_statuses
from runner.spec import Job
from runner.state.base import QuarantinedRecord, RunRecord, StateStore

__all__ = [
    "Freshness",
    "JobRow",
    "Lease",
    "QuarantineGroup",
    "RunView",
    "duplicates",
    "freshness",
    "group_runs",
    "job_rows",
    "leases",
    "quarantine_groups",
    "record_json",
]

RETRY_MODE = "quarantine-retry"  # the mode retry_quarantined records its step runs under


@runtime_checkable
class ClaimLister(Protocol):
    """The part of a state store that lists claims still running (SQL stores have it)."""

    def held_claims(self) -> list[tuple[str, dt.datetime, str, dt.datetime]]: ...


@runtime_checkable
class DuplicateLister(Protocol):
    """The duplicates report of the audit (``StateStore.duplicates_list``) where the store
    keeps one: natural keys the destination holds more than once."""

    def duplicates_list(self, job: str | None = None) -> list[Any]: ...


def duplicates(state: StateStore, job: str) -> list[Any]:
    """The job's duplicates reports; none from a store that keeps no such report."""
    return state.duplicates_list(job) if isinstance(state, DuplicateLister) else []


@dataclass(frozen=True)
class Lease:
    job: str
    slot: dt.datetime
    owner: str
    expires_at: dt.datetime
    expired: bool  # its runner stopped renewing it: another runner takes the run over


@dataclass(frozen=True)
class Freshness:
    level: str  # "ok", "stale", "none" (no objective): the CSS class, always shown with text
    text: str


@dataclass(frozen=True)
class JobRow:
    status: JobStatus
    timezone: str
    running: bool
    lease: Lease | None
    freshness: Freshness


@dataclass(frozen=True)
class RunView:
    """One run: the job-level record and its steps' records, oldest step first. A quarantine
    retry has no job-level record: it is shown as a run of its one step."""

    run: RunRecord
    steps: list[RunRecord] = field(default_factory=list)


@dataclass(frozen=True)
class QuarantineGroup:
    job: str
    step: str
    records: list[QuarantinedRecord]


def duration(seconds: float | None) -> str:
    """``95`` -> ``1.6m``: the unit people read at a glance."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}".removesuffix(".0") + unit
    return f"{seconds:.0f}s"


def freshness(status: JobStatus) -> Freshness:
    if status.stale is None or status.max_age_s is None:
        return Freshness("none", "no freshness objective")
    objective = duration(status.max_age_s)
    if status.age_s is None:
        return Freshness("stale", f"STALE: never synced successfully (objective {objective})")
    age = duration(status.age_s)
    if status.stale:
        return Freshness("stale", f"STALE: data is {age} old, objective {objective}")
    return Freshness("ok", f"fresh: data is {age} old, objective {objective}")


def leases(state: StateStore, now: dt.datetime) -> dict[str, Lease]:
    """The newest running claim per job; empty for a store that cannot list claims."""
    if not isinstance(state, ClaimLister):
        return {}
    out: dict[str, Lease] = {}
    for job, slot, owner, expires in state.held_claims():
        out[job] = Lease(job, slot, owner, expires, expired=expires < now)
    return out


def job_rows(
    jobs: Mapping[str, Job], state: StateStore, now: dt.datetime, running: set[str]
) -> list[JobRow]:
    held = leases(state, now)
    return [
        JobRow(
            status=s,
            timezone=jobs[s.job].schedule.timezone,
            running=s.job in running,
            lease=held.get(s.job),
            freshness=freshness(s),
        )
        for s in job_statuses(jobs, state, now)
    ]


def group_runs(records: list[RunRecord]) -> list[RunView]:
    """Group a job's run records (newest first, as ``StateStore.runs`` returns them) into runs.

    A run's step records are begun after its job-level record, so they come before it here.
    Steps older than the oldest job record read (past the limit) are left out.
    """
    out: list[RunView] = []
    steps: list[RunRecord] = []
    for rec in records:
        if rec.step == "":
            out.append(RunView(rec, list(reversed(steps))))
            steps = []
        elif rec.mode == RETRY_MODE:
            out.append(RunView(rec, [rec]))
        else:
            steps.append(rec)
    return out


def quarantine_groups(records: list[QuarantinedRecord]) -> list[QuarantineGroup]:
    groups: dict[tuple[str, str], list[QuarantinedRecord]] = {}
    for rec in records:
        groups.setdefault((rec.job, rec.step), []).append(rec)
    return [QuarantineGroup(job, step, recs) for (job, step), recs in sorted(groups.items())]


def record_json(record: Mapping[str, Any]) -> str:
    """A quarantined record as indented JSON, secrets masked (the template escapes it)."""
    return redact(json.dumps(dict(record), indent=2, sort_keys=True, ensure_ascii=False,
                             default=str))
