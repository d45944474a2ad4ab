"""One entity in one step: a record's dependent calls, level by level, crash-safe.

A destination that declares levels (:class:`connectors.api.Nested`: a product, then its
variants with the product's id, then each variant's stock) is written a batch at a time: the
records first (:class:`~runner.engine.batch.BatchWriter`), then each level in order over the
items of the parents acknowledged in this batch. Each level is a step of its own to the state
store, named ``<step>.<level>`` (``products.variants``):

- its row hashes (one per child, over the child's item and its parent's id): a rerun with
  nothing changed writes nothing, a change to one variant writes that variant's call only;
- its key map entity (the level's ``entity``), so later steps and runs know the child ids;
- its write-ahead intents, keyed ``(job, "<step>.<level>", child key)``. A level has its own
  ``match`` request and its own replay safety, and recovery at the start of a step asks each
  level's own destination about its own keys: one key space per level keeps a variant's sku
  from ever being matched as a product's.

A record's own hash is committed last, after every level's commit: it marks the whole entity
done. A crash anywhere before it leaves the record unhashed, so the rerun sends the record again
(its create recovered through its intent and ``match``, an update otherwise) and then the levels,
where the children already acknowledged are unchanged by their hashes. A child the destination
refused quarantines its record (the entity is not whole) with the level's reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.api import ChildLevel, Matchable, Nested, Sink
from runner.spec import Step
from runner.state.base import BatchCommit, Key, StateStore
from runner.transforms import Transformed, row_hash

from .batch import BatchWriter, Sent, source_json
from .decide import WRITES, Decision
from .intents import recover_intents
from .retry import Retrier

__all__ = ["EntityWriter", "entity_writer"]

# The state's name for the hashes of the records' own parts: no level can be named so.
OWN = "@record"


@dataclass(frozen=True, slots=True)
class _Item:
    root: Key  # the step's record it belongs to (where a failure is quarantined)
    key: Key
    item: Mapping[str, Any]
    dest_id: str | None


def _path(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _key_text(key: Key) -> str:
    return key[0] if len(key) == 1 else ",".join(key)


def entity_writer(step: Step, sink: Sink, **kw: Any) -> EntityWriter | None:
    """The levels' writer of ``sink``, or None when it declares no dependent calls."""
    if not isinstance(sink, Nested):
        return None
    levels = list(sink.child_levels())
    return EntityWriter(step, levels, **kw) if levels else None


class EntityWriter:
    """Writes the levels under the records of one step's batches."""

    def __init__(self, step: Step, levels: Sequence[ChildLevel], *, job: str,
                 state: StateStore, run_id: int, retrier: Retrier) -> None:
        self.step = step
        self.levels = levels
        self.job = job
        self.state = state
        self.run_id = run_id
        self.writers: dict[str, BatchWriter] = {}
        self.blocked: dict[str, set[Key]] = {}
        # Fields only the levels send (a variants list whose stock goes in calls of its own):
        # a change there alone needs no call for the record itself.
        self.own_fields = frozenset(
            level.for_each.split(".", 1)[0] for level in levels
            if not level.parent and level.for_each and not level.parent_sends)
        for level in levels:
            if level.sink is not None:
                sub = dataclasses.replace(step, name=self.step_name(level), entity=level.entity,
                                          key=level.key_fields)
                self.writers[level.name] = BatchWriter(sub, job=job, state=state,
                                                       sink=level.sink, run_id=run_id,
                                                       retrier=retrier)

    def step_name(self, level: ChildLevel) -> str:
        return f"{self.step.name}.{level.name}"

    def recover(self) -> None:
        """Settle each level's intents left by an interrupted run (see :mod:`.intents`)."""
        for name, writer in self.writers.items():
            self.blocked[name] = recover_intents(
                self.state, writer.sink, job=self.job, step=writer.step.name,
                entity=writer.step.entity_name, run_id=self.run_id,
                policy=self.step.on_duplicate)

    def write(self, writer: BatchWriter, decisions: Sequence[Decision], sent: Sent,
              sources: Callable[[Decision], Any], *, rewrite_all: bool) -> None:
        """``writer.write`` of the records whose own part changed, then every level."""
        todo, quiet, own = self._split(decisions, rewrite_all)
        writer.write(todo, sent, sources)
        if own:
            sent.levels.append(BatchCommit(
                run_id=self.run_id, job=self.job, step=f"{self.step.name}.{OWN}",
                entity=self.step.entity_name,
                hashes={k: h for k, h in own.items() if k in sent.hashes}))
        for d in quiet:  # acknowledged as it stands; whole once its levels are
            sent.hashes[d.key] = d.digest
        self.send([*todo, *quiet], sent, rewrite_all=rewrite_all)

    def _split(self, decisions: Sequence[Decision], rewrite_all: bool
               ) -> tuple[list[Decision], list[Decision], dict[Key, str]]:
        """(the records to send, those whose own part is as acknowledged, own hashes)."""
        if not self.own_fields:
            return list(decisions), [], {}
        own = {d.key: row_hash({k: v for k, v in d.item.record.items()
                                if k not in self.own_fields})
               for d in decisions if d.kind in WRITES}
        known = [d.key for d in decisions if d.kind in WRITES and d.dest_id is not None]
        stored = (self.state.get_hashes(self.job, f"{self.step.name}.{OWN}", known)
                  if known and not rewrite_all else {})
        quiet = [d for d in decisions if d.key in stored and stored[d.key] == own[d.key]]
        skipped = {d.key for d in quiet}
        return [d for d in decisions if d.key not in skipped], quiet, own

    def send(self, decisions: Sequence[Decision], sent: Sent, *, rewrite_all: bool) -> None:
        """Write every level under the records of ``sent`` that the destination acknowledged;
        the levels' commits go in ``sent.levels``."""
        written = {d.key: d for d in decisions if d.kind in WRITES and d.key in sent.hashes}
        if not written:
            return
        by_level: dict[str, list[_Item]] = {"": [
            _Item(k, k, d.item.record, sent.ids.get(k) or d.dest_id) for k, d in written.items()
        ]}
        failed: dict[Key, str] = {}
        for level in self.levels:
            parents = [p for p in by_level.get(level.parent, []) if p.root not in failed]
            by_level[level.name] = self._level(level, parents, sent, failed, rewrite_all)
        for root, reason in failed.items():
            sent.hashes.pop(root, None)  # the entity is not whole: the next run sends it again
            sent.quarantine.append((root, source_json(written[root].item.source), reason))

    def _expand(self, level: ChildLevel, parents: Sequence[_Item], failed: dict[Key, str]
                ) -> list[tuple[_Item, Key, Mapping[str, Any]]]:
        found = []
        for parent in parents:
            items = [parent.item] if level.for_each is None else _path(parent.item,
                                                                      level.for_each)
            if items is None:
                items = []
            # type() first: an ABC's isinstance costs ~0.4 us an item, and items are dicts.
            if not isinstance(items, list) or not all(
                    type(i) is dict or isinstance(i, Mapping) for i in items):
                failed.setdefault(parent.root, f"{level.name}: for_each {level.for_each!r} is "
                                  "not a list of objects in this record; fix the mapping")
                continue
            for item in items:
                values = [item.get(f) for f in level.key_fields]
                if any(v is None for v in values):
                    failed.setdefault(parent.root, (
                        f"{level.name}: an item has no {'/'.join(level.key_fields)} (the "
                        "level's key); every item needs its key"))
                    break
                found.append((parent, tuple(str(v) for v in values), item))
        return found

    def _level(self, level: ChildLevel, parents: Sequence[_Item], sent: Sent,
               failed: dict[Key, str], rewrite_all: bool) -> list[_Item]:
        children = self._expand(level, parents, failed)
        captured = sent.captured.get(level.name, {})
        done = Sent()
        fresh: list[tuple[Key, Transformed, str]] = []
        roots: dict[Key, Key] = {}
        ids: dict[Key, str | None] = {}
        for parent, key, item in children:
            if parent.root in failed:
                continue
            record = {"item": dict(item), "parent": {
                "id": parent.dest_id, "key": _key_text(parent.key), "item": parent.item}}
            digest = row_hash({"item": record["item"], "parent": parent.dest_id})
            roots[key] = parent.root
            if key in captured:  # created or answered inline by the parent's call
                done.hashes[key], done.ids[key] = digest, captured[key]
                ids[key] = captured[key]
            elif level.name in self.writers:
                fresh.append((key, Transformed(record, key, item), digest))
            else:
                ids[key] = None
        writer = self.writers.get(level.name)
        if writer is not None and fresh:
            # A complete run may follow a lost state store: the level's key map is gone, so
            # before creating, ask the destination what it holds (the records' own ids are
            # re-learned from the listing; a level has no listing).
            writer.find_first = isinstance(writer.sink, Matchable) and (
                rewrite_all or bool(writer.sink.match_always))
            decisions = writer.decisions(fresh, done, rewrite_all=rewrite_all,
                                         blocked=self.blocked.get(level.name, set()))
            writer.write(decisions, done, lambda d: d.item.source)
            for d in decisions:
                ids[d.key] = done.ids.get(d.key) or d.dest_id
        for refused, _source, reason in done.quarantine:
            if refused is not None and refused in roots:
                failed.setdefault(roots[refused], f"{level.name} {_key_text(refused)}: {reason}")
                ids.pop(refused, None)
        unknown = [k for k, v in ids.items() if v is None]
        if unknown:
            ids.update(self.state.keymap_get(self.job, level.entity, unknown))
        for kind, n in done.counts.items():
            sent.count(kind, n)
        sent.levels.append(BatchCommit(
            run_id=self.run_id, job=self.job, step=self.step_name(level), entity=level.entity,
            hashes=done.hashes, keymap=done.ids, resolved=done.resolved))
        for name, more in done.captured.items():
            sent.captured.setdefault(name, {}).update(more)
        return [_Item(roots[key], key, item, ids.get(key))
                for parent, key, item in children
                if key in ids and roots[key] not in failed]
