"""Echo guards in a run: what a writing step remembers, and how a reading step tells an echo.

A two-way field is written by two steps, one per direction (the ERP's order status goes to the
store by one step; a cancellation made in the store comes back by another). Without a guard,
the store reports the status the first step just sent as a change, and the second step sends
it back to the ERP (where it bumps a modification time, which the first step then sees...).

- The writing step remembers, for each record the destination acknowledged (and did not
  ignore), a hash of each guarded field's value, under its own natural key. It is committed
  with the batch's hashes, never before the acknowledgement.
- The reading step (``echo_guard``) looks up that memory by the writer's key, taken from its
  own mapped record. All guarded fields equal: an *echo*: not sent, counted ``echoed``, its
  row hash recorded (the other side holds that value: it came from there, so a re-read of the
  same report is unchanged). Any field differs: the other side changed after the write, so
  the record is sent even if its hash is the one this step last wrote. Either way the memory
  of that key is used up, in the same commit: the other side echoes once, and a later genuine
  change to the same value passes.

The verdicts feed :func:`runner.engine.decide.decide`, the one decision of run, plan and
quarantine retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.engine.ops import norm_key
from runner.spec import EchoGuard, Step
from runner.state.base import Key, StateStore
from runner.transforms import Transformed, row_hash

__all__ = ["EchoVerdicts", "echo_verdicts", "remembered"]

Used = tuple[str, str, Key, tuple[str, ...]]


def value_hash(value: Any) -> str:
    """A guarded value as the state keeps it: a hash, never the value."""
    return row_hash({"v": value})


def remembered(step: Step, record: Mapping[str, Any]) -> dict[str, str]:
    """What the writing ``step`` remembers of an acknowledged ``record``."""
    return {name: value_hash(record.get(name)) for name in step.echo_fields}


@dataclass
class EchoVerdicts:
    """A batch's verdicts: ``echoed`` keys are not sent; ``changed`` keys are sent whatever
    their stored hash; ``used``: the memory the batch's commit removes."""

    echoed: set[Key] = field(default_factory=set)
    changed: set[Key] = field(default_factory=set)
    used: list[Used] = field(default_factory=list)


def _writer_key(guard: EchoGuard, record: Mapping[str, Any]) -> Key:
    # the writer's key as the state keeps it, made from this record's fields of that name
    return norm_key(tuple(record.get(name) for name in guard.key))


def echo_verdicts(step: Step, job: str, state: StateStore,
                  fresh: Sequence[tuple[Key, Transformed, str]]) -> EchoVerdicts:
    """Judge ``fresh`` (key, record, row hash) of a guarded ``step`` against the memory of
    the step it names."""
    verdicts = EchoVerdicts()
    guard = step.echo_guard
    if guard is None or not fresh:
        return verdicts
    writer_job = guard.job or job
    fields = guard.fields
    keys = {key: _writer_key(guard, item.record) for key, item, _ in fresh}
    memory = state.echoes_get(writer_job, guard.step, set(keys.values()), fields)
    if not memory:
        return verdicts
    for key, item, _ in fresh:
        wkey = keys[key]
        held = memory.get(wkey)
        if not held:
            continue
        verdicts.used.append((writer_job, guard.step, wkey, fields))
        record = item.record
        if all(held.get(name) == value_hash(record.get(name)) for name in fields):
            verdicts.echoed.add(key)
        else:
            verdicts.changed.add(key)
    return verdicts
