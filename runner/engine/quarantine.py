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

from connectors.api import ConnectorContext
from runner.errors import ConfigError, SyncError, redact
from runner.spec import Job, Step
from runner.state.base import Key, QuarantinedRecord, StateStore
from runner.transforms import Transformed, compile_step, row_hash

from .batch import BatchWriter, Sent, source_json
from .entity import entity_writer
from .reading import KeymapCache, default_context, load_lookups, open_sink
from .reread import reread, source_of
from .retry import Retrier
from .runner import default_owner
from .step import RunEnv, step_context

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


def _retry_step(step: Step, env: RunEnv, run_id: int, recs: list[QuarantinedRecord],
                report: RetryReport) -> tuple[int, int]:
    """Decide and write the held records through the step's own path (a record whose change
    is already at the destination is released without a write)."""
    state, job = env.state, env.job
    retrier = Retrier(step.errors.retry, env.sleep)
    ctx = step_context(env, step, step.name, step.key, retrier)
    sink = open_sink(step.destination, ctx)
    try:
        writer = BatchWriter(step, job=job, state=state, sink=sink, run_id=run_id,
                             retrier=retrier)
        keymap = KeymapCache(state, job)
        lookups = load_lookups(step, job=job, context=env.context, sleep=env.sleep)
        compiled = compile_step(step, lookups=lookups, keymap=keymap, residual_filter=None)
        now, why = reread(step, env, recs, lookups, keymap, retrier)
        if now is None or any(r.key is None for r in recs):
            report.notes.append(f"{job}/{step.name}: {why or 'some records have no key'}, so "
                                "the stored record was sent again")
        sent = Sent(read_total=len(recs))
        held: list[tuple[QuarantinedRecord, list[Key]]] = []
        fresh: list[tuple[Key, Transformed, str]] = []
        sources: dict[Key, Any] = {}
        for rec in recs:
            if now is not None and rec.key is not None:
                if rec.key not in now:
                    report.gone.append(rec.id)  # left as it is: nothing to send
                    continue
                items = now[rec.key]
                report.reread += 1
            else:
                items = list(compiled.apply([dict(rec.record)]))
            rejected = [i for i in items if not isinstance(i, Transformed)]
            if rejected:
                sent.quarantine.append((rec.key, source_of(rejected[0], rec),
                                        redact(rejected[0].reason)))
                continue
            goods = [(i.key, i, row_hash(i.record)) for i in items if isinstance(i, Transformed)]
            held.append((rec, [k for k, _, _ in goods]))
            fresh.extend(goods)
            sources.update((k, source_of(i, rec)) for k, i, _ in goods)
        # No key is blocked here: retrying a record held after a crash is the user's word
        # that it may be created.
        decisions = writer.decisions(fresh, sent, rewrite_all=False)
        entity = entity_writer(step, sink, job=job, state=state, run_id=run_id,
                               retrier=retrier)
        if entity is not None:  # a record is released only with its whole entity written
            entity.write(writer, decisions, sent, lambda d: sources[d.key], rewrite_all=False)
        else:
            writer.write(decisions, sent, lambda d: sources[d.key])
        failed = {k for k, _, _ in sent.quarantine}
        released = [rec.id for rec, keys in held if not failed.intersection(keys)]
        # Keyless records would be inserted anew rather than bumped: leave those rows as
        # they are instead of duplicating them.
        sent.quarantine = [(k, source_json(r), reason) for k, r, reason in sent.quarantine
                           if k is not None]
        writer.commit(sent, len(recs), released=released)
        return len(released), len(recs) - len(released)
    finally:
        sink.close()
