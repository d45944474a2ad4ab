"""What only a complete (``full``) run does: re-learn the key map from the destination's
listing, report natural keys it holds twice, and remove what is no longer selected.

Removal never touches a key this run read from the source, and never an object other than the
one the key map holds for a key: a duplicate is reported, never unpublished in place of the
object that holds the live data. A key already unpublished (its stored hash says so) is not
unpublished again on every complete run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable
from typing import Literal

from connectors.api import Listable, Sink, WriteOp
from runner.spec import Step
from runner.state.base import BatchCommit, Key, RunCounts, StateStore

from .intents import choose_id
from .ops import idempotency_key, norm_key

__all__ = ["UNPUBLISHED", "relearn_keymap", "remove_unselected"]

log = logging.getLogger(__name__)

# Stored as the row hash of an unpublished key: no record hashes to it, so a record selected
# again is written (and republished) by the next run.
UNPUBLISHED = "unpublished"


def relearn_keymap(step: Step, state: StateStore, sink: Sink, *, job: str
                   ) -> tuple[set[Key], dict[Key, list[str]]]:
    """A complete sync re-learns the destination's ids (the recovery after a lost state
    store): returns the keys the destination holds, and those it holds more than once."""
    if not isinstance(sink, Listable):
        return set(), {}
    ids: dict[Key, list[str]] = {}
    for key, dest_id in sink.list_keys():
        bucket = ids.setdefault(norm_key(key), [])
        if str(dest_id) not in bucket:
            bucket.append(str(dest_id))
    doubled = {k: v for k, v in ids.items() if len(v) > 1}
    current = state.keymap_get(job, step.entity_name, list(doubled)) if doubled else {}
    chosen = {k: (choose_id(v, step.on_duplicate, current.get(k)) if len(v) > 1 else v[0])
              for k, v in ids.items()}
    if chosen:
        state.keymap_put(job, step.entity_name, chosen)
    state.duplicates_put(job, step.entity_name, doubled, {k: chosen[k] for k in doubled})
    if doubled:
        log.warning("keymap.duplicates", extra={
            "job": job, "step": step.name, "rows": len(doubled),
            "policy": step.on_duplicate})
    log.info("keymap.rebuilt", extra={"job": job, "step": step.name, "rows": len(chosen)})
    return set(chosen), doubled


def remove_unselected(
    step: Step, state: StateStore, sink: Sink, *, job: str, run_id: int, seen: Container[Key],
    listed: Iterable[Key], write: Callable[[list[WriteOp]], list], count: Callable[[int], None],
) -> None:
    if step.delete == "ignore":
        return
    action: Literal["delete", "unpublish"] = (
        "delete" if step.delete == "delete" else "unpublish")
    candidates = sorted(
        k for k in set(state.iter_keys(job, step.name)) | set(listed) if k not in seen
    )
    for start in range(0, len(candidates), step.batch_size):
        chunk = candidates[start : start + step.batch_size]
        if action == "unpublish":
            done = state.get_hashes(job, step.name, chunk)
            chunk = [k for k in chunk if done.get(k) != UNPUBLISHED]
            if not chunk:
                continue
        known = state.keymap_get(job, step.entity_name, chunk)
        ops = [WriteOp(action, k, dict(zip(step.key, k, strict=False)), known.get(k),
                       idempotency_key(job, step.name, k, action))
               for k in chunk]
        outcomes = write(ops)
        removed = [op.key for op, out in zip(ops, outcomes, strict=True) if out.ok]
        if len(removed) < len(ops):
            # Not removed from state, so the next complete sync tries them again.
            log.warning("step.remove_failed",
                        extra={"job": job, "step": step.name, "rows": len(ops) - len(removed)})
        if action == "delete":
            # A deleted record's destination id is gone with it.
            commit = BatchCommit(run_id=run_id, job=job, step=step.name, entity=step.entity_name,
                                 removed=removed, unmapped=removed,
                                 counts=RunCounts(deleted=len(removed)))
        else:
            # An unpublished one still exists and keeps its id for when it is selected again.
            commit = BatchCommit(run_id=run_id, job=job, step=step.name, entity=step.entity_name,
                                 hashes=dict.fromkeys(removed, UNPUBLISHED),
                                 counts=RunCounts(deleted=len(removed)))
        state.commit_batch(commit)
        count(len(removed))
