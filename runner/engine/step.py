"""One step of one run: read, transform, decide, write, and commit only what was acknowledged.

The decide-write-commit path is :mod:`runner.engine.batch`; this module streams the source into
batches and overlaps the stages. Within a run a key is written at most once: duplicates inside
a batch keep the last record (``dedupe_by_key``); a key met again in a later batch is skipped
and counted as a duplicate (the first record read wins across batches, since it may already be
acknowledged).

The cursor advances once, after the read completed: sources other than SQL need not return rows
in cursor order, so a watermark taken mid-read could pass rows not yet read. A run that stops
early re-reads from the old cursor next time, and the stored row hashes make those rows cost a
read, not a write.

A complete (``full``) run writes every record whatever its hash (so it repairs a destination
that lost data), re-learns the key map from a listable destination first, and after a complete
read applies the step's delete policy (:mod:`runner.engine.fullsync`). Records refused by
transforms still count as seen when their key is known; a record whose key could not be made
is not, so check quarantine before relying on a complete sync's deletes.

A dry run (``plan``) is this same path with a recording sink and an in-memory state overlay.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.api import BadRecord, ConnectorContext, Sink, WriteOp, WriteOutcome
from runner.errors import ConfigError, RunFailed, SyncError, redact
from runner.spec import Step, SyncMode
from runner.state.base import BatchCommit, Key, StateStore
from runner.transforms import (
    Rejected,
    Transformed,
    Unchanged,
    compile_step,
    dedupe_by_key,
    row_hash,
    source_hasher,
)

from .batch import BatchWriter, Sent, checked_write, source_json
from .cursor import cursor_json
from .decide import Decision
from .entity import EntityWriter, entity_writer
from .follow import after_stream, deselected_targets, note_decisions
from .fullsync import relearn_keymap, remove_unselected
from .heap import frozen_heap
from .intents import recover_intents
from .overlap import Stages, overlap
from .progress import NullProgress, ProgressSink
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
from .recording import SAMPLES as PLAN_SAMPLES
from .recording import RecordingSink, recording
from .results import StepResult
from .retry import Retrier
from .seen import SeenKeys
from .switching import reader_first

__all__ = ["RunEnv", "run_step", "source_json"]

log = logging.getLogger(__name__)

# Source rows hashed, and their stored source hashes asked for, at a time in a changes run:
# each look-up is a state read transaction, which at 500 rows cost more than its probes.
LOOKAHEAD = 2000

# Batches handed to a sink that takes concurrent writes before the first is acknowledged. Its
# own requests in flight stay bounded by its connection's max_in_flight: a third batch queued
# keeps the store busy while the reading thread waits for the GIL (complete sync of 1,000,000
# products, 3 runs each interleaved: 7.73-8.06 s at 2, 7.22-7.80 s at 3, 7.52-8.02 s at 4).
SEND_DEPTH = 3


@dataclass
class RunEnv:
    """What every step of one run shares."""

    job: str
    state: StateStore
    context: ContextFactory
    sleep: Callable[[float], None] = time.sleep
    stop: threading.Event | None = None
    progress: ProgressSink = field(default_factory=NullProgress)
    quarantined: int = 0  # across the run's steps, for errors.max_bad_records
    dry_run: bool = False  # plan: a recording sink over an in-memory state (see planner)
    # What each step did to its keys, for the steps that name it as parent (see follow).
    follow: dict[str, Any] = field(default_factory=dict)

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()


def _bad_json(bad: BadRecord) -> dict[str, Any]:
    raw = bad.raw
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, Mapping):
        return source_json(raw)
    return {"raw": redact(raw if isinstance(raw, str) else repr(raw))}


def _count_unchanged(seen: SeenKeys, keys: list[Key], sent: Sent) -> None:
    """Count ``keys`` (unchanged records, in read order) as unchanged or, seen before in this
    run, as duplicates; empty the list."""
    if keys:
        first = seen.count_first(keys)
        sent.unchanged += first
        sent.duplicates += len(keys) - first
        keys.clear()


def step_context(env: RunEnv, step: Step, name: str, key_fields: tuple[str, ...],
                 retrier: Retrier) -> ConnectorContext:
    """A connector's context with the run's one retrier and clock."""
    ctx = env.context(job=env.job, step=name, key_fields=key_fields)
    return dataclasses.replace(ctx, retry=retrier, sleep=env.sleep)


class _StepRun:
    def __init__(self, step: Step, env: RunEnv, mode: SyncMode, run_id: int) -> None:
        self.step = step
        self.env = env
        self.mode = mode
        self.run_id = run_id
        self.what = f"{env.job}/{step.name}"
        self.seen = SeenKeys()
        self._counting = threading.Lock()  # _sent_quarantined, from the writer threads
        self.result = StepResult(job=env.job, step=step.name, mode=mode, run_id=run_id)
        self.keymap = KeymapCache(env.state, env.job)
        self.retrier = Retrier(step.errors.retry, env.sleep)
        self.blocked: set[Key] = set()
        self.writer: BatchWriter | None = None
        self.entity: EntityWriter | None = None  # the destination's dependent calls, if any
        self.recorder: RecordingSink | None = None
        self._read_committed = 0
        self._sent_quarantined = env.quarantined  # counted by send, ahead of the commits
        keys = env.state.iter_keys(env.job, step.name)
        self.fresh_step = next(iter(keys), None) is None
        close = getattr(keys, "close", None)
        if close is not None:
            close()

    # -- one batch ----------------------------------------------------------------------

    def send(self, items: list[Transformed | Rejected | Unchanged], read_total: int,
             bad_rows: list[BadRecord]) -> Sent:
        """Decide what to write, write it and return what the destination acknowledged, for
        :meth:`commit`."""
        return self.deliver(self.prepare(items, read_total, bad_rows))

    def prepare(self, items: list[Transformed | Rejected | Unchanged], read_total: int,
                bad_rows: list[BadRecord]) -> _Prepared:
        """Decide what to write of one batch: the part that depends on the batches before it
        (the seen set, the duplicates), so batches are prepared one at a time, in read order.
        A decision reads only its own keys' hashes and ids, which no other batch of this run
        writes, so it needs no earlier batch committed."""
        assert self.writer is not None
        # The batch before may have crossed max_bad_records; it is committed, this one is not
        # sent (its commit raises only after this thread has moved on).
        self._check_bad_records(self._sent_quarantined)
        sent = Sent(read_total=read_total)
        transformed: list[Transformed] = []
        unchanged: list[Key] = []  # source rows that hash as when last written: not mapped
        seen = self.seen
        for item in items:
            if type(item) is Transformed:
                transformed.append(item)
                continue
            if type(item) is Unchanged:
                unchanged.extend(item.keys)
                continue
            assert type(item) is Rejected
            qkey = tuple(item.key) if item.key is not None else None
            if qkey is not None:
                _count_unchanged(seen, unchanged, sent)  # those read before it come first
                seen.add(qkey)
            sent.quarantine.append((qkey, source_json(item.source), redact(item.reason)))
        _count_unchanged(seen, unchanged, sent)
        for bad in bad_rows:
            sent.quarantine.append((None, _bad_json(bad), redact(bad.reason)))
        unique = list(dedupe_by_key(transformed))
        sent.duplicates += len(transformed) - len(unique)
        fresh: list[tuple[Key, Transformed, str]] = []
        for item in unique:
            key = item.key  # already a tuple of str (the transforms' contract)
            if not seen.first(key):
                sent.duplicates += 1
                continue
            fresh.append((key, item, row_hash(item.record)))
        # A step with no stored hashes at its start has nothing to compare with: the keys of
        # this run's own earlier batches never reach here (the seen set drops them).
        rewrite_all = self.mode == "full"
        decisions = self.writer.decisions(fresh, sent, rewrite_all=rewrite_all,
                                          blocked=self.blocked)
        note_decisions(self, decisions)
        with self._counting:
            self._sent_quarantined += len(sent.quarantine)
        return _Prepared(sent, decisions)

    def deliver(self, prepared: _Prepared) -> Sent:
        """Write a prepared batch and return what the destination acknowledged. Runs on
        several threads at once for a sink that takes concurrent writes."""
        assert self.writer is not None
        sent, decisions = prepared.sent, prepared.decisions
        before = len(sent.quarantine)
        if self.entity is not None:
            self.entity.write(self.writer, decisions, sent, lambda d: d.item.source,
                              rewrite_all=self.mode == "full")
        else:
            self.writer.write(decisions, sent, lambda d: d.item.source)
        with self._counting:
            self._sent_quarantined += len(sent.quarantine) - before
        return sent

    def commit(self, sent: Sent) -> None:
        """Commit what one :meth:`send` had acknowledged. Batches commit one at a time and in
        the order they were sent."""
        assert self.writer is not None
        read_now = sent.read_total - self._read_committed
        self.writer.commit(sent, read_now)
        self.keymap.remember(self.step.entity_name, sent.ids)
        self._read_committed = sent.read_total
        self._account(sent)
        self.env.quarantined += len(sent.quarantine)
        self.env.progress.advance(read_now)
        log.debug("batch.committed", extra={
            "job": self.env.job, "step": self.step.name, "rows": read_now,
            "written": sent.written, "quarantined": len(sent.quarantine)})
        self._check_bad_records(self.env.quarantined)

    def _account(self, sent: Sent) -> None:
        r = self.result
        r.read = sent.read_total
        r.written += sent.written
        for name, n in sent.counts.items():
            setattr(r, name, getattr(r, name) + n)
        r.unchanged += sent.unchanged
        r.quarantined += len(sent.quarantine)
        r.duplicates += sent.duplicates
        r.batches += 1
        if self.env.dry_run:
            room = PLAN_SAMPLES - len(r.quarantine_samples)
            r.quarantine_samples.extend(sent.quarantine[:max(0, room)])

    def _check_bad_records(self, quarantined: int) -> None:
        limit = self.step.errors.max_bad_records
        if limit is not None and quarantined > limit:
            raise RunFailed(
                f"{self.what}: {quarantined} records quarantined in this run, more "
                f"than errors.max_bad_records ({limit}); what was acknowledged is committed. "
                f"Inspect them with `commerce-sync quarantine list --job {self.env.job}`, fix "
                "the data or the mapping, then `commerce-sync quarantine retry --all`"
            )

    def _write_removals(self, sink: Sink) -> Callable[[list[WriteOp]], list[WriteOutcome]]:
        def write(ops: list[WriteOp]) -> list[WriteOutcome]:
            return self.retrier(lambda: checked_write(sink, ops, self.what),
                                f"{self.what}: removing records")
        return write

    def commit_cursor(self, stream: RowStream) -> None:
        if self.step.cursor is None or stream.cursor.max is None:
            return
        new = cursor_json(stream.cursor.max)
        old = self.env.state.get_cursor(self.env.job, self.step.name)
        if old is not None:
            try:
                if new < old:
                    new = old  # a lookback read whose newest rows were deleted
            except TypeError:
                pass
        self.env.state.commit_batch(
            BatchCommit(run_id=self.run_id, job=self.env.job, step=self.step.name,
                        entity=self.step.entity_name, cursor=new)
        )

    # -- the step -----------------------------------------------------------------------

    def _open_sink(self, ctx: ConnectorContext) -> Sink:
        sink = open_sink(self.step.destination, ctx)
        if self.env.dry_run:
            self.recorder = recording(sink, self.step.entity_name)
            return self.recorder
        return sink

    def _note_duplicates(self, doubled: Mapping[Key, list[str]]) -> None:
        self.result.duplicate_keys += len(doubled)

    def run(self) -> None:
        step, env = self.step, self.env
        ctx = step_context(env, step, step.name, step.key, self.retrier)
        source = open_source(step.source, ctx)
        sink: Sink | None = None
        stream: RowStream | None = None
        try:
            lookups = load_lookups(step, job=env.job, context=env.context, sleep=env.sleep)
            pushed, residual = split_filter(source, step.filter)
            compiled = compile_step(step, lookups=lookups, keymap=self.keymap,
                                    residual_filter=residual)
            request = read_request(
                step, self.mode, env.state, env.job, pushed,
                None if compiled.reads_all_fields else compiled.required_fields,
            )
            stream = RowStream(
                source, request, self.retrier, what=self.what,
                cursor_field=step.cursor.field if step.cursor else None,
            )
            # A step that nests reads a source that can give tuples as tuples: a dict per
            # record instead of one per row besides it.
            blocks = compiled.takes_rows and stream.has_rows
            # The read's query runs while the destination opens (its client's imports, a
            # crashed run's intents, a complete sync's listing of what it holds).
            stream.start(rows=blocks)
            sink = self._open_sink(ctx)
            writer = self._open_writers(sink)
            listed: set[Key] = set()
            if self.mode == "full":
                listed, doubled = relearn_keymap(step, env.state, sink, job=env.job)
                self._note_duplicates(doubled)
            writer.keymap_has_ids = env.state.keymap_any(env.job, step.entity_name)
            writer.fresh_step = self.fresh_step
            env.progress.start(env.job, step.name, None)
            # A step without a cursor finds its changes by hash: hashing the source row first
            # lets an unchanged row skip the mapping (a changed lookup or mapping changes every
            # hash, so all rows are mapped and compared again).
            # A guarded step (echo_guard) maps every row: the other side's memory may make an
            # unchanged row a change to send (see runner.engine.echoes).
            hasher = (source_hasher(step, lookups)
                      if step.cursor is None and step.echo_guard is None else None)
            items: Iterator[Transformed | Rejected | Unchanged]
            if hasher is None:
                items = compiled.apply_rows(stream.blocks()) if blocks else compiled.apply(stream)
            elif blocks:
                items = compiled.apply_changed_rows(stream.blocks(), hasher,
                                                    self._stored_sources, lookahead=LOOKAHEAD)
            else:
                items = compiled.apply_changed(stream, hasher, self._stored_sources,
                                               lookahead=LOOKAHEAD)
            # An incremental run finds what its filter deselected and the destination holds
            # while its last batches are on their way (the keys this run wrote are all known
            # by then).
            deselected: list[tuple[Key, str | None]] | None = None

            def meanwhile() -> None:
                nonlocal deselected
                if self.mode != "full":
                    deselected = deselected_targets(self, source, lookups, request)

            with frozen_heap(), reader_first():
                streamed = self._stream_batches(items, stream, meanwhile)
            if not streamed:
                return
            if self.mode == "full":
                remove_unselected(step, env.state, sink, job=env.job, run_id=self.run_id,
                                  seen=self.seen, listed=listed,
                                  write=self._write_removals(sink), count=self._count_removed)
            else:
                after_stream(self, source, sink, lookups, request, self._write_removals(sink),
                             deselected=deselected)
            self.commit_cursor(stream)
        finally:
            self.result.retries = self.retrier.retries
            env.progress.finish()
            try:
                try:
                    if stream is not None:
                        stream.close()
                finally:
                    source.close()
            finally:
                if sink is not None:
                    sink.close()

    def _open_writers(self, sink: Sink) -> BatchWriter:
        """The batch writer, and the intents a crashed run left recovered before anything is
        read (a blocked key is held, not written again); the entity writer of ``then:`` levels
        likewise."""
        step, env = self.step, self.env
        self.writer = writer = BatchWriter(step, job=env.job, state=env.state, sink=sink,
                                           run_id=self.run_id, retrier=self.retrier,
                                           dry_run=env.dry_run, on_adopt=self._note_duplicates)
        self.blocked = recover_intents(env.state, sink, job=env.job, step=step.name,
                                       entity=step.entity_name, run_id=self.run_id,
                                       policy=step.on_duplicate)
        if not env.dry_run:  # plan records the records' writes only, not their levels
            self.entity = entity_writer(step, sink, job=env.job, state=env.state,
                                        run_id=self.run_id, retrier=self.retrier)
        if self.entity is not None:
            self.entity.recover()
        return writer

    def _stored_sources(self, keys: Sequence[Key]) -> Mapping[Key, str]:
        # A complete run writes every record, so it maps them all; a blocked key must reach
        # the decision that holds it.
        if self.mode == "full" or self.fresh_step:
            return {}
        blocked = self.blocked
        wanted = [k for k in keys if k not in blocked] if blocked else keys
        return self.env.state.get_source_hashes(self.env.job, self.step.name, wanted)

    def _count_removed(self, n: int) -> None:
        self.result.removed += n

    def _stream_batches(self, items: Any, stream: RowStream,
                        meanwhile: Callable[[], None] | None = None) -> bool:
        """Send and commit every batch (see :mod:`runner.engine.overlap`); False when a stop
        request ended the step early. A stop finishes the batches on their way only: the one
        just read is not sent (the next run reads it again, the cursor has not moved).
        ``meanwhile()`` runs once everything is read and sent, while the last batches are on
        their way."""
        env = self.env
        prepared_read = 0  # rows read when the newest batch was prepared

        def prepare(batch: list[Transformed | Rejected | Unchanged]) -> _Prepared:
            nonlocal prepared_read
            prepared_read = stream.read
            return self.prepare(batch, stream.read, stream.take_bad())

        def last(batch: list[Transformed | Rejected | Unchanged]) -> bool:
            # The last batch, or, with nothing left to write, a commit of what was read since
            # the last one (rows filtered out or unreadable count as read).
            return bool(batch or stream.bad or stream.read > prepared_read)

        overlap(items, Stages(prepare, self.deliver, self.commit),
                batch_size=self.step.batch_size,
                depth=SEND_DEPTH if self._concurrent_writes() else 1,
                stopping=lambda: env.stopping,
                light=lambda item: len(item.keys) if type(item) is Unchanged else 0,
                last=last, meanwhile=meanwhile)
        if env.stopping:
            self.result.status = "interrupted"
            return False
        return True

    def _concurrent_writes(self) -> bool:
        # Batches of an entity's dependent calls share the entity writer's state; a plan's
        # recording sink and the SQL and file sinks do not declare concurrent writes.
        assert self.writer is not None
        return self.entity is None and bool(getattr(self.writer.sink, "concurrent_writes", False))


@dataclass
class _Prepared:
    """A batch between :meth:`_StepRun.prepare` and :meth:`_StepRun.deliver`."""

    sent: Sent
    decisions: list[Decision]


def run_step(step: Step, env: RunEnv, mode: SyncMode) -> StepResult:
    """Run one step and record it as a step-level run. Connector, state and policy failures
    end up in the result (status ``failed``); a configuration error is re-raised."""
    started = time.monotonic()
    run_id = env.state.begin_run(env.job, step.name, mode)
    work = _StepRun(step, env, mode, run_id)
    log.info("step.started", extra={"job": env.job, "step": step.name, "mode": mode})
    try:
        work.run()
    except ConfigError as exc:
        env.state.finish_run(run_id, "failed", redact(str(exc)))
        raise
    except SyncError as exc:
        work.result.status = "failed"
        work.result.error = redact(str(exc))
    except KeyboardInterrupt:
        env.state.finish_run(run_id, "interrupted", "stopped at once by a second signal")
        raise
    except BaseException as exc:
        env.state.finish_run(run_id, "failed", redact(f"{type(exc).__name__}: {exc}"))
        raise
    result = work.result
    result.duration_s = time.monotonic() - started
    if work.recorder is not None:
        result.planned = work.recorder
    env.state.finish_run(run_id, result.status, result.error)  # type: ignore[arg-type]
    log.info(
        "step.finished",
        extra={"job": env.job, "step": step.name, "status": result.status, "rows": result.read,
               "written": result.written, "unchanged": result.unchanged,
               "removed": result.removed, "quarantined": result.quarantined,
               "duration_s": round(result.duration_s, 3)},
    )
    return result
