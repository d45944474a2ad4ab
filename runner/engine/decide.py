"""The one decision: what a record needs at the destination, and why.

``run``, ``plan`` and ``quarantine retry`` all call :func:`decide` on the same inputs (the
records, the stored row hashes, the key map, what the destination declares), so they cannot
disagree. The action is one the destination actually declares: a destination with only an
``upsert`` request is sent upserts, and they are counted as such (an upsert does not say whether
the object was new), never as creates that a run could not tell apart from updates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from connectors.api import WriteOp
from runner.transforms import Transformed

from .intents import HELD
from .ops import idempotency_key, idempotency_keys

__all__ = ["WRITES", "Decision", "Destination", "decide", "write_op", "write_ops"]

Key = tuple[str, ...]
Kind = Literal["create", "update", "upsert", "unchanged", "skip", "echoed"]
WRITES = frozenset({"create", "update", "upsert"})

SKIP_NO_UPDATE = (
    "the destination declares no `update` or `upsert` request, so a changed record it already "
    "holds cannot be sent; add one to the destination"
)
SKIP_NO_ID = (
    "this record was created before, but the destination returned no id for it and declares "
    "no `upsert`, so a change cannot be sent without creating it again; add `id_path` to the "
    "create request, a `match` request, or an `upsert`"
)


@dataclass(frozen=True)
class Destination:
    """What a decision needs to know of a sink: the write requests it declares."""

    actions: frozenset[str]

    @classmethod
    def of(cls, sink: Any) -> Destination:
        # A sink that does not say (SQL, files) writes every record as an upsert by key.
        declared = getattr(sink, "actions", None)
        return cls(frozenset(declared) & WRITES if declared else frozenset({"upsert"}))


@dataclass(slots=True)  # not frozen: see runner.transforms.records.Transformed
class Decision:
    kind: Kind
    key: Key
    item: Transformed
    digest: str
    dest_id: str | None = None
    reason: str = ""


def _write_kind(key: Key, known: Mapping[Key, str], stored: Mapping[Key, str],
                actions: frozenset[str]) -> tuple[Kind, str]:
    if key in known:
        if "update" in actions:
            return "update", ""
        if "upsert" in actions:
            return "upsert", ""
        return "skip", SKIP_NO_UPDATE
    if "upsert" in actions and ("create" not in actions or key in stored):
        return "upsert", ""
    if key in stored:
        return "skip", SKIP_NO_ID
    return ("create", "") if "create" in actions else ("skip", SKIP_NO_UPDATE)


def decide(
    fresh: Sequence[tuple[Key, Transformed, str]],
    *,
    stored: Mapping[Key, str],
    known: Mapping[Key, str],
    dest: Destination,
    rewrite_all: bool = False,
    blocked: Collection[Key] = (),
    echoed: Collection[Key] = (),
    changed: Collection[Key] = (),
) -> list[Decision]:
    """One decision per ``(key, transformed, row hash)``.

    ``stored``: the row hashes the state holds; ``known``: the destination ids the key map
    holds; ``rewrite_all``: a complete run writes unchanged records too (it repairs a
    destination that lost data); ``blocked``: keys whose earlier create may have landed
    unacknowledged and cannot be checked (see :mod:`runner.engine.intents`); ``echoed``:
    records that only report back what another step wrote (not sent); ``changed``: records
    whose other side changed since that write, sent whatever their stored hash (both from
    :mod:`runner.engine.echoes`).
    """
    decisions: list[Decision] = []
    append = decisions.append
    # What a write is depends only on whether the key map and the stored hashes hold the key:
    # three answers, asked once per batch rather than once per record.
    actions = dest.actions
    probe: Key = ("",)
    on_known = _write_kind(probe, {probe: ""}, {}, actions)
    on_stored = _write_kind(probe, {}, {probe: ""}, actions)
    on_new = _write_kind(probe, {}, {}, actions)
    for key, item, digest in fresh:
        if key in blocked:
            append(Decision("skip", key, item, digest, known.get(key), HELD))
            continue
        if key in echoed:
            append(Decision("echoed", key, item, digest, known.get(key)))
            continue
        if not rewrite_all and stored.get(key) == digest and key not in changed:
            append(Decision("unchanged", key, item, digest, known.get(key)))
            continue
        kind, reason = (on_known if key in known else on_stored if key in stored else on_new)
        append(Decision(kind, key, item, digest, known.get(key), reason))
    return decisions


def write_op(job: str, step: str, decision: Decision) -> WriteOp:
    """The write of one decision, with the idempotency key of this change of this record
    (stable across retries and reruns, different for the next change)."""
    return WriteOp(decision.kind, decision.key, decision.item.record,  # type: ignore[arg-type]
                   decision.dest_id,
                   idempotency_key(job, step, decision.key, decision.digest))


def write_ops(job: str, step: str) -> Callable[[Sequence[Decision]], list[WriteOp]]:
    """:func:`write_op` for a batch of one step's decisions, its per-step work done once."""
    key_of = idempotency_keys(job, step)

    def ops(decisions: Sequence[Decision]) -> list[WriteOp]:
        return [WriteOp(d.kind, d.key, d.item.record, d.dest_id,  # type: ignore[arg-type]
                        key_of(d.key, d.digest)) for d in decisions]

    return ops
