"""The engine: running a job's steps correctly and restartably, and planning them.

>>> from runner.engine import run_job  # doctest: +SKIP
>>> result = run_job(job, project=project, state=store)  # doctest: +SKIP
>>> [s.summary() for s in result.steps]  # doctest: +SKIP
"""

from __future__ import annotations

from .cursor import apply_lookback
from .hooks import install_after_write
from .ops import idempotency_key
from .progress import NullProgress, ProgressSink, TerminalProgress
from .quarantine import RetryReport, retry_quarantined
from .results import JobResult, PlanSample, StepPlan, StepResult
from .retry import backoff_delay, call_with_retry
from .runner import default_owner, run_job, select_steps

__all__ = [
    "JobResult",
    "NullProgress",
    "PlanSample",
    "ProgressSink",
    "RetryReport",
    "StepPlan",
    "StepResult",
    "TerminalProgress",
    "apply_lookback",
    "backoff_delay",
    "call_with_retry",
    "default_owner",
    "idempotency_key",
    "install_after_write",
    "retry_quarantined",
    "run_job",
    "select_steps",
]
