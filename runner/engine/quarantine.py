"""Retrying quarantined records: ``commerce-sync quarantine retry``.

Quarantine holds the SOURCE row of each refused record (what was read, JSON-encoded), not the
transformed one, so a retry runs the step's current mapping again: fixing a mapping and
retrying is the normal repair. The step's filter is not applied again (the row passed it when it
was read). A record that succeeds is written, hashed and released in one commit; one that fails
again stays, with its attempts bumped (records without a key, such as unreadable lines, keep
their count). Steps that ``nest`` rows see each stored row alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.api import ConnectorContext
from runner.errors import ConfigError, SyncError, redact
from runner.spec import Job, Step
from runner.state.base import BatchCommit, Key, QuarantinedRecord, RunCounts, StateStore
from runner.transforms import Transformed, compile_step, row_hash

from .ops import norm_key, write_ops
from .reading import KeymapCache, default_context, load_lookups, open_sink
from .retry import call_with_retry, with_retrier
from .runner import default_owner
from .step import RunEnv, checked_write, source_json

__all__ = ["RetryReport", "retry_quarantined"]


@dataclass
class RetryReport:
    released: int = 0
    failed: int = 0
    missing: list[int] = field(default_factory=list)  # ids not found in the store
    errors: list[str] = field(default_factory=list)  # steps that could not be retried


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
                released, failed = _retry_step(step, env, run_id, recs)
            except SyncError as exc:
                state.finish_run(run_id, "failed", redact(str(exc)))
                report.errors.append(f"{job_name}/{step_name}: {redact(str(exc))}")
                report.failed += len(recs)
                continue
            state.finish_run(run_id, "succeeded")
        report.released += released
        report.failed += failed
    return report


def _retry_step(step: Step, env: RunEnv, run_id: int,
                recs: list[QuarantinedRecord]) -> tuple[int, int]:
    state, job = env.state, env.job
    keymap = KeymapCache(state, job)
    ctx = env.context(job=job, step=step.name, key_fields=step.key)
    with_retrier(ctx, step.errors.retry, env.sleep)
    sink = open_sink(step.destination, ctx)
    try:
        lookups = load_lookups(step, job=job, context=env.context, sleep=env.sleep)
        compiled = compile_step(step, lookups=lookups, keymap=keymap, residual_filter=None)
        quarantine: list[tuple[Key | None, dict[str, Any], str]] = []
        planned: list[tuple[QuarantinedRecord, list[tuple[Key, Transformed, str]]]] = []
        for rec in recs:
            items = list(compiled.apply([dict(rec.record)]))
            rejected = [i for i in items if not isinstance(i, Transformed)]
            if rejected:
                quarantine.append((rec.key, dict(rec.record), redact(rejected[0].reason)))
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
                quarantine.append((rec.key, dict(rec.record), redact(errors[0])))
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
