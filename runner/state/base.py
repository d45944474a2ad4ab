"""The state store protocol: what the engine and the scheduler keep between runs.

Two implementations share it: SQLite (the embedded default, one file) and PostgreSQL (shared by
many runners). Keys are natural keys as tuples of strings; the store serialises them itself.

The one rule that makes runs restartable: :meth:`StateStore.commit_batch` is called only after
the destination acknowledged a batch, and it commits the cursor, the row hashes, the key map
and the batch's quarantined records in ONE transaction. A crash before it replays the batch
(writes are idempotent upserts); a crash after it loses nothing.

No secret is ever written here: records in quarantine are the transformed records, whose values
come from the source data, and error texts pass through ``runner.errors.redact``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "BatchCommit",
    "DuplicateReport",
    "Key",
    "QuarantinedRecord",
    "RunCounts",
    "RunRecord",
    "ScheduleEntry",
    "StateStore",
]

Key = tuple[str, ...]
# partial: the run finished but set records aside in quarantine.
RunStatus = Literal["running", "succeeded", "partial", "failed", "interrupted"]


@dataclass
class RunCounts:
    read: int = 0
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    echoed: int = 0  # not sent: they only reported back what another step wrote


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    job: str
    step: str  # "" for the job-level record that spans all steps
    mode: str
    status: RunStatus
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: RunCounts
    error: str | None = None


@dataclass(frozen=True)
class QuarantinedRecord:
    id: int
    job: str
    step: str
    run_id: int
    key: Key | None
    record: Mapping[str, Any]  # JSON-serialisable
    reason: str
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class BatchCommit:
    """Everything one acknowledged batch changes, committed atomically."""

    run_id: int
    job: str
    step: str
    entity: str
    cursor: Any = None  # new watermark (JSON-serialisable), None: unchanged
    hashes: Mapping[Key, str] = field(default_factory=dict)  # key -> row hash now at dest
    keymap: Mapping[Key, str] = field(default_factory=dict)  # key -> destination id
    removed: Iterable[Key] = ()  # keys deleted/unpublished at the destination
    quarantine: Iterable[tuple[Key | None, Mapping[str, Any], str]] = ()  # key, record, reason
    released: Iterable[int] = ()  # quarantine ids that were retried and succeeded
    counts: RunCounts = field(default_factory=RunCounts)  # increments for the run record
    # keys whose destination record was deleted: their key-map entries (under ``entity``) go too;
    # ``removed`` alone keeps them, which is right for unpublished records that still exist
    unmapped: Iterable[Key] = ()
    # keys whose write-ahead intent this batch settles (acknowledged, refused or adopted)
    resolved: Iterable[Key] = ()
    # key -> the hash of the source row behind its record: for keys in ``hashes`` it is stored
    # beside the row hash (absent: none); for the others, whose record was found unchanged, it
    # replaces the stored source hash and leaves the row hash alone
    source_hashes: Mapping[Key, str] = field(default_factory=dict)
    # Echo guards (``echo_guard``): key -> guarded field -> hash of the value this step's
    # acknowledged write put there, remembered under (job, step); and the memory this batch
    # used up, as (writer job, writer step, writer key, fields) of another step.
    echoes: Mapping[Key, Mapping[str, str]] = field(default_factory=dict)
    echoes_used: Iterable[tuple[str, str, Key, tuple[str, ...]]] = ()


@dataclass(frozen=True)
class DuplicateReport:
    """A natural key the destination holds more than once, found by a listing or a match."""

    job: str
    entity: str
    key: Key
    ids: tuple[str, ...]
    kept: str  # the id the key map holds; the others are left alone and reported
    found_at: dt.datetime


@dataclass(frozen=True)
class ScheduleEntry:
    job: str
    last_scheduled_at: dt.datetime | None  # the cron slot of the last run started
    last_finished_at: dt.datetime | None
    last_status: RunStatus | None
    last_success_at: dt.datetime | None


class StateStore(Protocol):
    """Opened by :func:`runner.state.open_state` from a path or URL."""

    # runs --------------------------------------------------------------------------------
    def begin_run(self, job: str, step: str, mode: str) -> int: ...
    def finish_run(
        self, run_id: int, status: RunStatus, error: str | None = None
    ) -> None: ...
    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]: ...
    def abandon_runs(self, job: str) -> int:
        """Record as failed the runs of ``job`` still marked running; called by the holder of
        the job's lock, so whatever started them is gone. Returns how many."""
        ...

    # progress ----------------------------------------------------------------------------
    def get_cursor(self, job: str, step: str) -> Any: ...
    def get_hashes(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, str]: ...
    def get_source_hashes(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, str]:
        """The source hashes stored beside the row hashes of ``keys`` (those that have one)."""
        ...

    def iter_keys(self, job: str, step: str) -> Iterator[Key]:
        """Every key this step has written and not removed (for full-mode deletes)."""
        ...
    def commit_batch(self, commit: BatchCommit) -> None: ...
    def reset_step(self, job: str, step: str) -> None:
        """Forget cursor and hashes (a complete sync after data loss starts from scratch)."""
        ...

    # key map -----------------------------------------------------------------------------
    def keymap_get(self, job: str, entity: str, keys: Iterable[Key]) -> dict[Key, str]: ...
    def keymap_put(self, job: str, entity: str, pairs: Mapping[Key, str]) -> None: ...
    def keymap_any(self, job: str, entity: str) -> bool:
        """Whether the key map holds any id of ``entity`` (a first sync holds none, and need
        not look up each batch's keys)."""
        ...

    # write-ahead intents -------------------------------------------------------------------
    def intents_put(self, job: str, step: str, intents: Mapping[Key, str], run_id: int,
                    status: str = "pending") -> None:
        """Record, committed before the creates are sent, that these keys' creates (with
        their idempotency keys) are about to go out; ``commit_batch(resolved=...)`` clears
        them. Status ``blocked``: could not be checked after a crash, held in quarantine."""
        ...
    def intents_pending(self, job: str, step: str) -> dict[Key, tuple[str, str]]:
        """``key -> (idempotency key, status)`` of the intents not yet settled."""
        ...

    # echo guards ---------------------------------------------------------------------------
    def echoes_get(self, job: str, step: str, keys: Iterable[Key],
                   fields: Iterable[str]) -> dict[Key, dict[str, str]]:
        """What ``step`` of ``job`` last wrote to ``fields`` for ``keys``: key -> field ->
        value hash (committed by :meth:`commit_batch`'s ``echoes``)."""
        ...

    # duplicates ----------------------------------------------------------------------------
    def duplicates_put(self, job: str, entity: str, found: Mapping[Key, list[str]],
                       kept: Mapping[Key, str]) -> None:
        """Replace the report of ``entity``'s keys held more than once at the destination."""
        ...
    def duplicates_list(self, job: str | None = None) -> list[DuplicateReport]: ...

    # quarantine --------------------------------------------------------------------------
    def quarantine_list(
        self, job: str | None = None, step: str | None = None
    ) -> list[QuarantinedRecord]: ...
    def quarantine_get(self, qid: int) -> QuarantinedRecord | None: ...
    def quarantine_drop(self, qids: Iterable[int]) -> int: ...
    def quarantine_count(self, job: str | None = None) -> int: ...

    # scheduling and concurrency ------------------------------------------------------------
    def job_lock(self, job: str, owner: str, wait_s: float = 0.0) -> AbstractContextManager[None]:
        """Hold the job's run lock: raises ``LockedError`` if another run holds it after
        ``wait_s``. Two ``run`` invocations of one job never both write."""
        ...
    def schedule_entries(self) -> dict[str, ScheduleEntry]: ...
    def record_scheduled(self, job: str, slot: dt.datetime) -> None: ...
    def try_claim(self, job: str, slot: dt.datetime, owner: str, lease_s: float) -> bool:
        """Claim the run of ``job`` at cron ``slot``: True for exactly one runner, ever (a
        claim whose lease expired unfinished may be taken over by another runner)."""
        ...
    def renew_lease(self, job: str, slot: dt.datetime, owner: str, lease_s: float) -> bool: ...
    def release_claim(self, job: str, slot: dt.datetime, owner: str, status: RunStatus) -> None:
        ...

    def request_trigger(self, job: str, requested_by: str) -> None:
        """Ask a running scheduler to run an on-demand job (``commerce-sync trigger``)."""
        ...
    def take_triggers(self) -> list[str]:
        """Return and consume the pending trigger requests, oldest first."""
        ...

    def close(self) -> None: ...
