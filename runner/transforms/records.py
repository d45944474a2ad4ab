"""What a compiled step yields: records ready to write, and records for quarantine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KeymapResolver", "Rejected", "Transformed", "dedupe_by_key"]

# (job or None for this job, entity, key) -> the destination's id, or None when unknown.
KeymapResolver = Callable[[str | None, str, tuple[str, ...]], str | None]


# Not frozen, like the other objects made once per record (Decision, WriteOp, WriteOutcome): a
# frozen dataclass sets each field through object.__setattr__, 880 ns against 220 ns for six
# fields. Nothing changes them after they are made.
@dataclass(slots=True)
class Transformed:
    """A record ready to write.

    ``key`` holds the values of the step's key fields, each ``str()``-normalised (None -> "").
    ``source`` is the row it came from (after nest/flatten), for quarantine and the cursor.
    ``source_hash`` is the hash of that row, when the step hashes before mapping
    (:meth:`~runner.transforms.CompiledStep.apply_changed`).
    """

    record: dict[str, Any]
    key: tuple[str, ...]
    source: Mapping[str, Any]
    source_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that goes to quarantine; ``reason`` says why in words a user can act on."""

    source: Any
    reason: str
    key: tuple[str, ...] | None = None


def dedupe_by_key(items: Iterable[Transformed]) -> Iterator[Transformed]:
    """Keep the last occurrence of each key, in the order of those last occurrences.

    For one batch: it holds the batch in memory. The engine keeps its own run-level set.

    >>> a1, b, a2 = (Transformed({"v": i}, (k,), {}) for i, k in enumerate("aba"))
    >>> [t.record["v"] for t in dedupe_by_key([a1, b, a2])]
    [1, 2]
    """
    batch = items if isinstance(items, list) else list(items)
    last = {item.key: item for item in batch}
    if len(last) == len(batch):  # no key twice, the usual batch: its own order
        return iter(last.values())
    last = {}
    for item in batch:
        last.pop(item.key, None)
        last[item.key] = item
    return iter(last.values())
