"""The dry run behind ``plan``: read and transform like a run, decide like a run, write nothing.

No ``sink.write``, no ``commit_batch``, no run record. Records are judged against the state
store (row hashes, key map) and, where the destination can be listed, against the keys it
holds: a key the destination already has is an update even if this state store never saw it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from connectors.api import Listable, Sink
from runner.errors import redact
from runner.spec import Step, SyncMode
from runner.state.base import Key
from runner.transforms import Rejected, Transformed, compile_step, dedupe_by_key, jsonable, row_hash

from .ops import norm_key
from .reading import (
    KeymapCache,
    RowStream,
    load_lookups,
    open_sink,
    open_source,
    read_request,
    split_filter,
)
from .results import PlanSample, StepPlan
from .retry import with_retrier
from .step import RunEnv, source_json

__all__ = ["SAMPLES", "plan_step"]

log = logging.getLogger(__name__)

SAMPLES = 5


def _safe(record: dict[str, Any]) -> dict[str, Any]:
    data = jsonable(record)
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}


class _Planner:
    def __init__(self, step: Step, env: RunEnv, mode: SyncMode) -> None:
        self.step = step
        self.env = env
        self.mode = mode
        self.plan = StepPlan(job=env.job, step=step.name, mode=mode, delete_action=step.delete,
                             rewrites_unchanged=mode == "full")
        self.seen: set[Key] = set()

    def sample(self, kind: str, sample: PlanSample) -> None:
        bucket = self.plan.samples[kind]
        if len(bucket) < SAMPLES:
            bucket.append(sample)

    def judge(self, items: list[Transformed | Rejected], stream: RowStream,
              listed: dict[Key, str]) -> None:
        state, job, step = self.env.state, self.env.job, self.step
        plan = self.plan
        transformed = [i for i in items if isinstance(i, Transformed)]
        for item in items:
            if isinstance(item, Rejected):
                qkey = norm_key(item.key) if item.key is not None else None
                if qkey is not None:
                    self.seen.add(qkey)
                plan.quarantined += 1
                self.sample("quarantine", PlanSample(qkey, source_json(item.source),
                                                     redact(item.reason)))
        for bad in stream.take_bad():
            plan.quarantined += 1
            self.sample("quarantine", PlanSample(None, None, redact(bad.reason)))
        unique = list(dedupe_by_key(transformed))
        plan.duplicates += len(transformed) - len(unique)
        fresh: list[tuple[Key, Transformed]] = []
        for item in unique:
            key = norm_key(item.key)
            if key in self.seen:
                plan.duplicates += 1
                continue
            self.seen.add(key)
            fresh.append((key, item))
        keys = [k for k, _ in fresh]
        stored = state.get_hashes(job, step.name, keys) if keys else {}
        known = state.keymap_get(job, step.entity_name, keys) if keys else {}
        for key, item in fresh:
            digest = row_hash(item.record)
            sample = PlanSample(key, _safe(item.record))
            if stored.get(key) == digest:
                plan.unchanged += 1
                self.sample("unchanged", sample)
            elif key in known or key in listed or key in stored:
                plan.updates += 1
                self.sample("update", sample)
            else:
                plan.creates += 1
                self.sample("create", sample)

    def deletes(self, listed: Iterable[Key]) -> None:
        if self.mode != "full" or self.step.delete == "ignore":
            return
        state = self.env.state
        candidates = (set(state.iter_keys(self.env.job, self.step.name)) | set(listed)) - self.seen
        self.plan.deletes = len(candidates)
        for key in sorted(candidates)[:SAMPLES]:
            self.sample("delete", PlanSample(key))

    def run(self) -> StepPlan:
        step, env = self.step, self.env
        ctx = env.context(job=env.job, step=step.name, key_fields=step.key)
        with_retrier(ctx, step.errors.retry, env.sleep)
        source = open_source(step.source, ctx)
        sink: Sink | None = None
        try:
            sink = open_sink(step.destination, ctx)
            listed: dict[Key, str] = {}
            if isinstance(sink, Listable):
                listed = {norm_key(k): str(v) for k, v in sink.list_keys()}
                self.plan.destination_listed = True
            lookups = load_lookups(step, job=env.job, context=env.context, sleep=env.sleep)
            pushed, residual = split_filter(source, step.filter)
            compiled = compile_step(step, lookups=lookups, keymap=KeymapCache(env.state, env.job),
                                    residual_filter=residual)
            request = read_request(step, self.mode, env.state, env.job, pushed,
                                   None if compiled.reads_all_fields else compiled.required_fields)
            stream = RowStream(source, request, step.errors.retry, what=f"{env.job}/{step.name}",
                               sleep=env.sleep)
            pending: list[Transformed | Rejected] = []
            for item in compiled.apply(stream):
                pending.append(item)
                if len(pending) >= step.batch_size:
                    self.judge(pending, stream, listed)
                    pending = []
            self.judge(pending, stream, listed)
            self.plan.read = stream.read
            self.deletes(listed)
        finally:
            try:
                source.close()
            finally:
                if sink is not None:
                    sink.close()
        return self.plan


def plan_step(step: Step, env: RunEnv, mode: SyncMode) -> StepPlan:
    return _Planner(step, env, mode).run()
