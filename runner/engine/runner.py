"""``run_job``: a job's steps in order under the job's lock, recorded as runs; or its plan."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from connectors.api import ConnectorContext
from runner.errors import ConfigError, redact
from runner.spec import Job, Step, SyncMode
from runner.state.base import BatchCommit, RunCounts, StateStore

from .overlay import OverlayState
from .planner import plan_step
from .progress import NullProgress, ProgressSink
from .reading import default_context
from .results import JobResult
from .step import RunEnv, run_step

__all__ = ["default_owner", "run_job", "select_steps"]

log = logging.getLogger(__name__)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def select_steps(job: Job, names: Sequence[str] | None) -> tuple[Step, ...]:
    if not names:
        return job.steps
    by_name = {s.name: s for s in job.steps}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none"
        raise ConfigError(
            f"job {job.name!r} has no step named {', '.join(map(repr, unknown))}; "
            f"its steps are: {known}"
        )
    return tuple(s for s in job.steps if s.name in names)


def _children(job: Job, project: Any) -> list[Job]:
    if project is None:
        raise ConfigError(
            f"job {job.name!r} runs other jobs ({', '.join(job.jobs)}); load the whole "
            "pipelines directory so they can be found"
        )
    return [project.job(name) for name in job.jobs]


def run_job(
    job: Job,
    *,
    project: Any | None,
    state: StateStore,
    mode: SyncMode | None = None,
    steps: Sequence[str] | None = None,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    progress: ProgressSink | None = None,
    connector_context: Callable[..., ConnectorContext] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    owner: str | None = None,
    wait_s: float = 0.0,
) -> JobResult:
    """Run ``job`` (or, with ``dry_run``, plan it) and return what happened.

    ``mode`` forces every step's sync mode (``--full``). A composite job runs the jobs it
    names from ``project`` in order, forcing its own ``mode`` on them, and stops at the first
    that does not succeed. A real run holds ``state.job_lock`` (``LockedError`` if another run
    holds it after ``wait_s``); a dry run takes no lock and records nothing.
    """
    started = time.monotonic()
    if dry_run and not isinstance(state, OverlayState):
        # One overlay for the whole plan: a later step (or child job) sees what the earlier
        # ones would have committed, ids of planned creates included.
        state = OverlayState(state)
    env = RunEnv(
        job=job.name, state=state, context=connector_context or default_context, sleep=sleep,
        stop=stop, progress=progress or NullProgress(), dry_run=dry_run,
    )
    if job.is_composite:
        result = _run_composite(job, project=project, state=state, mode=mode or job.mode,
                                steps=steps, dry_run=dry_run, env=env, owner=owner,
                                wait_s=wait_s)
    elif dry_run:
        result = JobResult(job=job.name, status="planned", plan=[])
        for step in select_steps(job, steps):
            assert result.plan is not None
            planned = plan_step(step, env, mode or step.mode)
            result.plan.append(planned)
            if planned.failed:
                result.status, result.error = "failed", planned.error
                break
    else:
        with state.job_lock(job.name, owner or default_owner(), wait_s):
            _close_abandoned(state, job.name)
            result = _run_plain(job, env, mode, steps)
    result.duration_s = time.monotonic() - started
    return result


def _run_composite(
    job: Job, *, project: Any, state: StateStore, mode: SyncMode | None,
    steps: Sequence[str] | None, dry_run: bool, env: RunEnv, owner: str | None, wait_s: float,
) -> JobResult:
    children = _children(job, project)
    result = JobResult(job=job.name, status="planned" if dry_run else "succeeded",
                       plan=[] if dry_run else None)

    def each() -> None:
        for child in children:
            sub = run_job(
                child, project=project, state=state, mode=mode, steps=steps, dry_run=dry_run,
                stop=env.stop, progress=env.progress, connector_context=env.context,
                sleep=env.sleep, owner=owner, wait_s=wait_s,
            )
            result.steps.extend(sub.steps)
            if dry_run:
                assert result.plan is not None and sub.plan is not None
                result.plan.extend(sub.plan)
                continue
            if sub.status not in ("succeeded", "partial"):
                result.status, result.error = sub.status, sub.error
                return

    if dry_run:
        each()
        return result
    with state.job_lock(job.name, owner or default_owner(), wait_s):
        _close_abandoned(state, job.name)
        run_id = state.begin_run(job.name, "", mode or "default")
        result.run_id = run_id
        try:
            each()
            # The composite's own run record carries the sum of its children's steps, so
            # `status` and `history` show what a complete sync did.
            _total_counts(state, job.name, run_id, result)
        except BaseException as exc:
            state.finish_run(run_id, "failed", redact(f"{type(exc).__name__}: {exc}"))
            raise
        result.settle()
        state.finish_run(run_id, result.status, result.error)  # type: ignore[arg-type]
    return result


def _close_abandoned(state: StateStore, job: str) -> None:
    # Holding the job's lock, no other run of it is alive: a run still marked running was
    # left by a process that died (SIGKILL, power loss). Say so in history, once.
    closed = state.abandon_runs(job)
    if closed:
        log.warning("run.abandoned", extra={"job": job, "rows": closed})


def _total_counts(state: StateStore, job: str, run_id: int, result: JobResult) -> None:
    """Add the steps' counts to the job-level run record, so ``history`` shows totals."""
    counts = RunCounts(
        read=sum(s.read for s in result.steps),
        written=sum(s.written for s in result.steps),
        unchanged=sum(s.unchanged for s in result.steps),
        deleted=sum(s.removed for s in result.steps),
        quarantined=sum(s.quarantined for s in result.steps),
        echoed=sum(s.echoed for s in result.steps),
    )
    state.commit_batch(BatchCommit(run_id=run_id, job=job, step="", entity="", counts=counts))


def _run_plain(job: Job, env: RunEnv, mode: SyncMode | None,
               steps: Sequence[str] | None) -> JobResult:
    selected = select_steps(job, steps)
    run_id = env.state.begin_run(job.name, "", mode or "default")
    result = JobResult(job=job.name, run_id=run_id)
    log.info("job.started", extra={"job": job.name, "mode": mode or "default"})
    try:
        for step in selected:
            if env.stopping:
                result.status = "interrupted"
                break
            sr = run_step(step, env, mode or step.mode)
            result.steps.append(sr)
            if sr.status == "failed":
                result.status, result.error = "failed", sr.error
                break
            if sr.status == "interrupted":
                result.status = "interrupted"
                break
        _total_counts(env.state, job.name, run_id, result)
        result.settle()
    except KeyboardInterrupt:
        env.state.finish_run(run_id, "interrupted", "stopped at once by a second signal")
        raise
    except BaseException as exc:
        env.state.finish_run(run_id, "failed", redact(f"{type(exc).__name__}: {exc}"))
        raise
    env.state.finish_run(run_id, result.status, result.error)  # type: ignore[arg-type]
    log.info("job.finished", extra={"job": job.name, "status": result.status})
    return result
