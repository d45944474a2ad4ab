"""Retrying quarantined records: ``commerce-sync quarantine retry``.

A retry re-reads the source for the quarantined keys (a key filter pushed into the source, with
the step's own filter), so a record fixed at the source is sent as it is now, and runs the
step's current mapping: fixing the data or the mapping and retrying are the normal repairs. A
key the source no longer has, or no longer selects, is left in quarantine and reported. Where
the re-read is impossible (a source that cannot filter by key, a key computed by the mapping, a
record without a key) the stored SOURCE row is sent again instead, the step's filter not
applied again, each row alone even where the step nests rows; the report says so. A record
that succeeds is written, hashed and released in one commit; one that fails again stays, with
its attempts bumped (records without a key, such as unreadable lines, keep their count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.api import ConnectorContext, ReadRequest
from runner.errors import ConfigError, SyncError, redact
from runner.spec import All, Compare, Filter, Job, Step
from runner.state.base import BatchCommit, Key, QuarantinedRecord, RunCounts, StateStore
from runner.transforms import Transformed, compile_step, row_hash

from .ops import norm_key, write_ops
from .reading import (
    KeymapCache,
    RowStream,
    default_context,
    load_lookups,
    open_sink,
    open_source,
    split_filter,
)
from .retry import call_with_retry
from .runner import default_owner
from .step import RunEnv, checked_write, source_json

__all__ = ["RetryReport", "retry_quarantined"]


@dataclass
class RetryReport:
    released: int = 0
    failed: int = 0
    missing: list[int] = field(default_factory=list)  # ids not found in the store
    errors: list[str] = field(default_factory=list)  # steps that could not be retried
    reread: int = 0  # records read again from the source
    gone: list[int] = field(default_factory=list)  # ids the source no longer has or selects
    notes: list[str] = field(default_factory=list)  # steps whose stored records were re-sent


def _find_step(project: Any, job: str, step: str) -> tuple[Job, Step]:
    found = project.job(job)
    for candidate in found.steps:
        if candidate.name == step:
            return found, candidate
    raise ConfigError(f"job {job!r} no longer has a step named {step!r}; drop its records with "
                      f"`commerce-sync quarantine drop --all --job {job}`")


def retry_quarantined(
    project: Any,
    state: StateStore,
    *,
    ids: Sequence[int] | None = None,
    job: str | None = None,
    connector_context: Callable[..., ConnectorContext] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    owner: str | None = None,
    wait_s: float = 0.0,
) -> RetryReport:
    """Re-feed quarantined records (``ids``, or all of them, optionally of one ``job``)
    through their step's transforms and destination."""
    report = RetryReport()
    records: list[QuarantinedRecord] = []
    if ids:
        for qid in ids:
            rec = state.quarantine_get(qid)
            if rec is None:
                report.missing.append(qid)
            elif job is None or rec.job == job:
                records.append(rec)
    else:
        records = state.quarantine_list(job)
    groups: dict[tuple[str, str], list[QuarantinedRecord]] = {}
    for rec in records:
        groups.setdefault((rec.job, rec.step), []).append(rec)
    for (job_name, step_name), recs in groups.items():
        try:
            found_job, step = _find_step(project, job_name, step_name)
        except (ConfigError, KeyError) as exc:
            report.errors.append(redact(str(exc)))
            report.failed += len(recs)
            continue
        env = RunEnv(job=found_job.name, state=state,
                     context=connector_context or default_context, sleep=sleep)
        with state.job_lock(found_job.name, owner or default_owner(), wait_s):
            run_id = state.begin_run(found_job.name, step.name, "quarantine-retry")
            try:
                released, failed = _retry_step(step, env, run_id, recs, report)
            except SyncError as exc:
                state.finish_run(run_id, "failed", redact(str(exc)))
                report.errors.append(f"{job_name}/{step_name}: {redact(str(exc))}")
                report.failed += len(recs)
                continue
            state.finish_run(run_id, "succeeded")
        report.released += released
        report.failed += failed
    return report


def _source_of(item: Any, rec: QuarantinedRecord) -> dict[str, Any]:
    """What to store again: the row as read now where it was re-read, else the stored one."""
    source = getattr(item, "source", None)
    return dict(source) if isinstance(source, dict) else dict(rec.record)


def _key_source_fields(step: Step) -> tuple[str, ...] | None:
    """The source fields the step's key is copied from, or None where the mapping computes it
    (then the source cannot be asked for a key)."""
    if step.mappings is None:
        return step.key
    by_target = {fm.target: fm for fm in step.mappings}
    fields = []
    for name in step.key:
        fm = by_target.get(name)
        plain = fm is not None and fm.field is not None and fm.lookup is None and (
            fm.keymap is None and fm.expr is None and not fm.coalesce and fm.type in (None,
                                                                                   "string"))
        if fm is None or not plain or fm.field is None:
            return None
        fields.append(fm.field)
    return tuple(fields)


def _key_filter(fields: tuple[str, ...], recs: list[QuarantinedRecord]) -> Filter | None:
    """``field in (values...)`` per key field, the values as the source gave them (the stored
    row keeps their type: an integer id stays an integer for the database)."""
    values: list[list[Any]] = [[] for _ in fields]
    for rec in recs:
        for index, name in enumerate(fields):
            value = rec.record.get(name, rec.key[index] if rec.key else None)
            if value is not None and value not in values[index]:
                values[index].append(value)
    if not any(values):
        return None
    parts = [Compare(name, "in", tuple(vals)) for name, vals in zip(fields, values, strict=True)]
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _reread(step: Step, env: RunEnv, recs: list[QuarantinedRecord], lookups: Any,
            keymap: KeymapCache) -> tuple[dict[Key, list[Any]] | None, str]:
    """The step's items for the quarantined keys, read again from the source (``{key:
    items}``), or None and why the source cannot be asked."""
    fields = _key_source_fields(step)
    if fields is None:
        return None, "its key is computed by the mapping"
    by_key = _key_filter(fields, [r for r in recs if r.key is not None])
    if by_key is None:
        return None, "the records have no key"
    ctx = env.context(job=env.job, step=step.name, key_fields=step.key)
    source = open_source(step.source, ctx)
    try:
        if source.pushdown(by_key) is not None:
            return None, "the source cannot filter by key"
        wanted = by_key if step.filter is None else All((by_key, step.filter))
        pushed, residual = split_filter(source, wanted)
        compiled = compile_step(step, lookups=lookups, keymap=keymap, residual_filter=residual)
        stream = RowStream(source, ReadRequest(filter=pushed), step.errors.retry,
                           what=f"{env.job}/{step.name}: re-reading quarantined keys",
                           sleep=env.sleep)
        found: dict[Key, list[Any]] = {}
        for item in compiled.apply(stream):
            if item.key is not None:
                found.setdefault(norm_key(item.key), []).append(item)
        return found, ""
    finally:
        source.close()


def _retry_step(step: Step, env: RunEnv, run_id: int, recs: list[QuarantinedRecord],
                report: RetryReport) -> tuple[int, int]:
    state, job = env.state, env.job
    keymap = KeymapCache(state, job)
    ctx = env.context(job=job, step=step.name, key_fields=step.key)
    sink = open_sink(step.destination, ctx)
    try:
        lookups = load_lookups(step, job=job, context=env.context, sleep=env.sleep)
        compiled = compile_step(step, lookups=lookups, keymap=keymap, residual_filter=None)
        fresh, why = _reread(step, env, recs, lookups, keymap)
        if fresh is None or any(r.key is None for r in recs):
            report.notes.append(f"{job}/{step.name}: {why or 'some records have no key'}, so "
                                "the stored record was sent again")
        quarantine: list[tuple[Key | None, dict[str, Any], str]] = []
        planned: list[tuple[QuarantinedRecord, list[tuple[Key, Transformed, str]]]] = []
        for rec in recs:
            if fresh is not None and rec.key is not None:
                if rec.key not in fresh:
                    report.gone.append(rec.id)  # left as it is: nothing to send
                    continue
                items = fresh[rec.key]
                report.reread += 1
            else:
                items = list(compiled.apply([dict(rec.record)]))
            rejected = [i for i in items if not isinstance(i, Transformed)]
            if rejected:
                reason = redact(rejected[0].reason)
                quarantine.append((rec.key, _source_of(rejected[0], rec), reason))
                continue
            good = [(norm_key(i.key), i, row_hash(i.record)) for i in items
                    if isinstance(i, Transformed)]
            planned.append((rec, good))
        flat = [g for _, goods in planned for g in goods]
        known = state.keymap_get(job, step.entity_name, [k for k, _, _ in flat]) if flat else {}
        ops = write_ops(job, step.name, flat, known)
        outcomes = (
            call_with_retry(lambda: checked_write(sink, ops, f"{job}/{step.name}"),
                            step.errors.retry, what=f"{job}/{step.name}: retrying quarantine",
                            sleep=env.sleep)
            if ops else []
        )
        by_key = {op.key: out for op, out in zip(ops, outcomes, strict=True)}
        hashes: dict[Key, str] = {}
        ids: dict[Key, str] = {}
        released: list[int] = []
        for rec, goods in planned:
            errors = [by_key[k].error or "refused" for k, _, _ in goods if not by_key[k].ok]
            if errors:
                quarantine.append((rec.key, _source_of(goods[0][1], rec), redact(errors[0])))
                continue
            for k, _, h in goods:
                hashes[k] = h
                if by_key[k].dest_id is not None:
                    ids[k] = str(by_key[k].dest_id)
            released.append(rec.id)
        # Keyless records would be inserted anew rather than bumped: leave those rows as
        # they are instead of duplicating them.
        requeue = [(k, source_json(r), reason) for k, r, reason in quarantine if k is not None]
        state.commit_batch(
            BatchCommit(
                run_id=run_id, job=job, step=step.name, entity=step.entity_name,
                hashes=hashes, keymap=ids, quarantine=requeue, released=released,
                counts=RunCounts(read=len(recs), written=len(hashes),
                                 quarantined=len(quarantine)),
            )
        )
        return len(released), len(recs) - len(released)
    finally:
        sink.close()
