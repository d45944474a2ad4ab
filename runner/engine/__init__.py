"""The engine: running a job's steps correctly and restartably, and planning them.

>>> from runner.engine import run_job  # doctest: +SKIP
>>> result = run_job(job, project=project, state=store)  # doctest: +SKIP
>>> [s.summary() for s in result.steps]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cursor import apply_lookback
from .hooks import install_after_write
from .ops import idempotency_key
from .progress import NullProgress, ProgressSink, TerminalProgress
from .results import JobResult, PlanSample, StepPlan, StepResult
from .retry import backoff_delay, call_with_retry
from .runner import default_owner, run_job, select_steps

if TYPE_CHECKING:
    from .quarantine import RetryReport, retry_quarantined


def __getattr__(name: str) -> Any:
    # Retrying quarantined records (and re-reading their sources) is its own command: a run
    # does not import it.
    if name in ("RetryReport", "retry_quarantined"):
        from . import quarantine

        return getattr(quarantine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
