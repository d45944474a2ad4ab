"""One step of one run: read, transform, decide, write, and commit only what was acknowledged.

The order inside a batch is the restartability argument: ``sink.write`` first, then
``state.commit_batch`` with exactly what the destination acknowledged. A crash between the two
replays the batch on the next run with the same idempotency keys; a crash after loses nothing.

Within a run a key is written at most once: duplicates inside a batch keep the last record
(``dedupe_by_key``); a key met again in a later batch is skipped and counted as a duplicate
(the first record read wins across batches, since it may already be acknowledged).

The cursor advances once, after the read completed: sources other than SQL need not return rows
in cursor order, so a watermark taken mid-read could pass rows not yet read. A run that stops
early re-reads from the old cursor next time, and the stored row hashes make those rows cost a
read, not a write.

A complete (``full``) run writes every record whatever its hash (so it repairs a destination
that lost data), re-learns the key map from a listable destination first, and after a complete
read applies the step's delete policy to every key it knows (state, or the destination's
listing) that this run did not see. Records refused by transforms still count as seen when
their key is known; a record whose key could not be made is not, so check quarantine before
relying on a complete sync's deletes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from connectors.api import BadRecord, Listable, Sink, WriteOp, WriteOutcome
from runner.errors import ConfigError, FatalError, RunFailed, SyncError, redact
from runner.spec import Step, SyncMode
from runner.state.base import BatchCommit, Key, RunCounts, StateStore
from runner.transforms import Rejected, Transformed, compile_step, dedupe_by_key, jsonable, row_hash

from .cursor import cursor_json
from .ops import idempotency_key, norm_key, write_ops
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
from .results import StepResult
from .retry import call_with_retry, with_retrier

__all__ = ["RunEnv", "run_step", "source_json"]

log = logging.getLogger(__name__)

# Test hook for the crash test: kill this process with SIGKILL right after the Nth successful
# sink.write of the process returns, before its batch is committed.
CRASH_AFTER_WRITES_ENV = "COMMERCE_SYNC_CRASH_AFTER_WRITES"


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
    writes: int = 0

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()


def source_json(source: Any) -> dict[str, Any]:
    """A source row as quarantine stores it (JSON-safe, secrets masked)."""
    if isinstance(source, Mapping):
        data = jsonable(dict(source))
    else:
        data = {"raw": source if isinstance(source, str) else repr(source)}
    return {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}


def _bad_json(bad: BadRecord) -> dict[str, Any]:
    raw = bad.raw
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, Mapping):
        return source_json(raw)
    return {"raw": redact(raw if isinstance(raw, str) else repr(raw))}


def checked_write(sink: Sink, ops: Sequence[WriteOp], what: str) -> list[WriteOutcome]:
    outcomes = list(sink.write(ops))
    if len(outcomes) != len(ops):
        raise FatalError(
            f"{what}: the destination connector returned {len(outcomes)} outcomes for "
            f"{len(ops)} records; this is a connector bug, report it to its author"
        )
    return outcomes


class _SeenKeys:
    """The keys a step has handled in this run, the one thing a streaming run holds per record.
    A one-field key is kept as its UTF-8 bytes, not as a tuple of str: over 300,000 products
    the tuples cost ~17 MB more than the strings, and the strings ~5 MB more than the bytes."""

    def __init__(self) -> None:
        self._keys: set[bytes | Key] = set()

    def add(self, key: Key) -> None:
        self._keys.add(_compact(key))

    def __contains__(self, key: Key) -> bool:
        return _compact(key) in self._keys


def _compact(key: Key) -> bytes | Key:
    # surrogatepass: a key read from broken text still has exactly one encoding.
    return key[0].encode("utf-8", "surrogatepass") if len(key) == 1 else key


@dataclass
class _Sent:
    """One batch between :meth:`_StepRun.send` and :meth:`_StepRun.commit`: what the
    destination acknowledged and what the batch counted."""

    read_total: int
    unchanged: int
    duplicates: int
    quarantine: list[tuple[Key | None, Mapping[str, Any], str]]
    hashes: dict[Key, str] = field(default_factory=dict)
    ids: dict[Key, str] = field(default_factory=dict)
    created: int = 0
    updated: int = 0


class _StepRun:
    def __init__(self, step: Step, env: RunEnv, mode: SyncMode, run_id: int) -> None:
        self.step = step
        self.env = env
        self.mode = mode
        self.run_id = run_id
        self.what = f"{env.job}/{step.name}"
        self.seen = _SeenKeys()
        self.result = StepResult(job=env.job, step=step.name, mode=mode, run_id=run_id)
        self.keymap = KeymapCache(env.state, env.job)
        self._read_committed = 0
        # Set once the step starts writing. When the key map holds no id of this entity, no
        # batch needs a look-up: ids this run records are for keys it has already seen, and a
        # seen key is not written again. (A first sync: ~8% of a flush's time.)
        self.keymap_has_ids = True
        self._sent_quarantined = env.quarantined  # counted by send, ahead of the commits
        keys = env.state.iter_keys(env.job, step.name)
        self.fresh_step = next(iter(keys), None) is None
        close = getattr(keys, "close", None)
        if close is not None:
            close()

    # -- writing ------------------------------------------------------------------------

    def _count_retry(self, _attempt: int, _exc: Exception) -> None:
        self.result.retries += 1

    def _write(self, sink: Sink, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        def attempt() -> list[WriteOutcome]:
            return checked_write(sink, ops, self.what)

        outcomes = call_with_retry(
            attempt, self.step.errors.retry, what=f"{self.what}: writing a batch",
            sleep=self.env.sleep, on_retry=self._count_retry,
        )
        self.env.writes += 1
        crash_at = os.environ.get(CRASH_AFTER_WRITES_ENV)
        if crash_at and self.env.writes >= int(crash_at):
            os.kill(os.getpid(), signal.SIGKILL)
        return outcomes

    def flush(
        self, sink: Sink, items: list[Transformed | Rejected], read_total: int,
        bad_rows: list[BadRecord],
    ) -> None:
        """Write and commit one batch: ``read_total`` is the stream's row count when the batch
        was complete and ``bad_rows`` the unreadable rows taken with it (a snapshot, since the
        next batch is being read while this one is written)."""
        self.commit(self.send(sink, items, read_total, bad_rows))

    def send(
        self, sink: Sink, items: list[Transformed | Rejected], read_total: int,
        bad_rows: list[BadRecord],
    ) -> _Sent:
        """Decide what to write, write it and return what the destination acknowledged, for
        :meth:`commit`. Runs on one thread at a time (the seen set is its own)."""
        # The batch before may have crossed max_bad_records; it is committed, this one is not
        # sent (its commit raises only after this thread has moved on).
        self._check_bad_records(self._sent_quarantined)
        step, state, job = self.step, self.env.state, self.env.job
        quarantine: list[tuple[Key | None, Mapping[str, Any], str]] = []
        transformed: list[Transformed] = []
        for item in items:
            if isinstance(item, Transformed):
                transformed.append(item)
            else:
                qkey = norm_key(item.key) if item.key is not None else None
                if qkey is not None:
                    self.seen.add(qkey)
                quarantine.append((qkey, source_json(item.source), redact(item.reason)))
        for bad in bad_rows:
            quarantine.append((None, _bad_json(bad), redact(bad.reason)))

        unique = list(dedupe_by_key(transformed))
        duplicates = len(transformed) - len(unique)
        fresh: list[tuple[Key, Transformed, str]] = []
        for item in unique:
            key = item.key  # already a tuple of str (the transforms' contract)
            if key in self.seen:
                duplicates += 1
                continue
            self.seen.add(key)
            fresh.append((key, item, row_hash(item.record)))

        if self.mode == "full" or self.fresh_step:
            # A step with no stored hashes at its start has nothing to compare with: the keys
            # of this run's own earlier batches never reach here (the seen set drops them).
            changed = fresh
        else:
            stored = state.get_hashes(job, step.name, [k for k, _, _ in fresh]) if fresh else {}
            changed = [(k, t, h) for k, t, h in fresh if stored.get(k) != h]

        known = (
            state.keymap_get(job, step.entity_name, [k for k, _, _ in changed])
            if changed and self.keymap_has_ids else {}
        )
        ops = write_ops(job, step.name, changed, known)
        outcomes = self._write(sink, ops) if ops else []

        sent = _Sent(read_total=read_total, unchanged=len(fresh) - len(changed),
                     duplicates=duplicates, quarantine=quarantine)
        for (key, item, digest), op, outcome in zip(changed, ops, outcomes, strict=True):
            if outcome.ok:
                sent.hashes[key] = digest
                if outcome.dest_id is not None:
                    sent.ids[key] = str(outcome.dest_id)
                if op.action == "create":
                    sent.created += 1
                else:
                    sent.updated += 1
            else:
                reason = redact(outcome.error or "refused by the destination")
                quarantine.append((key, source_json(item.source), reason))
        self._sent_quarantined += len(quarantine)
        return sent

    def commit(self, sent: _Sent) -> None:
        """Commit what one :meth:`send` had acknowledged. Batches commit one at a time and in
        the order they were sent."""
        step, job = self.step, self.env.job
        quarantine = sent.quarantine
        written = sent.created + sent.updated
        read_now = sent.read_total - self._read_committed
        counts = RunCounts(
            read=read_now, written=written, unchanged=sent.unchanged,
            quarantined=len(quarantine),
        )
        self.env.state.commit_batch(
            BatchCommit(
                run_id=self.run_id, job=job, step=step.name, entity=step.entity_name,
                hashes=sent.hashes, keymap=sent.ids, quarantine=quarantine, counts=counts,
            )
        )
        self.keymap.remember(step.entity_name, sent.ids)
        self._read_committed = sent.read_total
        r = self.result
        r.read = sent.read_total
        r.written += written
        r.created += sent.created
        r.updated += sent.updated
        r.unchanged += sent.unchanged
        r.quarantined += len(quarantine)
        r.duplicates += sent.duplicates
        r.batches += 1
        self.env.quarantined += len(quarantine)
        self.env.progress.advance(read_now)
        log.debug(
            "batch.committed",
            extra={"job": job, "step": step.name, "rows": read_now,
                   "written": written, "quarantined": len(quarantine)},
        )
        self._check_bad_records(self.env.quarantined)

    def _check_bad_records(self, quarantined: int) -> None:
        limit = self.step.errors.max_bad_records
        if limit is not None and quarantined > limit:
            raise RunFailed(
                f"{self.what}: {quarantined} records quarantined in this run, more "
                f"than errors.max_bad_records ({limit}); what was acknowledged is committed. "
                f"Inspect them with `commerce-sync quarantine list --job {self.env.job}`, fix "
                "the data or the mapping, then `commerce-sync quarantine retry --all`"
            )

    # -- full mode ----------------------------------------------------------------------

    def rebuild_keymap(self, sink: Sink) -> set[Key]:
        """A complete sync re-learns the destination's ids (recovery after a lost state
        store) and returns the keys the destination holds."""
        if not isinstance(sink, Listable):
            return set()
        pairs = {norm_key(k): str(dest_id) for k, dest_id in sink.list_keys()}
        if pairs:
            self.env.state.keymap_put(self.env.job, self.step.entity_name, pairs)
            self.keymap.remember(self.step.entity_name, pairs)
        log.info("keymap.rebuilt",
                 extra={"job": self.env.job, "step": self.step.name, "rows": len(pairs)})
        return set(pairs)

    def remove_unselected(self, sink: Sink, listed: Iterable[Key]) -> None:
        step, state, job = self.step, self.env.state, self.env.job
        if step.delete == "ignore":
            return
        candidates = {
            k for k in set(state.iter_keys(job, step.name)) | set(listed) if k not in self.seen
        }
        action = "delete" if step.delete == "delete" else "unpublish"
        ordered = sorted(candidates)
        for start in range(0, len(ordered), step.batch_size):
            chunk = ordered[start : start + step.batch_size]
            known = state.keymap_get(job, step.entity_name, chunk)
            ops = [
                WriteOp(
                    action=action,  # type: ignore[arg-type]
                    key=k,
                    record=dict(zip(step.key, k, strict=False)),
                    dest_id=known.get(k),
                    idempotency_key=idempotency_key(job, step.name, k, action),
                )
                for k in chunk
            ]
            outcomes = self._write(sink, ops)
            removed = [op.key for op, out in zip(ops, outcomes, strict=True) if out.ok]
            failed = len(ops) - len(removed)
            if failed:
                # Not removed from state, so the next complete sync tries them again.
                log.warning("step.remove_failed",
                            extra={"job": job, "step": step.name, "rows": failed})
            state.commit_batch(
                BatchCommit(
                    run_id=self.run_id, job=job, step=step.name, entity=step.entity_name,
                    removed=removed, counts=RunCounts(deleted=len(removed)),
                    # A deleted record's destination id is gone with it; an unpublished one
                    # still exists and keeps its id for when it is selected again.
                    unmapped=removed if action == "delete" else (),
                )
            )
            self.result.removed += len(removed)

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

    def run(self) -> None:
        step, env = self.step, self.env
        ctx = env.context(job=env.job, step=step.name, key_fields=step.key)
        with_retrier(ctx, step.errors.retry, env.sleep, self._count_retry)
        source = open_source(step.source, ctx)
        sink: Sink | None = None
        try:
            sink = open_sink(step.destination, ctx)
            lookups = load_lookups(step, job=env.job, context=env.context, sleep=env.sleep)
            pushed, residual = split_filter(source, step.filter)
            compiled = compile_step(
                step, lookups=lookups, keymap=self.keymap, residual_filter=residual
            )
            request = read_request(
                step, self.mode, env.state, env.job, pushed,
                None if compiled.reads_all_fields else compiled.required_fields,
            )
            listed = self.rebuild_keymap(sink) if self.mode == "full" else set()
            self.keymap_has_ids = env.state.keymap_any(env.job, step.entity_name)
            stream = RowStream(
                source, request, step.errors.retry, what=self.what, sleep=env.sleep,
                cursor_field=step.cursor.field if step.cursor else None,
            )
            env.progress.start(env.job, step.name, None)
            pending: list[Transformed | Rejected] = []
            # Three stages overlap: this thread reads and transforms a batch while a writer
            # thread sends the one before and a committer thread commits the one before that,
            # which the destination has acknowledged. One thread per stage: batches are sent in
            # order and committed in order, and at most three are held at once. (A single
            # write-then-commit worker left the destination idle while the state store
            # committed: the main thread waited on it for half of a complete sync.)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as committer, \
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") as writer:

                def send_then_commit(
                    items: list[Transformed | Rejected], read_total: int, bad: list[BadRecord]
                ) -> Future[None]:
                    return committer.submit(self.commit, self.send(sink, items, read_total, bad))

                sending: Future[Future[None]] | None = None
                committing: Future[None] | None = None

                def settle() -> None:
                    # Wait until the batch being sent was acknowledged, and the one before it
                    # committed (its errors, e.g. max_bad_records, surface here).
                    nonlocal sending, committing
                    if sending is None:
                        return
                    queued = sending.result()
                    sending = None
                    if committing is not None:
                        committing.result()
                    committing = queued

                for item in compiled.apply(stream):
                    pending.append(item)
                    if len(pending) >= step.batch_size:
                        settle()
                        # A stop finishes the batches in flight only: the one just read is not
                        # sent (the next run reads it again, the cursor has not moved).
                        if env.stopping:
                            self.result.status = "interrupted"
                            return
                        sending = writer.submit(
                            send_then_commit, pending, stream.read, stream.take_bad()
                        )
                        pending = []
                settle()
                if committing is not None:
                    committing.result()
            if env.stopping:
                self.result.status = "interrupted"
                return
            if pending or stream.bad or stream.read > self._read_committed:
                self.flush(sink, pending, stream.read, stream.take_bad())
            if env.stopping:
                self.result.status = "interrupted"
                return
            if self.mode == "full":
                self.remove_unselected(sink, listed)
            self.commit_cursor(stream)
        finally:
            env.progress.finish()
            try:
                source.close()
            finally:
                if sink is not None:
                    sink.close()


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
    env.state.finish_run(run_id, result.status, result.error)  # type: ignore[arg-type]
    log.info(
        "step.finished",
        extra={"job": env.job, "step": step.name, "status": result.status, "rows": result.read,
               "written": result.written, "unchanged": result.unchanged,
               "removed": result.removed, "quarantined": result.quarantined,
               "duration_s": round(result.duration_s, 3)},
    )
    return result
