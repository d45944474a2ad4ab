"""The console's buttons, each the same code path as its CLI command.

- run now: ``commerce-sync trigger`` (a trigger request in the state store; whichever
  ``serve`` shares the store and takes it first runs the job, under a claim like any run);
- retry: ``commerce-sync quarantine retry ID`` (:func:`runner.engine.retry_quarantined`);
- drop: ``commerce-sync quarantine drop ID``.

They return a notice code: the redirect carries the code, never text, so a link cannot make
the console print words of its own choosing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from runner.errors import LockedError, SyncError, redact
from runner.scheduler.service import trigger_token

if TYPE_CHECKING:
    from runner.console.app import ConsoleSource

__all__ = ["NOTICES", "drop", "retry", "run_now"]

log = logging.getLogger(__name__)

NOTICES = {
    "run-requested": "Run requested: the scheduler starts it within about a second; this page "
                     "shows it once it has started.",
    "released": "Retried: the record was delivered and left quarantine.",
    "still-quarantined": "Retried: refused again; its reason below is the new one. Retry "
                         "sends the row as it was read. After fixing the source, press Run now "
                         "on the job instead: the run sends the fixed row and releases the "
                         "record.",
    "busy": "Not retried: a run of this job is in progress. Retry when it has finished.",
    "retry-failed": "Not retried: the step could not be run (see the job's run history for "
                    "the error).",
    "missing": "That record is no longer in quarantine (released or dropped meanwhile).",
    "dropped": "Dropped: the record was removed from quarantine without being sent.",
}


def run_now(source: ConsoleSource, job: str) -> None:
    source.state.request_trigger(trigger_token(job), f"console@{source.owner}")
    source.wake()
    log.info("console.run_requested", extra={"job": job})


def retry(source: ConsoleSource, qid: int) -> str:
    from runner.engine import retry_quarantined  # the engine is heavy; only for this button

    try:
        # Its own lock owner name: the job lock is never shared with this runner's runs.
        report = retry_quarantined(source.project(), source.state, ids=[qid],
                                   owner=f"{source.owner}/console")
    except LockedError:
        return "busy"
    except SyncError as exc:
        log.warning("console.retry_failed", extra={"id": qid, "error": redact(str(exc))})
        return "retry-failed"
    log.info("console.retried", extra={"id": qid, "released": report.released})
    if report.missing:
        return "missing"
    if report.errors:
        log.warning("console.retry_failed", extra={"id": qid, "error": report.errors[0]})
        return "retry-failed"
    return "released" if report.released else "still-quarantined"


def drop(source: ConsoleSource, qid: int) -> str:
    dropped = source.state.quarantine_drop([qid])
    log.info("console.dropped", extra={"id": qid, "dropped": dropped})
    return "dropped" if dropped else "missing"
