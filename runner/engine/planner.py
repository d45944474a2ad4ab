"""The dry run behind ``plan``: the run itself, with a recording sink and an in-memory state.

:func:`plan_step` runs the step's real code (:mod:`runner.engine.step`) with ``env.dry_run``:
the sink records every write and answers it as acknowledged (creates get placeholder ids), and
the state is an :class:`~runner.engine.overlay.OverlayState` that keeps this plan's commits in
memory. A plan therefore decides exactly as a run would, and a later step of the same job sees
the ids its earlier steps would create. What it cannot know is how the destination will answer:
a record the destination refuses is counted as written in the plan and quarantined by the run.
"""

from __future__ import annotations

from runner.spec import Step, SyncMode

from .recording import RecordingSink
from .results import PlanSample, StepPlan, StepResult
from .step import RunEnv, run_step

__all__ = ["plan_from", "plan_step"]


def plan_from(step: Step, result: StepResult) -> StepPlan:
    """The plan of a step's dry-run result: its counts and its recorded writes."""
    plan = StepPlan(job=result.job, step=step.name, mode=result.mode,
                    delete_action=step.delete, rewrites_unchanged=result.mode == "full",
                    read=result.read, creates=result.created, updates=result.updated,
                    upserts=result.upserted, unchanged=result.unchanged,
                    deletes=result.removed, quarantined=result.quarantined,
                    skipped=result.skipped, echoed=result.echoed,
                    duplicates=result.duplicates,
                    error=result.error if result.status == "failed" else None)
    recorder = result.planned
    if isinstance(recorder, RecordingSink):
        from connectors.api import Listable

        plan.destination_listed = result.mode == "full" and isinstance(recorder, Listable)
        for action, writes in recorder.samples.items():
            kind = "delete" if action in ("delete", "unpublish") else action
            plan.samples.setdefault(kind, []).extend(
                PlanSample(w.key, w.record, dest_id=w.dest_id) for w in writes)
    for key, record, reason in result.quarantine_samples:
        plan.samples["quarantine"].append(PlanSample(key, record, reason))
    return plan


def plan_step(step: Step, env: RunEnv, mode: SyncMode) -> StepPlan:
    """Plan one step on ``env`` (whose state must be an overlay and ``dry_run`` set)."""
    assert env.dry_run, "plan_step needs a dry-run environment"
    return plan_from(step, run_step(step, env, mode))
