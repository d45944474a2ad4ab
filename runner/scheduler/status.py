"""What ``commerce-sync status`` reports per job: last run, next run, rows, freshness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from runner.scheduler.timing import next_slot
from runner.spec import Job
from runner.state.base import RunRecord, StateStore

__all__ = ["JobStatus", "job_statuses", "render_text"]


@dataclass(frozen=True)
class JobStatus:
    job: str
    schedule: str  # the cron expression, or "on demand"
    last_run_at: dt.datetime | None
    last_status: str | None
    rows_last_run: int | None  # written + deleted across the steps of the last run
    next_run_at: dt.datetime | None
    last_success_at: dt.datetime | None
    age_s: float | None  # time since the last successful run: the age of the newest data
    max_age_s: float | None
    stale: bool | None  # None: no freshness objective
    quarantined: int
    duplicates: int = 0  # natural keys the destination holds twice (`commerce-sync duplicates`)
    # The last audit of the job's steps (``commerce-sync audit``, a scheduled audit): records
    # drifted across its steps, and when; None: never audited.
    audit_drift: int | None = None
    audit_at: dt.datetime | None = None
    # Records of the last run not sent back because they only reported what another step
    # wrote (echo guards); None: never run.
    echoed_last_run: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, dt.datetime):
                out[key] = value.isoformat()
        return out


def _last_run(records: list[RunRecord]) -> tuple[RunRecord | None, int | None, int | None]:
    """The newest job-level record, the rows its steps moved and the records they found
    echoed (records are newest first)."""
    steps: list[RunRecord] = []
    for rec in records:
        if rec.step == "":
            moved = sum(s.counts.written + s.counts.deleted for s in steps)
            echoed = sum(s.counts.echoed for s in steps)
            if not steps:
                moved = rec.counts.written + rec.counts.deleted
                echoed = rec.counts.echoed
            return rec, moved, echoed
        steps.append(rec)
    return None, None, None


def job_statuses(
    jobs: Mapping[str, Job], state: StateStore, now: dt.datetime
) -> list[JobStatus]:
    from runner.state.audits import last_audits

    entries = state.schedule_entries()
    audits: dict[str, list[Any]] = {}
    for record in last_audits(state):
        audits.setdefault(record.job, []).append(record)
    out: list[JobStatus] = []
    for name in sorted(jobs):
        job = jobs[name]
        rec, rows, echoed = _last_run(state.runs(name, limit=200))
        entry = entries.get(name)
        success = entry.last_success_at if entry is not None else None
        age = (now - success).total_seconds() if success is not None else None
        stale: bool | None = None
        if job.max_age_s is not None:
            stale = age is None or age > job.max_age_s
        out.append(
            JobStatus(
                job=name,
                schedule=job.schedule.cron or "on demand",
                last_run_at=rec.started_at if rec is not None else None,
                last_status=rec.status if rec is not None else None,
                rows_last_run=rows,
                next_run_at=next_slot(job.schedule, now),
                last_success_at=success,
                age_s=round(age, 1) if age is not None else None,
                max_age_s=job.max_age_s,
                stale=stale,
                quarantined=state.quarantine_count(name),
                duplicates=len(state.duplicates_list(name)),
                audit_drift=(sum(a.drift for a in audits[name] if a.status != "repaired")
                             if name in audits else None),
                audit_at=max(a.finished_at for a in audits[name]) if name in audits else None,
                echoed_last_run=echoed,
            )
        )
    return out


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def render_text(statuses: list[JobStatus]) -> str:
    header = ("JOB", "LAST RUN", "OUTCOME", "ROWS", "ECHOED", "NEXT RUN", "AGE", "MAX AGE", "FRESH",
              "QUARANTINE", "DUPLICATES", "DRIFT")
    rows = [header]
    for s in statuses:
        fresh = "-" if s.stale is None else ("STALE" if s.stale else "ok")
        rows.append((
            s.job, _when(s.last_run_at), s.last_status or "never",
            "-" if s.rows_last_run is None else str(s.rows_last_run),
            "-" if s.echoed_last_run is None else str(s.echoed_last_run),
            _when(s.next_run_at) if s.next_run_at else "on demand", _age(s.age_s),
            _age(s.max_age_s), fresh, str(s.quarantined), str(s.duplicates),
            "-" if s.audit_drift is None else f"{s.audit_drift} at {_when(s.audit_at)}",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)
