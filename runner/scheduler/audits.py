"""Audits on a schedule: a job's ``audit: {cron, repair, max_drift}`` runs under ``serve`` like
a job of its own, named ``JOB.audit`` (a name no pipeline can take: job names have no dot).

The scheduler needs nothing new: the audit is one more entry in the project's jobs, with the
audit's cron as its schedule, so claims, leases, overlap and missed-run policies apply as they
do to runs. The runner wrapper sends such an entry to the audit instead of ``run_job``; the
result records each step's audit in the state store (``status`` shows it), feeds
``commerce_sync_drift_records{job,step,kind}``, and fails when more records drifted than
``max_drift`` (for alerting).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.spec import Job, Schedule

__all__ = ["SUFFIX", "AuditRun", "audit_runner", "with_audits"]

log = logging.getLogger(__name__)

SUFFIX = ".audit"


@dataclass
class AuditRun:
    """What a scheduled audit returns to the scheduler (it reads ``status``)."""

    job: str
    status: str
    error: str | None = None
    audits: list[Any] = field(default_factory=list)
    steps: tuple[Any, ...] = ()  # no run rows: an audit's counts are its own metric

    @property
    def drift(self) -> int:
        return sum(a.drift for a in self.audits)


def with_audits(project: Any) -> Any:
    """``project`` with a ``JOB.audit`` entry for every job whose ``audit:`` has a cron."""
    extra = {}
    for name, job in project.jobs.items():
        policy = job.audit
        if policy is None or policy.cron is None or name.endswith(SUFFIX):
            continue
        extra[f"{name}{SUFFIX}"] = dataclasses.replace(
            job, name=f"{name}{SUFFIX}", depends_on=(), max_age_s=None,
            schedule=Schedule(cron=policy.cron, timezone=policy.timezone))
    if not extra:
        return project
    return dataclasses.replace(project, jobs={**project.jobs, **extra})


def run_audit(job: Job, *, project: Any, state: Any, owner: str | None = None) -> AuditRun:
    from runner.engine.audit import audit_job
    from runner.state.audits import record_audits

    real = project.job(job.name[: -len(SUFFIX)])
    policy = real.audit
    assert policy is not None
    found = audit_job(real, project=project, state=state, repair=policy.repair, owner=owner)
    record_audits(state, found, repaired=policy.repair)
    result = AuditRun(job=real.name, status="succeeded", audits=found)
    failed = [a for a in found if a.status == "failed"]
    if failed:
        result.status = "failed"
        result.error = "; ".join(f"{a.step}: {a.error}" for a in failed)
    elif policy.max_drift is not None and result.drift > policy.max_drift:
        result.status = "failed"
        result.error = (f"{result.drift} records drifted, more than audit.max_drift "
                        f"({policy.max_drift}); see `commerce-sync audit {real.name}`")
    log.log(logging.WARNING if result.drift else logging.INFO, "audit.finished", extra={
        "job": real.name, "status": result.status, "drift": result.drift,
        "repair": policy.repair})
    return result


def audit_runner(run: Callable[..., Any]) -> Callable[..., Any]:
    """The scheduler's runner: ``JOB.audit`` entries are audited, every other job is run."""

    def runner(job: Job, *, project: Any, state: Any, owner: str | None = None,
               **options: Any) -> Any:
        if job.name.endswith(SUFFIX):
            return run_audit(job, project=project, state=state, owner=owner)
        return run(job, project=project, state=state, owner=owner, **options)

    return runner
