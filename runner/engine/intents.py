"""What the destination already holds: ids adopted by ``match``, duplicates, unresolved creates.

A create that is not safe to replay (the destination makes a new object each time and ignores
idempotency keys) is recorded as an intent, committed before it is sent; its acknowledgement
settles it. An intent still there when a step starts belongs to a run that stopped between the
two. Then, before anything is sent again:

- a destination with ``match`` is asked which of those keys it holds: found ids are adopted
  (the record is then sent as an update), absent keys are created as usual;
- a destination whose creates are safe to replay is simply sent them again;
- any other destination cannot be asked: the keys are held in quarantine ("may have been
  created; check and release") and skipped until the user retries or drops them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from connectors.api import Matchable, Sink, replay_safe
from runner.spec import OnDuplicate
from runner.state.base import BatchCommit, Key, StateStore

__all__ = ["HELD", "choose_id", "match_ids", "recover_intents"]

log = logging.getLogger(__name__)

HELD = (
    "an earlier run sent this record's create and stopped before the destination's answer was "
    "recorded; it may have been created, and this destination has no `match` request to ask. "
    "Check the destination: if it is not there, `commerce-sync quarantine retry` creates it; "
    "if it is, add a `match` request to the destination (or drop this record and record the id)"
)
MATCH_CHUNK = 250


def _id_order(value: str) -> tuple[int, int, str]:
    # Numeric ids sort as numbers; stores that list oldest first make "as listed" the rest.
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def choose_id(ids: Sequence[str], policy: OnDuplicate, current: str | None) -> str:
    """The id a natural key held several times maps to (see ``on_duplicate``).

    >>> choose_id(["12", "9"], "report", None), choose_id(["12", "9"], "keep_newest", None)
    ('9', '12')
    >>> choose_id(["12", "9"], "report", "12")
    '12'
    """
    if policy == "report" and current in ids:
        return str(current)
    ordered = sorted(ids, key=_id_order)
    return ordered[-1] if policy == "keep_newest" else ordered[0]


def match_ids(sink: Matchable, keys: Sequence[Key], policy: OnDuplicate,
              current: Mapping[Key, str]) -> tuple[dict[Key, str], dict[Key, list[str]]]:
    """Ask the destination for ``keys``: (the id to use per found key, keys found twice)."""
    chosen: dict[Key, str] = {}
    doubled: dict[Key, list[str]] = {}
    for start in range(0, len(keys), MATCH_CHUNK):
        found = sink.match(list(keys[start : start + MATCH_CHUNK]))
        for key, ids in found.items():
            unique = list(dict.fromkeys(str(i) for i in ids))
            if not unique:
                continue
            if len(unique) > 1:
                doubled[tuple(key)] = unique
            chosen[tuple(key)] = choose_id(unique, policy, current.get(tuple(key)))
    return chosen, doubled


def recover_intents(
    state: StateStore, sink: Sink, *, job: str, step: str, entity: str, run_id: int,
    policy: OnDuplicate,
) -> set[Key]:
    """Settle the intents an interrupted run left; returns the keys still held (skipped by
    this run's decisions)."""
    pending = state.intents_pending(job, step)
    if not pending:
        return set()
    keys = sorted(pending)
    if isinstance(sink, Matchable):
        adopted, doubled = match_ids(sink, keys, policy, {})
        state.commit_batch(BatchCommit(run_id=run_id, job=job, step=step, entity=entity,
                                       keymap=adopted, resolved=keys))
        log.warning("intents.matched", extra={
            "job": job, "step": step, "rows": len(keys), "adopted": len(adopted),
            "duplicates": len(doubled)})
        return set()
    if replay_safe(sink, "create"):
        state.commit_batch(BatchCommit(run_id=run_id, job=job, step=step, entity=entity,
                                       resolved=keys))
        return set()
    fresh = [k for k in keys if pending[k][1] != "blocked"]
    if fresh:
        # Quarantined now by key, so it shows even if this run does not read the record; the
        # run replaces it with the source row when it meets the record (a skip decision).
        state.intents_put(job, step, {k: pending[k][0] for k in fresh}, run_id, "blocked")
        state.commit_batch(BatchCommit(
            run_id=run_id, job=job, step=step, entity=entity,
            quarantine=[(k, {"key": list(k)}, HELD) for k in fresh]))
        log.warning("intents.held", extra={"job": job, "step": step, "rows": len(fresh)})
    return set(keys)
