"""``audit --repair``: write exactly the drift an audit found, through the normal write path.

Creates and updates go through :class:`~runner.engine.batch.BatchWriter` (decide, intents,
write, commit with quarantine), removals follow the step's delete policy as a complete sync's
do, and the state is corrected: the key map takes the ids the listing showed, keys gone from
the destination lose their stale id and hash (so they are created again, not updated at a dead
id), and every write commits its record's hash.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Sequence
from typing import Any

from connectors.api import Sink, WriteOp, WriteOutcome
from runner.spec import Step
from runner.state.base import BatchCommit, Key, StateStore
from runner.transforms import Transformed

from .audit import StepAudit
from .batch import BatchWriter, Sent, checked_write
from .follow import remove_keys
from .retry import Retrier

__all__ = ["repair_step"]

log = logging.getLogger(__name__)

CHUNK = 1000


class _Fresh:
    """The sink with each write's idempotency key made unique to this repair: the record a
    repair sends is often the very change the runner sent before (the destination was edited
    behind its back since), and a destination that honours idempotency keys would answer the
    first reply again without applying it. Everything else is the real sink's."""

    def __init__(self, real: Sink, salt: str) -> None:
        self._real = real
        self._salt = salt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        return self._real.write([
            dataclasses.replace(op, idempotency_key=f"{op.idempotency_key}:{self._salt}")
            if op.idempotency_key else op for op in ops])

    def close(self) -> None:  # the audit closes the real sink
        pass


def _correct_keymap(step: Step, job: str, state: StateStore, result: StepAudit) -> None:
    """The listing is complete: the key map takes its ids, and its duplicates report."""
    pairs = list(result.listed_ids.items())
    for start in range(0, len(pairs), CHUNK):
        chunk = dict(pairs[start:start + CHUNK])
        current = state.keymap_get(job, step.entity_name, list(chunk))
        wrong = {k: v for k, v in chunk.items() if current.get(k) != v}
        if wrong:
            state.keymap_put(job, step.entity_name, wrong)
    state.duplicates_put(job, step.entity_name, result.doubled,
                         {k: result.listed_ids[k] for k in result.doubled})


def _write(step: Step, writer: BatchWriter, run_id: int, result: StepAudit) -> None:
    gone = [item.key for item, _ in result.writes if item.key not in result.listed_ids]
    for start in range(0, len(gone), CHUNK):
        chunk = gone[start:start + CHUNK]
        writer.state.commit_batch(BatchCommit(
            run_id=run_id, job=writer.job, step=step.name, entity=step.entity_name,
            removed=chunk, unmapped=chunk))
    for start in range(0, len(result.writes), step.batch_size):
        fresh: list[tuple[Key, Transformed, str]] = [
            (i.key, i, h) for i, h in result.writes[start:start + step.batch_size]]
        sent = Sent()
        decisions = writer.decisions(fresh, sent, rewrite_all=True)
        writer.write(decisions, sent, lambda d: d.item.source)
        writer.commit(sent, 0)
        for name, n in sent.counts.items():
            result.repaired[name] = result.repaired.get(name, 0) + n
        if sent.quarantine:
            result.repaired["quarantined"] = (
                result.repaired.get("quarantined", 0) + len(sent.quarantine))


def _remove(step: Step, job: str, state: StateStore, sink: Sink, retrier: Retrier,
            run_id: int, result: StepAudit) -> None:
    what = f"{job}/{step.name}: removing drift"

    def write(ops: list[WriteOp]) -> list[WriteOutcome]:
        return retrier(functools.partial(checked_write, sink, ops, what), what)

    targets: list[tuple[Key, str | None]] = list(result.removals)
    done = remove_keys(step, state, job=job, run_id=run_id, targets=targets, write=write)
    result.repaired["removed"] = len(done)
    if len(done) < len(targets):
        result.repaired["remove_failed"] = len(targets) - len(done)


def repair_step(step: Step, job: str, state: StateStore, sink: Sink, retrier: Retrier,
                result: StepAudit) -> None:
    """Write ``result``'s drift and correct the state; ``result.repaired`` counts what was
    written, and ``result.status`` becomes ``repaired`` when nothing repairable is left."""
    run_id = state.begin_run(job, step.name, "audit")
    try:
        _correct_keymap(step, job, state, result)
        fresh = _Fresh(sink, f"repair-{run_id}")
        writer = BatchWriter(step, job=job, state=state, sink=fresh, run_id=run_id,
                             retrier=retrier)
        _write(step, writer, run_id, result)
        if result.removals:
            _remove(step, job, state, fresh, retrier, run_id, result)
    except BaseException as exc:
        state.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    state.finish_run(run_id, "succeeded")
    left = (result.counts.get("duplicate", 0) + result.repaired.get("quarantined", 0)
            + result.repaired.get("remove_failed", 0) + result.repaired.get("skipped", 0))
    if result.drift and not left:
        result.status = "repaired"
    # Under one key: "created" is a LogRecord attribute and may not be passed as an extra.
    log.info("audit.repaired",
             extra={"job": job, "step": step.name, "repaired": dict(result.repaired)})
