"""Drift audit: what the source says now against what the destination holds, field by field.

An audit reads the source as a complete run would (read, filter, transform; nothing is
written), lists the destination to its last page with each object's fields
(:class:`connectors.api.RecordListable`) and compares the two on the fields the step maps, or
its ``compare:`` subset with tolerances. It finds:

- ``missing``: selected in the source, absent at the destination;
- ``unselected``: held by the destination, no longer selected, under a step that removes
  (``delete: delete|unpublish``; an unpublished object that still looks removed, by
  ``compare.removed``, is not drift);
- ``differs``: a compared field differs and the source wins it;
- ``kept``: a compared field differs and the destination wins it (reported, never drift);
- ``duplicate``: one natural key held by several objects;
- ``stale_child``: an ``unselected`` object of a step with ``parent:`` whose recorded parent
  is gone or unpublished (a stock row of a product no longer sold online).

Memory holds the destination's listing (compared fields only) and the drifted records; the
source streams. ``--repair`` hands the drift to :mod:`runner.engine.repair`, which writes it
through the normal write path (:class:`~runner.engine.batch.BatchWriter`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from connectors.api import RecordListable, Sink
from runner.errors import ConfigError, SyncError, redact
from runner.spec import Step
from runner.state.base import Key, StateStore
from runner.state.relations import parents_of
from runner.transforms import Transformed, compile_step, jsonable, row_hash

from .fullsync import UNPUBLISHED
from .intents import choose_id
from .ops import norm_key
from .reading import (
    ContextFactory,
    KeymapCache,
    RowStream,
    load_lookups,
    open_sink,
    open_source,
    read_request,
    split_filter,
)
from .retry import Retrier

__all__ = ["DRIFT_KINDS", "AuditEnv", "Drift", "StepAudit", "audit_job", "audit_step", "same"]

log = logging.getLogger(__name__)

# The kinds that count as drift (fail an audit, are repaired); ``kept`` is reported only.
DRIFT_KINDS = ("missing", "unselected", "stale_child", "differs", "duplicate")
SAMPLES = 20


@dataclass(frozen=True)
class Drift:
    """One finding. ``fields``: name -> (source value, destination value)."""

    kind: str
    key: Key
    dest_id: str | None = None
    fields: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": list(self.key)}
        if self.dest_id is not None:
            out["dest_id"] = self.dest_id
        if self.fields:
            out["fields"] = {k: {"source": s, "destination": d}
                             for k, (s, d) in self.fields.items()}
        if self.ids:
            out["ids"] = list(self.ids)
        return out


@dataclass
class StepAudit:
    """What an audit of one step found (and, with ``--repair``, wrote)."""

    job: str
    step: str
    status: str = "clean"  # clean | drift | repaired | skipped | failed
    error: str | None = None
    source_records: int = 0
    dest_records: int = 0
    rejected: int = 0  # source records the transforms refused (see quarantine after a run)
    counts: dict[str, int] = field(default_factory=dict)
    samples: list[Drift] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)
    scan_s: float = 0.0
    repair_s: float = 0.0
    # What a repair needs: the source's records that are missing or differ, the objects to
    # remove, the ids the listing showed, and the keys held twice.
    writes: list[tuple[Transformed, str]] = field(default_factory=list, repr=False)
    removals: list[tuple[Key, str]] = field(default_factory=list, repr=False)
    listed_ids: dict[Key, str] = field(default_factory=dict, repr=False)
    doubled: dict[Key, list[str]] = field(default_factory=dict, repr=False)

    @property
    def drift(self) -> int:
        return sum(self.counts.get(k, 0) for k in DRIFT_KINDS)

    def note(self, finding: Drift) -> None:
        self.counts[finding.kind] = self.counts.get(finding.kind, 0) + 1
        if sum(1 for s in self.samples if s.kind == finding.kind) < SAMPLES:
            self.samples.append(finding)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job, "step": self.step, "status": self.status, "error": self.error,
            "source_records": self.source_records, "dest_records": self.dest_records,
            "rejected": self.rejected, "drift": self.drift,
            "counts": {k: self.counts.get(k, 0) for k in (*DRIFT_KINDS, "kept")},
            "repaired": self.repaired, "scan_s": round(self.scan_s, 3),
            "repair_s": round(self.repair_s, 3),
            "samples": [s.as_dict() for s in self.samples],
        }


@dataclass
class AuditEnv:
    job: str
    state: StateStore
    context: ContextFactory
    sleep: Callable[[float], None] = time.sleep


# --- comparing values ----------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal, str)):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return None


def same(src: Any, dst: Any, tolerance: float = 0.0) -> bool:
    """Whether the destination holds the source's value. Numbers compare by value within
    ``tolerance`` whatever their type (the source's Decimal "9.90" and a store's 9.9 are
    equal); objects compare on the source's fields (a destination adds its own ids and
    stamps); lists item by item."""
    if src is None or dst is None:
        return src is None and dst is None
    if isinstance(src, dict) and isinstance(dst, dict):
        return all(same(v, dst.get(k), tolerance) for k, v in src.items())
    if isinstance(src, list) and isinstance(dst, list):
        return len(src) == len(dst) and all(
            same(a, b, tolerance) for a, b in zip(src, dst, strict=True))
    if isinstance(src, bool) or isinstance(dst, bool):
        return src is dst  # True == 1 in Python, not in a store's JSON
    if src == dst:
        return True
    a, b = _number(src), _number(dst)
    if a is None or b is None or not (a.is_finite() and b.is_finite()):
        return False
    if isinstance(src, str) and isinstance(dst, str):
        return False  # two texts that read as numbers are still texts ("007" is not "7")
    return abs(a - b) <= Decimal(str(tolerance))


def compared_fields(step: Step) -> tuple[str, ...] | None:
    """The fields an audit compares: the ``compare:`` subset, else every mapped field, else
    (no ``map:``) every field of the source's record."""
    if step.compare.fields:
        return tuple(f.name for f in step.compare.fields)
    if step.mappings is not None:
        return tuple(m.target for m in step.mappings)
    return None


def _differences(step: Step, record: Mapping[str, Any], held: Mapping[str, Any],
                 names: tuple[str, ...] | None) -> dict[str, tuple[Any, Any]]:
    tolerance = {f.name: f.tolerance for f in step.compare.fields}
    out = {}
    for name in names if names is not None else tuple(record):
        src, dst = record.get(name), held.get(name)
        if not same(src, dst, tolerance.get(name, 0.0)):
            out[name] = (src, dst)
    return out


# --- the scan ------------------------------------------------------------------------------


class _Listing:
    """The destination's objects by natural key: ids in listing order, and the compared
    fields of each (the rest is dropped as it is read, so memory follows the compared part)."""

    def __init__(self, sink: RecordListable, names: tuple[str, ...] | None,
                 removed: Mapping[str, Any]) -> None:
        keep = None if names is None else set(names) | set(removed)
        # Each object's fields are held as JSON bytes until compared, copied out of orjson's
        # buffer: orjson's own bytes, held by the hundred thousand, left the heap fragmented
        # (300,000 products: 778 MB as dicts, 1,296 MB as orjson's bytes, 284 MB as copies).
        self.objects: dict[Key, list[tuple[str, bytes]]] = {}
        self.count = 0
        for key, dest_id, record in sink.list_records():
            self.count += 1
            held = record if keep is None else {k: record.get(k) for k in keep}
            self.objects.setdefault(norm_key(key), []).append(
                (str(dest_id), bytes(memoryview(orjson.dumps(held, default=_plain)))))


def _plain(value: Any) -> Any:
    # What orjson does not encode itself: a SQL destination's NUMERIC columns, mostly. A
    # number stays a number (the comparison is by value, within the tolerance).
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _fields(blob: bytes) -> dict[str, Any]:
    return dict(orjson.loads(blob))


def _source_items(step: Step, env: AuditEnv, sink: Sink) -> Iterator[Any]:
    retrier = Retrier(step.errors.retry, env.sleep)
    ctx = env.context(job=env.job, step=step.name, key_fields=step.key)
    ctx = dataclasses.replace(ctx, retry=retrier, sleep=env.sleep)
    source = open_source(step.source, ctx)
    try:
        lookups = load_lookups(step, job=env.job, context=env.context, sleep=env.sleep)
        pushed, residual = split_filter(source, step.filter)
        compiled = compile_step(step, lookups=lookups, keymap=KeymapCache(env.state, env.job),
                                residual_filter=residual)
        request = read_request(step, "full", env.state, env.job, pushed,
                               None if compiled.reads_all_fields else compiled.required_fields)
        stream = RowStream(source, request, retrier, what=f"{env.job}/{step.name} audit")
        yield from compiled.apply(stream)
    finally:
        source.close()


def _pick(step: Step, state: StateStore, job: str, key: Key,
          objects: list[tuple[str, bytes]], result: StepAudit) -> tuple[str, dict[str, Any]]:
    """The object a key maps to; a key held twice is reported and the object its policy
    keeps is compared."""
    if len(objects) == 1:
        return objects[0][0], _fields(objects[0][1])
    ids = [i for i, _ in objects]
    current = state.keymap_get(job, step.entity_name, [key]).get(key)
    chosen = choose_id(ids, step.on_duplicate, current)
    result.doubled[key] = ids
    result.note(Drift("duplicate", key, chosen, ids=tuple(ids)))
    return next((i, _fields(blob)) for i, blob in objects if i == chosen)


def _judge(step: Step, item: Transformed, held: tuple[str, dict[str, Any]],
           names: tuple[str, ...] | None, result: StepAudit) -> None:
    dest_id, record = held
    result.listed_ids[item.key] = dest_id
    diffs = _differences(step, jsonable(item.record), record, names)
    if not diffs:
        return
    ours = {k: v for k, v in diffs.items() if step.compare.winner(k) == "source"}
    theirs = {k: v for k, v in diffs.items() if k not in ours}
    if theirs:
        result.note(Drift("kept", item.key, dest_id, theirs))
    if ours:
        result.note(Drift("differs", item.key, dest_id, ours))
        # A repair sends the whole record: fields the destination wins keep its value.
        patched = {**item.record, **{k: record.get(k) for k in theirs}}
        result.writes.append((dataclasses.replace(item, record=patched),
                              row_hash(item.record)))


def _leftovers(step: Step, env: AuditEnv, listing: _Listing, result: StepAudit) -> None:
    """Objects the source no longer selects: drift where the step removes them."""
    if step.delete == "ignore" or not listing.objects:
        return
    removed = step.compare.removed
    keys = list(listing.objects)
    unpublished: dict[Key, str] = {}
    if step.delete == "unpublish" and not removed:
        for start in range(0, len(keys), 1000):
            unpublished.update(env.state.get_hashes(env.job, step.name, keys[start:start + 1000]))
    orphans = _orphans(step, env, keys)
    for key in keys:
        for dest_id, blob in listing.objects[key]:
            result.listed_ids.setdefault(key, dest_id)
            if step.delete == "unpublish":
                record = _fields(blob)
                if removed and all(same(v, record.get(k)) for k, v in removed.items()):
                    continue
                if not removed and unpublished.get(key) == UNPUBLISHED:
                    continue
            result.note(Drift("stale_child" if key in orphans else "unselected", key, dest_id))
            result.removals.append((key, dest_id))


def _orphans(step: Step, env: AuditEnv, keys: list[Key]) -> set[Key]:
    """Those of ``keys`` whose recorded parent the parent step no longer holds live."""
    if step.parent is None or not keys:
        return set()
    parents = parents_of(env.state, env.job, step.name, keys)
    wanted = sorted(set(parents.values()))
    live: set[Key] = set()
    for start in range(0, len(wanted), 1000):
        stored = env.state.get_hashes(env.job, step.parent.step, wanted[start:start + 1000])
        live.update(k for k, h in stored.items() if h != UNPUBLISHED)
    return {k for k, p in parents.items() if p not in live}


def _scan(step: Step, env: AuditEnv, sink: RecordListable, result: StepAudit) -> None:
    names = compared_fields(step)
    listing = _Listing(sink, names, step.compare.removed)
    result.dest_records = listing.count
    seen: set[Key] = set()
    assert isinstance(sink, Sink)
    for item in _source_items(step, env, sink):
        if not isinstance(item, Transformed):
            result.rejected += 1
            if item.key is not None:
                seen.add(tuple(item.key))
                listing.objects.pop(tuple(item.key), None)
            continue
        if item.key in seen:
            continue
        seen.add(item.key)
        result.source_records += 1
        objects = listing.objects.pop(item.key, None)
        if objects is None:
            result.note(Drift("missing", item.key))
            result.writes.append((item, row_hash(item.record)))
            continue
        _judge(step, item, _pick(step, env.state, env.job, item.key, objects, result),
               names, result)
    _leftovers(step, env, listing, result)


def audit_step(step: Step, env: AuditEnv, *, repair: bool = False) -> StepAudit:
    """Audit one step (and with ``repair`` write its drift). Connector and state failures end
    up in the result (status ``failed``); a configuration error is raised."""
    from .repair import repair_step

    result = StepAudit(job=env.job, step=step.name)
    started = time.monotonic()
    ctx = env.context(job=env.job, step=step.name, key_fields=step.key)
    retrier = Retrier(step.errors.retry, env.sleep)
    ctx = dataclasses.replace(ctx, retry=retrier, sleep=env.sleep)
    try:
        sink = open_sink(step.destination, ctx)
        try:
            if not isinstance(sink, RecordListable):
                result.status = "skipped"
                result.error = ("its destination cannot be listed with its fields; add "
                                "destination.list (path, records, key_fields, id_path)")
                return result
            _scan(step, env, sink, result)
            result.scan_s = time.monotonic() - started
            result.status = "drift" if result.drift else "clean"
            if repair and (result.writes or result.removals or result.listed_ids):
                begun = time.monotonic()
                repair_step(step, env.job, env.state, sink, retrier, result)
                result.repair_s = time.monotonic() - begun
        finally:
            sink.close()
    except ConfigError:
        raise
    except SyncError as exc:
        result.status, result.error = "failed", redact(str(exc))
    log.info("audit.step", extra={"job": env.job, "step": step.name, "status": result.status,
                                  "rows": result.source_records, "drift": result.drift,
                                  "duration_s": round(time.monotonic() - started, 3)})
    return result


def audit_job(job: Any, *, project: Any, state: StateStore, steps: Any = None,
              repair: bool = False, context: ContextFactory | None = None,
              sleep: Callable[[float], None] = time.sleep,
              owner: str | None = None) -> list[StepAudit]:
    """Audit every step of ``job`` (a composite: of the jobs it runs, in order). A repair
    holds the job's lock, as a run does, so it never writes beside a run of the same job."""
    from .reading import default_context
    from .runner import default_owner, select_steps

    if job.is_composite:
        if project is None:
            raise ConfigError(f"job {job.name!r} runs other jobs; load the whole pipelines "
                              "directory so they can be found")
        found: list[StepAudit] = []
        for name in job.jobs:
            found += audit_job(project.job(name), project=project, state=state, steps=steps,
                               repair=repair, context=context, sleep=sleep, owner=owner)
        return found
    selected = select_steps(job, steps)
    env = AuditEnv(job.name, state, context or default_context, sleep)
    if not repair:
        return [audit_step(s, env) for s in selected]
    with state.job_lock(job.name, owner or default_owner(), 0.0):
        return [audit_step(s, env, repair=True) for s in selected]
