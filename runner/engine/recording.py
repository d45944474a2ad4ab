"""The sink of a dry run: every write is recorded and answered as acknowledged, nothing is sent.

It wraps the real sink, so what a plan reads of the destination (its listing, ``match``) and
what the destination declares (its requests, whether a replay is safe) are the real ones: only
the writes differ. A create is answered with a placeholder id, so later steps that look the id
up (variants need their product's id) are planned as they will run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.api import Key, Listable, Matchable, Sink, WriteOp, WriteOutcome
from runner.errors import redact
from runner.transforms import jsonable

__all__ = ["SAMPLES", "PlannedWrite", "RecordingSink", "placeholder_id"]

SAMPLES = 5


def placeholder_id(entity: str, key: Key) -> str:
    """The id a planned create stands under: readable in a plan's samples."""
    return f"(new {entity} {'/'.join(key)})"


@dataclass(frozen=True)
class PlannedWrite:
    action: str
    key: Key
    dest_id: str | None
    record: dict[str, Any] | None


def _safe(record: dict[str, Any]) -> dict[str, Any]:
    data = jsonable(record)
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}


@dataclass
class RecordingSink:
    """A :class:`Sink` that records. ``samples`` keeps the first few writes of each action
    (``limit`` of them), ``counts`` all of them."""

    real: Sink
    entity: str
    limit: int = SAMPLES
    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[PlannedWrite]] = field(default_factory=dict)

    @property
    def actions(self) -> Any:
        return getattr(self.real, "actions", None)

    @property
    def match_always(self) -> bool:
        return bool(getattr(self.real, "match_always", False))

    def replay_safe(self, action: str) -> bool:
        check = getattr(self.real, "replay_safe", None)
        return True if check is None else bool(check(action))

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        outcomes = []
        for op in ops:
            self.counts[op.action] = self.counts.get(op.action, 0) + 1
            bucket = self.samples.setdefault(op.action, [])
            if len(bucket) < self.limit:
                record = None if op.action in ("delete", "unpublish") else _safe(op.record)
                bucket.append(PlannedWrite(op.action, op.key, op.dest_id, record))
            dest_id = op.dest_id
            if dest_id is None and op.action in ("create", "upsert"):
                dest_id = placeholder_id(self.entity, op.key)
            outcomes.append(WriteOutcome(ok=True, dest_id=dest_id))
        return outcomes

    def close(self) -> None:
        self.real.close()


class ListableRecordingSink(RecordingSink):
    """Listable only when the real sink is: the engine asks ``isinstance(sink, Listable)``."""

    def list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        assert isinstance(self.real, Listable)
        return self.real.list_keys()


class MatchableRecordingSink(RecordingSink):
    def match(self, keys: Sequence[Key]) -> dict[Key, list[str]]:
        assert isinstance(self.real, Matchable)
        return self.real.match(keys)


class ListableMatchableRecordingSink(ListableRecordingSink, MatchableRecordingSink):
    pass


def recording(real: Sink, entity: str) -> RecordingSink:
    """The recording wrapper with exactly the real sink's capabilities."""
    listable, matchable = isinstance(real, Listable), isinstance(real, Matchable)
    if listable and matchable:
        return ListableMatchableRecordingSink(real, entity)
    if listable:
        return ListableRecordingSink(real, entity)
    if matchable:
        return MatchableRecordingSink(real, entity)
    return RecordingSink(real, entity)
