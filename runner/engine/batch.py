"""Decide, write, account: the one path from transformed records to a committed batch.

``run`` sends through it to the real sink; ``plan`` through it to a recording sink over an
in-memory state; ``quarantine retry`` through it with the records it holds. Only the sink and
the state differ, so the three cannot disagree.

The order is the restartability argument: intents of unsafe creates are committed, then
``sink.write``, then ``state.commit_batch`` with exactly what the destination acknowledged
(hashes, ids, refusals, settled intents). A crash between write and commit replays the batch:
safe writes are sent again with the same idempotency keys; unsafe creates are first matched
against the destination (:mod:`runner.engine.intents`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.api import Matchable, Sink, WriteOp, WriteOutcome, replay_safe
from runner.errors import FatalError, redact
from runner.spec import Step
from runner.state.base import BatchCommit, Key, RunCounts, StateStore
from runner.transforms import Transformed, jsonable

from . import hooks
from .decide import WRITES, Decision, Destination, decide, write_ops
from .echoes import EchoVerdicts, echo_verdicts, remembered
from .intents import match_ids
from .retry import Retrier

__all__ = ["BatchWriter", "Sent", "checked_write", "source_json"]

QuarantineEntry = tuple[Key | None, Mapping[str, Any], str]


def source_json(source: Any) -> dict[str, Any]:
    """A source row as quarantine stores it (JSON-safe, secrets masked)."""
    if isinstance(source, Mapping):
        data = jsonable(dict(source))
    else:
        data = {"raw": source if isinstance(source, str) else repr(source)}
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}


def checked_write(sink: Sink, ops: Sequence[WriteOp], what: str) -> list[WriteOutcome]:
    outcomes = list(sink.write(ops))
    if len(outcomes) != len(ops):
        raise FatalError(
            f"{what}: the destination connector returned {len(outcomes)} outcomes for "
            f"{len(ops)} records; this is a connector bug, report it to its author"
        )
    return outcomes


@dataclass
class Sent:
    """One batch between write and commit: what the destination acknowledged and what the
    batch counted."""

    read_total: int = 0
    unchanged: int = 0
    duplicates: int = 0
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    hashes: dict[Key, str] = field(default_factory=dict)
    sources: dict[Key, str] = field(default_factory=dict)  # source hashes, see BatchCommit
    ids: dict[Key, str] = field(default_factory=dict)
    resolved: list[Key] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # created/updated/upserted/...
    # One entity in one step (:mod:`runner.engine.entity`): children's ids read from the
    # answers of this batch, by level; the levels' own commits, made before this one.
    captured: dict[str, dict[Key, str]] = field(default_factory=dict)
    levels: list[BatchCommit] = field(default_factory=list)
    # Echo guards (:mod:`runner.engine.echoes`): what this step's acknowledged writes put in
    # guarded fields; the memory of another step's writes this batch used up.
    echoes: dict[Key, dict[str, str]] = field(default_factory=dict)
    echoes_used: list[tuple[str, str, Key, tuple[str, ...]]] = field(default_factory=list)

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    @property
    def written(self) -> int:
        return sum(self.counts.get(k, 0) for k in ("created", "updated", "upserted"))


_COUNTED = {"create": "created", "update": "updated", "upsert": "upserted"}


class BatchWriter:
    """The decide-write path of one step against one sink and one state store."""

    def __init__(self, step: Step, *, job: str, state: StateStore, sink: Sink, run_id: int,
                 retrier: Retrier, dry_run: bool = False,
                 on_adopt: Callable[[Mapping[Key, list[str]]], None] | None = None) -> None:
        self.step = step
        self.job = job
        self.state = state
        self.sink = sink
        self.run_id = run_id
        self.retrier = retrier
        self.dry_run = dry_run
        self.dest = Destination.of(sink)
        self.what = f"{job}/{step.name}"
        self._write_ops = write_ops(job, step.name)
        # Whether creates need a write-ahead intent: only where replaying one could duplicate.
        self.unsafe_creates = "create" in self.dest.actions and not replay_safe(sink, "create")
        self.find_first = isinstance(sink, Matchable) and bool(sink.match_always)
        self._on_adopt = on_adopt
        # When the key map holds no id of this entity, no batch needs a look-up (first sync);
        # when the step had no hashes at its start, none of this run's keys has one either
        # (its own earlier batches never reach here: the seen set drops them).
        self.keymap_has_ids = True
        self.fresh_step = False

    def decisions(self, fresh: Sequence[tuple[Key, Transformed, str]], sent: Sent, *,
                  rewrite_all: bool, blocked: Collection[Key] = ()) -> list[Decision]:
        """Judge ``fresh`` against the stored hashes and key map (and, for a destination
        that matches before every create, against what it holds)."""
        step, state = self.step, self.state
        keys = [k for k, _, _ in fresh]
        stored = (state.get_hashes(self.job, step.name, keys)
                  if keys and not self.fresh_step else {})
        echo = EchoVerdicts()
        if step.echo_guard is not None:
            echo = echo_verdicts(step, self.job, state,
                                 [f for f in fresh if f[0] not in blocked] if blocked else fresh)
            sent.echoes_used.extend(echo.used)
        if echo.echoed or echo.changed:
            candidates = [k for k, _, h in fresh
                          if k not in echo.echoed
                          and (rewrite_all or stored.get(k) != h or k in echo.changed)]
        else:
            candidates = keys if rewrite_all else [k for k, _, h in fresh if stored.get(k) != h]
        known = (state.keymap_get(self.job, step.entity_name, candidates)
                 if candidates and self.keymap_has_ids else {})
        # Only a destination that matches before every create asks which keys are missing.
        missing = ([k for k in candidates if k not in known and k not in blocked]
                   if self.find_first else [])
        if missing:
            assert isinstance(self.sink, Matchable)
            adopted, doubled = match_ids(self.sink, missing, step.on_duplicate, known)
            known = {**known, **adopted}
            sent.ids.update(adopted)
            if doubled and self._on_adopt is not None:
                self._on_adopt(doubled)
        return decide(fresh, stored=stored, known=known, dest=self.dest,
                      rewrite_all=rewrite_all, blocked=blocked, echoed=echo.echoed,
                      changed=echo.changed)

    def write(self, decisions: Sequence[Decision], sent: Sent,
              sources: Callable[[Decision], Any]) -> None:
        """Write the decisions that are writes; account every decision in ``sent``."""
        job, step = self.job, self.step
        todo = [d for d in decisions if d.kind in WRITES]
        for d in decisions:
            if d.kind == "unchanged":
                sent.unchanged += 1
                # Its source row changed (or had no hash) but not the record: keep the new
                # source hash so that the next changes run skips its mapping.
                if d.item.source_hash is not None:
                    sent.sources[d.key] = d.item.source_hash
            elif d.kind == "echoed":
                # The destination holds this value: it is where the other step read it.
                sent.count("echoed")
                sent.hashes[d.key] = d.digest
                if d.item.source_hash is not None:
                    sent.sources[d.key] = d.item.source_hash
            elif d.kind == "skip":
                sent.count("skipped")
                sent.quarantine.append((d.key, source_json(sources(d)), redact(d.reason)))
        if not todo:
            return
        ops = self._write_ops(todo)
        guarded = {op.key: op.idempotency_key or "" for op in ops if op.action == "create"}
        if guarded and self.unsafe_creates:
            self.state.intents_put(job, step.name, guarded, self.run_id)
            sent.resolved.extend(guarded)
        outcomes = self.retrier(lambda: checked_write(self.sink, ops, self.what),
                                f"{self.what}: writing a batch")
        remember = bool(step.echo_fields)
        if not self.dry_run:
            hooks.after_write()
        hashes, source_hashes, ids = sent.hashes, sent.sources, sent.ids
        counted: dict[str, int] = {}  # added to sent.counts once, not per record
        for d, outcome in zip(todo, outcomes, strict=True):
            if not outcome.ok:
                reason = redact(outcome.error or "refused by the destination")
                sent.quarantine.append((d.key, source_json(sources(d)), reason))
                continue
            key = d.key
            hashes[key] = d.digest
            source_hash = d.item.source_hash
            if source_hash is not None:
                source_hashes[key] = source_hash
            dest_id = outcome.dest_id
            # An id the key map holds already is not written again: an incremental run's
            # updates made every batch's commit upsert a thousand entries that did not change
            # (a 1,000-record commit: 43-47 -> 26-33 ms of CPU, measured).
            if dest_id is not None and (dest_id := str(dest_id)) != d.dest_id:
                ids[key] = dest_id
            children = getattr(outcome, "children", None)
            if children:
                for level, found in children.items():
                    sent.captured.setdefault(level, {}).update(found)
            ignored = getattr(outcome, "ignored", False)
            if remember and not ignored:  # an ignored answer put nothing there to echo
                sent.echoes[key] = remembered(step, d.item.record)
            kind = "ignored" if ignored else _COUNTED[d.kind]
            counted[kind] = counted.get(kind, 0) + 1
        for kind, n in counted.items():
            sent.count(kind, n)

    def commit(self, sent: Sent, read_now: int, *, released: Sequence[int] = ()) -> None:
        step = self.step
        for level in sent.levels:  # a record's hash lands only after its whole entity's
            self.state.commit_batch(level)
        counts = RunCounts(read=read_now, written=sent.written, unchanged=sent.unchanged,
                           quarantined=len(sent.quarantine),
                           echoed=sent.counts.get("echoed", 0))
        self.state.commit_batch(BatchCommit(
            run_id=self.run_id, job=self.job, step=step.name, entity=step.entity_name,
            hashes=sent.hashes, keymap=sent.ids, quarantine=sent.quarantine,
            counts=counts, resolved=sent.resolved, released=released,
            source_hashes=sent.sources, echoes=sent.echoes, echoes_used=sent.echoes_used,
        ))
