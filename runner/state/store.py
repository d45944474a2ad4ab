"""``SqlStateStore``: the one implementation of the state protocol, on SQLAlchemy Core.

SQLite and PostgreSQL differ only where they must: the upsert statement, row locking
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``)
and the job lock (see :mod:`runner.state.locks`). Scheduling tables live in
:mod:`runner.state.coordination`.

``commit_batch`` and removed keys: a key in ``removed`` loses its row hash (so a reappearing record
is written again) but keeps its key-map entry, right for an unpublished record that still exists
at the destination. For a deleted record the engine also lists the key in ``unmapped``, which
drops the mapping in the same transaction, so a dead destination id is never updated blindly.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from itertools import chain
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from runner.errors import StateError, redact
from runner.state.audits import AuditsMixin
from runner.state.base import (
    BatchCommit,
    DuplicateReport,
    Key,
    QuarantinedRecord,
    RunCounts,
    RunRecord,
    RunStatus,
)
from runner.state.codec import decode_json, decode_key, encode_json, encode_key, utcnow
from runner.state.coordination import CoordinationMixin
from runner.state.echoes import EchoMixin
from runner.state.engine import failure
from runner.state.locks import pg_job_lock, sqlite_job_lock
from runner.state.relations import RelationsMixin
from runner.state.schema import (
    cursors,
    duplicates,
    intents,
    keymap,
    quarantine,
    row_hashes,
    runs,
    schedule,
)

__all__ = ["SqlStateStore"]

log = logging.getLogger(__name__)

# SQLite allows 32766 bound parameters per statement; PostgreSQL far more. 500 keys per IN list
# keeps every statement small and cacheable on both.
IN_CHUNK = 500
LOOKUP_CHUNK = 2000  # keys per range scan of a SQLite look-up
RANGE_MIN = 64  # fewer keys are probed one by one
PG_CHUNK = 5000  # keys travel as one text[] parameter there
_COUNT_FIELDS = ("read", "written", "unchanged", "deleted", "quarantined", "echoed")


ABANDONED = (
    "its process ended before the run finished (killed, crashed or lost with its machine); "
    "what the destination acknowledged was committed and the next run reads the rest again"
)


def _pg() -> Any:
    # Imported on first use: a SQLite state store never needs the PostgreSQL dialect, which
    # costs ~30 ms of every command's start.
    from sqlalchemy.dialects import postgresql

    return postgresql


def _delete_by_key(table: sa.Table, scope: sa.Column[Any], job: str, name: str) -> sa.Delete:
    # Run with executemany, one full primary key per row: always an index probe, whatever
    # the planner's statistics say (an IN list may be answered by scanning the whole step).
    return sa.delete(table).where(
        table.c.job == job, scope == name, table.c.key == sa.bindparam("k")
    )


# The row counts of a bulk upsert's statements on SQLite, largest first (see _bulk_upsert).
_STATEMENT_ROWS = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)


def _sqlite_max_params(conn: sa.Connection) -> int:
    """How many parameters one statement of this SQLite connection takes (32,766 since SQLite
    3.32, 999 before it, or what the build set)."""
    raw = conn.connection.dbapi_connection
    try:
        return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[union-attr]
    except (AttributeError, sqlite3.Error):
        return 999


def _chunks(items: list[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_stored_form(keys: Iterable[Key]) -> dict[str, Key]:
    """The keys asked for, by their stored form: what comes back needs no decoding. A
    one-field key of text, the usual case, skips the check of its parts' types (a look-up runs
    on every record of a changes run)."""
    keys = keys if isinstance(keys, list) else list(keys)
    if all(len(key) == 1 and type(key[0]) is str for key in keys):
        dumps = orjson.dumps  # encode_key's form, inline: 0.45 -> 0.2 us a key
        return {dumps(key).decode(): key for key in keys}
    wanted: dict[str, Key] = {}
    for key in keys:
        if len(key) == 1 and type(key[0]) is str:
            wanted[encode_key(key)] = key
        else:
            norm = key if all(type(p) is str for p in key) else tuple(map(str, key))
            wanted[encode_key(norm)] = norm
    return wanted


class SqlStateStore(CoordinationMixin, RelationsMixin, AuditsMixin, EchoMixin):
    """State in a SQL database; build it with :func:`runner.state.open_state`."""

    def __init__(self, engine: sa.Engine, where: str) -> None:
        self._engine = engine
        self._where = where  # the location with its password hidden, for messages
        self._dialect = engine.dialect.name
        self._bulk_sql: dict[tuple[str, int], str] = {}
        self._sqlite_params: int | None = None  # parameters a statement takes; asked once
        # Look-ups (table, column, job, step or entity) whose keys were asked for out of
        # order: looked up key by key (see _sqlite_lookup).
        self._sparse: set[tuple[str, str, tuple[str, ...]]] = set()
        # An in-memory SQLite database is one shared connection: transactions from several
        # threads must take turns on it, and nothing may hold it between calls.
        self._memory = self._dialect == "sqlite" and (engine.url.database or "") in ("", ":memory:")
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if self._memory else nullcontext()
        )

    # plumbing ------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def location(self) -> str:
        return self._where

    def _insert(self, table: sa.Table) -> Any:
        if self._dialect == "postgresql":
            return _pg().insert(table)
        return sqlite.insert(table)

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        try:
            with self._serial, self._engine.connect() as conn:
                conn = conn.execution_options(cs_write=True)
                with conn.begin():
                    yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        try:
            with self._serial, self._engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: BaseException) -> StateError:
        return failure(self._engine, self._where, exc, "state store")

    def close(self) -> None:
        self._engine.dispose()

    # runs ----------------------------------------------------------------------------------
    def begin_run(self, job: str, step: str, mode: str) -> int:
        with self._write() as conn:
            result = conn.execute(
                sa.insert(runs)
                .values(job=job, step=step, mode=mode, status="running", started_at=utcnow())
                .returning(runs.c.id)
            )
            return int(result.scalar_one())

    def finish_run(self, run_id: int, status: RunStatus, error: str | None = None) -> None:
        now = utcnow()
        with self._write() as conn:
            job = conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=now,
                    error=redact(error) if error is not None else None,
                )
                .returning(runs.c.job, runs.c.step)
            ).first()
            if job is None:
                raise StateError(f"run {run_id} does not exist in the state store {self._where}")
            if job.step == "":
                self._record_outcome(conn, job.job, status, now)

    def abandon_runs(self, job: str) -> int:
        with self._write() as conn:
            done = conn.execute(
                sa.update(runs)
                .where(runs.c.job == job, runs.c.status == "running")
                .values(status="failed", finished_at=utcnow(), error=ABANDONED)
            )
        return int(done.rowcount or 0)

    def _record_outcome(self, conn: sa.Connection, job: str, status: RunStatus, now: Any) -> None:
        values: dict[str, Any] = {"last_finished_at": now, "last_status": status}
        if status in ("succeeded", "partial"):  # what was not quarantined is fresh
            values["last_success_at"] = now
        stmt = self._insert(schedule).values(job=job, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[schedule.c.job], set_=values))

    def runs(self, job: str | None = None, limit: int = 50) -> list[RunRecord]:
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if job is not None:
            query = query.where(runs.c.job == job)
        with self._read() as conn:
            return [
                RunRecord(
                    run_id=row.id,
                    job=row.job,
                    step=row.step,
                    mode=row.mode,
                    status=row.status,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    counts=RunCounts(**{f: getattr(row, f) for f in _COUNT_FIELDS}),
                    error=row.error,
                )
                for row in conn.execute(query)
            ]

    # progress ------------------------------------------------------------------------------
    def get_cursor(self, job: str, step: str) -> Any:
        with self._read() as conn:
            text = conn.execute(
                sa.select(cursors.c.value).where(cursors.c.job == job, cursors.c.step == step)
            ).scalar()
        return decode_json(text)

    def get_hashes(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, str]:
        scope = {"job": job, "step": step}
        with self._read() as conn:
            return self._lookup(conn, row_hashes, scope, row_hashes.c.hash, keys)

    def get_source_hashes(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, str]:
        scope = {"job": job, "step": step}
        with self._read() as conn:
            found = self._lookup(conn, row_hashes, scope, row_hashes.c.source_hash, keys)
        return {k: v for k, v in found.items() if v is not None} if None in found.values() \
            else found

    def _lookup(
        self,
        conn: sa.Connection,
        table: sa.Table,
        scope: Mapping[str, str],
        value: sa.Column[Any],
        keys: Iterable[Key],
    ) -> dict[Key, str]:
        """``{key: value}`` for the ``keys`` found under ``scope``, one query per chunk."""
        wanted = _by_stored_form(keys)
        encoded = list(wanted)
        if self._dialect == "sqlite":
            return self._sqlite_lookup(conn, table, scope, value, wanted)
        found: dict[Key, str] = {}
        where = [table.c[name] == v for name, v in scope.items()]
        for chunk in _chunks(encoded, PG_CHUNK if self._dialect == "postgresql" else IN_CHUNK):
            if self._dialect == "postgresql":
                query = self._pg_lookup(table, where, value, chunk)
            else:
                query = sa.select(table.c.key, value).where(*where, table.c.key.in_(chunk))
            for key, got in conn.execute(query):
                found[wanted[key]] = got
        return found

    def _sqlite_lookup(self, conn: sa.Connection, table: sa.Table, scope: Mapping[str, str],
                       value: sa.Column[Any], wanted: dict[str, Key]) -> dict[Key, str]:
        # The statement as text, straight to the driver's cursor: SQLAlchemy renders an
        # expanding IN of a batch's keys parameter by parameter and wraps every row, which
        # cost more than SQLite's own probes (measured: 5.5 -> 2.6 us per key looked up).
        # Names come from the table definition, never from data.
        where = " AND ".join(f'"{name}" = ?' for name in scope)
        select = f'SELECT "key", "{value.name}" FROM "{table.name}" WHERE {where}'
        params = tuple(scope.values())
        found: dict[Key, str] = {}
        cursor = conn.connection.cursor()
        # By column too: in a changes run the source hashes are asked for in the source's
        # order, a chunk at a time, while the row hashes are asked for only the few records
        # whose source changed, spread over the whole step.
        memo = (table.name, value.name, params)
        dense = memo not in self._sparse
        try:
            for chunk in _chunks(sorted(wanted) if dense else list(wanted), LOOKUP_CHUNK):
                if dense and len(chunk) >= RANGE_MIN:
                    # A source read in key order asks for neighbours: one scan of the range
                    # between its least and greatest key reads them in index order, for a
                    # third of what probing each key costs (1.1 vs 3.3 us per key). Encoded
                    # keys compare alike in Python and in SQLite (code points, UTF-8 bytes).
                    limit = 2 * len(chunk) + RANGE_MIN
                    cursor.execute(f'{select} AND "key" BETWEEN ? AND ? LIMIT ?',
                                   (*params, chunk[0], chunk[-1], limit))
                    rows = cursor.fetchall()
                    if len(rows) < limit:
                        found.update({wanted[key]: got for key, got in rows if key in wanted})
                        continue
                    # Keys spread over the step (a source in another order): probe them, for
                    # this chunk and from now on.
                    dense = False
                    self._sparse.add(memo)
                for part in _chunks(chunk, IN_CHUNK):
                    cursor.execute(f'{select} AND "key" IN ({", ".join("?" * len(part))})',
                                   (*params, *part))
                    for key, got in cursor.fetchall():
                        found[wanted[key]] = got
        finally:
            cursor.close()
        return found

    @staticmethod
    def _pg_lookup(
        table: sa.Table, where: list[Any], value: sa.Column[Any], chunk: list[str]
    ) -> sa.Select[Any]:
        # One primary-key probe per wanted key (a LATERAL subquery that LIMIT keeps from being
        # flattened). ``key IN (...)`` lets the planner, whose statistics lag behind a first
        # bulk load, filter every row of the step instead: quadratic over a large first sync.
        wanted = (
            sa.func.unnest(sa.literal(chunk, type_=_pg().ARRAY(sa.Text)))
            .table_valued("key")
            .render_derived(name="wanted")
        )
        probe = (
            sa.select(value.label("found"))
            .where(*where, table.c.key == wanted.c.key)
            .limit(1)
            .lateral("probe")
        )
        return sa.select(wanted.c.key, probe.c.found).select_from(wanted.join(probe, sa.true()))

    def iter_keys(self, job: str, step: str) -> Iterator[Key]:
        query = (
            sa.select(row_hashes.c.key)
            .where(row_hashes.c.job == job, row_hashes.c.step == step)
            .order_by(row_hashes.c.key)
        )
        if self._memory:
            with self._read() as conn:
                keys = conn.execute(query).scalars().all()
            yield from (decode_key(k) for k in keys)
            return
        try:
            with self._engine.connect() as conn:
                # Server-side cursor on PostgreSQL; SQLite steps through its result anyway.
                result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
                for (key,) in result:
                    yield decode_key(key)
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    def commit_batch(self, commit: BatchCommit) -> None:
        now = utcnow()
        job, step = commit.job, commit.step
        with self._write() as conn:
            if commit.cursor is not None:
                value = encode_json(commit.cursor)
                stmt = self._insert(cursors).values(job=job, step=step, value=value, updated_at=now)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[cursors.c.job, cursors.c.step],
                        set_={"value": value, "updated_at": now},
                    )
                )
            # Each key is encoded once: a written record's key goes to its hash and its id.
            encoded: dict[Key, str] = {}
            if commit.hashes or commit.source_hashes:
                self._put_hashes(conn, commit, encoded)
            if commit.keymap:
                self._keymap_upsert(conn, job, commit.entity, commit.keymap, encoded)
            removed = [{"k": encode_key(k)} for k in commit.removed]
            if removed:
                conn.execute(_delete_by_key(row_hashes, row_hashes.c.step, job, step), removed)
            unmapped = [{"k": encode_key(k)} for k in commit.unmapped]
            if unmapped:
                conn.execute(_delete_by_key(keymap, keymap.c.entity, job, commit.entity), unmapped)
            if commit.echoes or commit.echoes_used:
                self._put_echoes(conn, commit)
            settled = [{"k": encode_key(k)} for k in commit.resolved]
            if settled:
                conn.execute(_delete_by_key(intents, intents.c.step, job, step), settled)
            if commit.hashes and self._any_refused(conn, job, step):
                # A key written and acknowledged is no longer refused: forget its old refusal
                # (before this batch's own refusals go in, so a key refused again stays). The
                # probe first: a step with nothing in quarantine, the common case, is spared a
                # statement of a thousand keys per batch (~7% of a commit's CPU, measured).
                written = [encode_key(k) for k in commit.hashes]
                for chunk in _chunks(written):
                    conn.execute(sa.delete(quarantine).where(
                        quarantine.c.job == job, quarantine.c.step == step,
                        quarantine.c.key.in_(chunk)))
            self._quarantine_put(conn, commit, now)
            released = list(commit.released)
            for chunk in _chunks(released):
                self._unblock(conn, chunk)
                conn.execute(sa.delete(quarantine).where(quarantine.c.id.in_(chunk)))
            self._count(conn, commit.run_id, commit.counts)
        log.debug(
            "state.batch_committed",
            extra={"job": job, "step": step, "rows": len(commit.hashes), "removed": len(removed)},
        )

    # The two statements every batch's commit runs, on SQLite as text straight to the driver:
    # built through SQLAlchemy they cost 250 and 360 us of CPU per batch, as text 30 and 45 us
    # (measured), for statements whose text never changes. Names come from the table
    # definitions, never from data.
    _SQLITE_ANY_REFUSED = (
        f'SELECT "{quarantine.c.id.name}" FROM "{quarantine.name}" WHERE "{quarantine.c.job.name}"'
        f' = ? AND "{quarantine.c.step.name}" = ? AND "{quarantine.c.key.name}" IS NOT NULL LIMIT 1'
    )

    def _any_refused(self, conn: sa.Connection, job: str, step: str) -> bool:
        """Whether the step holds a keyed record in quarantine (in this transaction)."""
        if self._dialect == "sqlite":
            return conn.exec_driver_sql(self._SQLITE_ANY_REFUSED, (job, step)).first() is not None
        probe = (sa.select(quarantine.c.id)
                 .where(quarantine.c.job == job, quarantine.c.step == step,
                        quarantine.c.key.is_not(None))
                 .limit(1))
        return conn.execute(probe).first() is not None

    def _count(self, conn: sa.Connection, run_id: int, counts: RunCounts) -> None:
        """Add a batch's non-zero counts to its run record."""
        increments = {f: getattr(counts, f) for f in _COUNT_FIELDS if getattr(counts, f)}
        if not increments:
            return
        if self._dialect == "sqlite":
            columns = ", ".join(f'"{runs.c[f].name}" = "{runs.c[f].name}" + ?'
                                for f in increments)
            conn.exec_driver_sql(
                f'UPDATE "{runs.name}" SET {columns} WHERE "{runs.c.id.name}" = ?',
                (*increments.values(), run_id))
            return
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(
            {f: getattr(runs.c, f) + n for f, n in increments.items()}))

    def _put_hashes(self, conn: sa.Connection, commit: BatchCommit,
                    encoded: dict[Key, str]) -> None:
        """Upsert the batch's hashes; ``encoded`` receives the stored form of their keys."""
        job, step, sources, hashes = commit.job, commit.step, commit.source_hashes, commit.hashes
        if hashes:
            keys = list(map(encode_key, hashes))
            encoded.update(zip(hashes, keys, strict=True))
            # The rows built by zip and map, with no Python frame per record.
            self._bulk_upsert(
                conn,
                row_hashes,
                ("job", "step", "key"),
                ("hash", "source_hash"),
                (job, step),
                list(zip(keys, hashes.values(), map(sources.get, hashes), strict=False)),
            )
        # Records found unchanged after their source row changed: only the source hash moves.
        moved = [{"s": s, "k": encode_key(k)} for k, s in sources.items()
                 if k not in commit.hashes]
        if moved:
            conn.execute(
                sa.update(row_hashes)
                .where(row_hashes.c.job == job, row_hashes.c.step == step,
                       row_hashes.c.key == sa.bindparam("k"))
                .values(source_hash=sa.bindparam("s")),
                moved,
            )

    def _quarantine_put(self, conn: sa.Connection, commit: BatchCommit, now: Any) -> None:
        rows = [
            {
                "job": commit.job,
                "step": commit.step,
                "run_id": commit.run_id,
                "key": encode_key(key) if key is not None else None,
                "record": encode_json(dict(record)),
                "reason": redact(reason),
                "attempts": 1,
                "created_at": now,
                "updated_at": now,
            }
            for key, record, reason in commit.quarantine
        ]
        if not rows:
            return
        stmt = self._insert(quarantine)
        # The same record failing again bumps its attempts instead of piling up rows. Rows
        # without a key never conflict (NULLs are distinct in a unique index).
        stmt = stmt.on_conflict_do_update(
            index_elements=[quarantine.c.job, quarantine.c.step, quarantine.c.key],
            set_={
                "attempts": quarantine.c.attempts + 1,
                "record": stmt.excluded.record,
                "reason": stmt.excluded.reason,
                "run_id": stmt.excluded.run_id,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        conn.execute(stmt, rows)

    def reset_step(self, job: str, step: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(cursors).where(cursors.c.job == job, cursors.c.step == step))
            conn.execute(
                sa.delete(row_hashes).where(row_hashes.c.job == job, row_hashes.c.step == step)
            )

    # key map -------------------------------------------------------------------------------
    def keymap_get(self, job: str, entity: str, keys: Iterable[Key]) -> dict[Key, str]:
        scope = {"job": job, "entity": entity}
        with self._read() as conn:
            return self._lookup(conn, keymap, scope, keymap.c.dest_id, keys)

    def keymap_any(self, job: str, entity: str) -> bool:
        query = (
            sa.select(keymap.c.key).where(keymap.c.job == job, keymap.c.entity == entity).limit(1)
        )
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def keymap_put(self, job: str, entity: str, pairs: Mapping[Key, str]) -> None:
        if not pairs:
            return
        with self._write() as conn:
            self._keymap_upsert(conn, job, entity, pairs)

    def keymap_delete(self, job: str, entity: str, keys: Iterable[Key]) -> int:
        """Forget the destination ids of ``keys`` (their destination records were deleted)."""
        wanted = list(keys)
        with self._write() as conn:
            found = self._lookup(conn, keymap, {"job": job, "entity": entity}, keymap.c.key, wanted)
            if found:
                conn.execute(
                    _delete_by_key(keymap, keymap.c.entity, job, entity),
                    [{"k": encode_key(k)} for k in found],
                )
        return len(found)

    def _keymap_upsert(
        self, conn: sa.Connection, job: str, entity: str, pairs: Mapping[Key, str],
        encoded: Mapping[Key, str] | None = None,
    ) -> None:
        """Upsert ids; ``encoded``: the stored form of some of the keys, already made."""
        if encoded is not None and encoded.keys() >= pairs.keys():
            keys = list(map(encoded.__getitem__, pairs))
        else:
            keys = list(map(encode_key, pairs))
        self._bulk_upsert(
            conn,
            keymap,
            ("job", "entity", "key"),
            ("dest_id",),
            (job, entity),
            list(zip(keys, map(str, pairs.values()), strict=False)),
        )

    def _bulk_upsert(
        self,
        conn: sa.Connection,
        table: sa.Table,
        pk: tuple[str, ...],
        values: tuple[str, ...],
        scope: tuple[str, ...],
        rows: list[tuple[str | None, ...]],
    ) -> None:
        """Upsert rows of strings (or None), the whole batch in one round trip: ``scope``
        holds the first primary-key columns, the same for every row (the job and the step),
        and each row the rest of ``(*pk, *values)``.

        PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays)``, one statement for the batch
        instead of one per row. SQLite: one ``INSERT ... SELECT FROM (VALUES ...)`` (see
        :meth:`_sqlite_upsert`), as text straight to the driver: SQLAlchemy's per-row parameter
        processing would otherwise cost more than the database's own work (measured: ~40%).
        The scope is bound once per statement, not repeated in every row.
        """
        names = (*pk, *values)
        if self._dialect == "postgresql":
            columns = [list(col) for col in zip(*rows, strict=True)]
            source = (
                sa.func.unnest(*[sa.literal(col, _pg().ARRAY(sa.Text)) for col in columns])
                .table_valued(*names[len(scope):])
                .render_derived(name="batch")
            )
            picks = [sa.literal(v, sa.Text).label(n)
                     for n, v in zip(names[:len(scope)], scope, strict=True)]
            stmt = _pg().insert(table).from_select(list(names), sa.select(*picks, *source.c))
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[table.c[c] for c in pk],
                    set_={v: stmt.excluded[v] for v in values},
                )
            )
            return
        fixed, width = len(scope), len(names) - len(scope)
        if self._sqlite_params is None:
            self._sqlite_params = _sqlite_max_params(conn)
        most = max(1, (self._sqlite_params - fixed) // width)
        start = 0
        while start < len(rows):
            # Statements of a few sizes only (the powers of two in _STATEMENT_ROWS), so that
            # a long-lived process prepares and keeps a handful, whatever its batches hold.
            count = next(size for size in _STATEMENT_ROWS if size <= min(most, len(rows) - start))
            chunk = rows[start:start + count]
            start += count
            form = (table.name, count)
            sql = self._bulk_sql.get(form)
            if sql is None:
                sql = self._bulk_sql[form] = self._sqlite_upsert(table, pk, values, fixed, count)
            conn.exec_driver_sql(sql, (*scope, *chain.from_iterable(chunk)))

    def _sqlite_upsert(self, table: sa.Table, pk: tuple[str, ...], values: tuple[str, ...],
                       fixed: int, count: int) -> str:
        """The SQLite statement of :meth:`_bulk_upsert` for ``table`` and ``count`` rows, its
        first ``fixed`` columns bound once, then each row's values.

        One statement matters beyond its own cost: the driver lets go of the GIL around each
        step of a statement, so executemany (300,000 rows: 0.63 s of CPU) hands it over once
        per row to whichever thread wants it, and a commit made beside a busy transform
        waited that many times. Rows bound as parameters of one multi-row VALUES cost SQLite
        less than the same rows read from a JSON array with json_each (300,000 row hashes:
        0.28 against 0.36 s of CPU), and need no JSON in the SQLite build. Rows go in in
        order, so of two rows with one key in a batch the last wins, as with executemany.
        Names come from the table definitions, never from data.
        """
        quote = self._engine.dialect.identifier_preparer.quote
        names = (*pk, *values)
        columns = ", ".join(map(quote, names))
        conflict = (f"ON CONFLICT ({', '.join(map(quote, pk))}) DO UPDATE SET "
                    + ", ".join(f"{quote(v)} = excluded.{quote(v)}" for v in values))
        # ?1..?fixed: the scope; each plain ? after them takes the next number.
        picks = ", ".join([f"?{i + 1}" for i in range(fixed)]
                          + [f"column{i + 1}" for i in range(len(names) - fixed)])
        row = "(" + ", ".join("?" for _ in range(len(names) - fixed)) + ")"
        # "WHERE true": SQLite's documented way to tell an upsert's ON from a join's.
        return (f"INSERT INTO {quote(table.name)} ({columns}) SELECT {picks} "
                f"FROM (VALUES {', '.join([row] * count)}) WHERE true {conflict}")

    # write-ahead intents -------------------------------------------------------------------
    def intents_put(self, job: str, step: str, intents_: Mapping[Key, str], run_id: int,
                    status: str = "pending") -> None:
        if not intents_:
            return
        now = utcnow()
        rows = [{"job": job, "step": step, "key": encode_key(k), "idempotency_key": idem,
                 "run_id": run_id, "status": status, "created_at": now}
                for k, idem in intents_.items()]
        stmt = self._insert(intents)
        stmt = stmt.on_conflict_do_update(
            index_elements=[intents.c.job, intents.c.step, intents.c.key],
            set_={"idempotency_key": stmt.excluded.idempotency_key,
                  "run_id": stmt.excluded.run_id, "status": stmt.excluded.status},
        )
        with self._write() as conn:
            conn.execute(stmt, rows)

    def intents_pending(self, job: str, step: str) -> dict[Key, tuple[str, str]]:
        query = sa.select(intents.c.key, intents.c.idempotency_key, intents.c.status).where(
            intents.c.job == job, intents.c.step == step)
        with self._read() as conn:
            return {decode_key(k): (idem, status) for k, idem, status in conn.execute(query)}

    @staticmethod
    def _unblock(conn: sa.Connection, qids: list[int]) -> None:
        # A record held because its create could not be checked is settled by the user's
        # retry (create it) or drop (forget it): its intent goes with its quarantine row.
        held = sa.select(quarantine.c.job, quarantine.c.step, quarantine.c.key).where(
            quarantine.c.id.in_(qids), quarantine.c.key.is_not(None))
        conn.execute(sa.delete(intents).where(
            sa.tuple_(intents.c.job, intents.c.step, intents.c.key).in_(held)))

    # duplicates ----------------------------------------------------------------------------
    def duplicates_put(self, job: str, entity: str, found: Mapping[Key, list[str]],
                       kept: Mapping[Key, str]) -> None:
        now = utcnow()
        with self._write() as conn:
            conn.execute(sa.delete(duplicates).where(duplicates.c.job == job,
                                                     duplicates.c.entity == entity))
            rows = [{"job": job, "entity": entity, "key": encode_key(k),
                     "ids": encode_json(list(ids)), "kept": kept.get(k, ids[0]), "found_at": now}
                    for k, ids in found.items()]
            if rows:
                conn.execute(sa.insert(duplicates), rows)

    def duplicates_list(self, job: str | None = None) -> list[DuplicateReport]:
        query = sa.select(duplicates).order_by(duplicates.c.job, duplicates.c.entity,
                                               duplicates.c.key)
        if job is not None:
            query = query.where(duplicates.c.job == job)
        with self._read() as conn:
            return [DuplicateReport(row.job, row.entity, decode_key(row.key),
                                    tuple(decode_json(row.ids)), row.kept, row.found_at)
                    for row in conn.execute(query)]

    # quarantine ----------------------------------------------------------------------------
    @staticmethod
    def _quarantined(row: Any) -> QuarantinedRecord:
        return QuarantinedRecord(
            id=row.id,
            job=row.job,
            step=row.step,
            run_id=row.run_id,
            key=decode_key(row.key) if row.key is not None else None,
            record=decode_json(row.record),
            reason=row.reason,
            attempts=row.attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def quarantine_list(
        self, job: str | None = None, step: str | None = None
    ) -> list[QuarantinedRecord]:
        query = sa.select(quarantine).order_by(quarantine.c.id)
        if job is not None:
            query = query.where(quarantine.c.job == job)
        if step is not None:
            query = query.where(quarantine.c.step == step)
        with self._read() as conn:
            return [self._quarantined(row) for row in conn.execute(query)]

    def quarantine_get(self, qid: int) -> QuarantinedRecord | None:
        with self._read() as conn:
            row = conn.execute(sa.select(quarantine).where(quarantine.c.id == qid)).first()
        return self._quarantined(row) if row is not None else None

    def quarantine_drop(self, qids: Iterable[int]) -> int:
        ids = list(qids)
        dropped = 0
        with self._write() as conn:
            for chunk in _chunks(ids):
                self._unblock(conn, chunk)
                dropped += conn.execute(
                    sa.delete(quarantine).where(quarantine.c.id.in_(chunk))
                ).rowcount
        return dropped

    def quarantine_count(self, job: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(quarantine)
        if job is not None:
            query = query.where(quarantine.c.job == job)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # job lock ------------------------------------------------------------------------------
    def job_lock(self, job: str, owner: str, wait_s: float = 0.0) -> AbstractContextManager[None]:
        if self._dialect == "postgresql":
            return pg_job_lock(self._engine, job, owner, wait_s)
        # An in-memory store lives in one process: nothing can go stale, so no heartbeat.
        return sqlite_job_lock(
            self._engine, job, owner, wait_s, heartbeat=not self._memory, serial=self._serial
        )
