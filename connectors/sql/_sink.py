"""Writing records into a table: insert, native upsert, update, delete, unpublish, and a
header with its lines in one transaction.

A batch is one transaction. If the database refuses a value (constraint, length, type) the
batch is rolled back and replayed one record per transaction, so good records commit and each
bad one comes back as ``WriteOutcome(ok=False)``. Any other failure rolls the batch back whole
and raises ``RetryableError`` or ``FatalError``. Statements come from reflected ``Table``
objects: identifiers are quoted by the dialect and every value is a bound parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.api import ConnectorContext, WriteOp, WriteOutcome
from connectors.sql import _db, _keys
from connectors.sql._bulk import BulkWriter
from connectors.sql._options import LinesOptions, SqlDestinationOptions
from runner.errors import ConfigError, FatalError, RecordError, SyncError

log = logging.getLogger(__name__)

_NUMBERS = (int, float, Decimal)
_BOOL, _TEXT, _JSON = 1, 2, 4  # column flags, see SqlSink._flags
_IN_CHUNK = 400  # keys per IN (...) lookup: under SQLite's bound-parameter limit


@dataclass
class _Item:
    """One op, checked and reduced to column values."""

    index: int
    kind: str  # insert | upsert | update | delete | unpublish
    key: tuple[Any, ...]
    values: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] | None = None


def _fullname(name: str, schema: str | None) -> str:
    return f"{schema}.{name}" if schema else name


class SqlSink:
    def __init__(self, options: SqlDestinationOptions, ctx: ConnectorContext) -> None:
        self._ctx = ctx
        self._url = _db.make_url(options.url)
        self._mode: str = options.mode
        schema, lines_opt = options.schema, options.lines
        engine = _db.create_engine(self._url)
        self._engine: sa.Engine | None = engine
        self._bulk = BulkWriter(engine.dialect)
        self._sqlite_json: bool | None = None  # asked on the first look-up by a composite key
        self._ids_sql: str | None = None
        self._what = f"writing {options.table}"
        names = [options.table] + ([lines_opt.table] if lines_opt else [])
        meta = sa.MetaData()
        try:
            meta.reflect(self._engine, schema=schema, only=names, resolve_fks=False)
        except sa_exc.InvalidRequestError as exc:
            # reflect(only=...) names the missing tables in this error.
            self.close()
            raise FatalError(
                f"{self._what}: {exc}; create the table(s) or fix `table`/`lines.table` "
                f"(database {_db.safe_url(self._url)})"
            ) from exc
        except sa_exc.SQLAlchemyError as exc:
            self.close()
            raise _db.translate(exc, self._what, self._url) from exc
        try:
            self._setup(meta, options, schema, lines_opt)
        except SyncError:
            self.close()
            raise
        log.info("sql.sink.opened", extra={
            "job": ctx.job, "step": ctx.step, "url": _db.safe_url(self._url),
            "table": self.table.fullname, "mode": self._mode})

    def _setup(self, meta: sa.MetaData, options: SqlDestinationOptions, schema: str | None,
               lines_opt: LinesOptions | None) -> None:
        self.table = meta.tables[_fullname(options.table, schema)]
        tname = self.table.fullname

        def need(cols: Sequence[str], table: sa.Table, option: str) -> None:
            missing = [c for c in cols if c not in table.c]
            if missing:
                raise ConfigError(
                    f"{option}: table {table.fullname} has no column(s) {', '.join(missing)}; "
                    f"its columns are: {', '.join(table.c.keys())}"
                )

        self.key: tuple[str, ...] = options.key or self._ctx.key_fields
        if not self.key:
            raise ConfigError(f"sql destination {tname}: no key; set the step's key or `key`")
        need(self.key, self.table, "key")
        pk = list(self.table.primary_key.columns)
        self.pk: str | None = pk[0].key if len(pk) == 1 else None
        self._columns: list[str] | None = list(options.columns) if options.columns else None
        if self._columns:
            need(self._columns, self.table, "columns")
        self._unpublish: dict[str, Any] | None = None
        if options.unpublish:
            self._unpublish = dict(options.unpublish.set)
            need(list(self._unpublish), self.table, "unpublish.set")
        self.lines_table: sa.Table | None = None
        self._lines_field = ""
        self._parent_key = ""
        if lines_opt:
            self.lines_table = meta.tables[_fullname(lines_opt.table, schema)]
            self._lines_field = lines_opt.field
            self._parent_key = lines_opt.parent_key
            need([self._parent_key, *lines_opt.key], self.lines_table, "lines")
            if self.pk is None:
                raise ConfigError(
                    f"lines: the header table {tname} needs a single-column primary key "
                    f"for {self.lines_table.fullname}.{self._parent_key} to refer to"
                )
        if self._mode == "upsert" and not self._unique_on_key():
            raise ConfigError(
                f"mode upsert: table {tname} has no primary key or unique index on "
                f"({', '.join(self.key)}); add one, or use mode insert/update"
            )
        self._warned_extra = False
        self._stmts: dict[Any, Any] = {}
        self._colflags: dict[str, dict[str, int]] = {}

    def _unique_on_key(self) -> bool:
        want = set(self.key)
        if {c.key for c in self.table.primary_key.columns} == want:
            return True
        for cons in self.table.constraints:
            if isinstance(cons, sa.UniqueConstraint) and {c.key for c in cons.columns} == want:
                return True
        return any(ix.unique and {c.key for c in ix.columns} == want for ix in self.table.indexes)

    @property
    def _dialect(self) -> str:
        return self._url.get_backend_name()

    # -- preparing ops -------------------------------------------------------------------

    def _kind(self, action: str) -> str:
        if action in ("delete", "unpublish"):
            return action
        if self._mode == "delete":
            return "delete"
        if action == "update":
            return "update"
        return self._mode

    def _flags(self, table: sa.Table) -> dict[str, int]:
        """Per column, what conversions it needs: looked up once, not per value (SQLAlchemy
        column lookups cost more than the rest of preparing a record)."""
        found = self._colflags.get(table.fullname)
        if found is None:
            found = {}
            for col in table.columns:
                found[col.key] = ((_BOOL if isinstance(col.type, sa.Boolean) else 0)
                                  | (_TEXT if isinstance(col.type, sa.String) else 0)
                                  | (_JSON if isinstance(col.type, sa.JSON) else 0))
            self._colflags[table.fullname] = found
        return found

    def _clean(self, record: Mapping[str, Any], table: sa.Table,
               wanted: Sequence[str] | None) -> dict[str, Any]:
        flags = self._flags(table)
        out: dict[str, Any] = {}
        for name in wanted if wanted is not None else record:
            flag = flags.get(name)
            if flag is None or name not in record:
                continue
            value = record[name]
            kind = type(value)
            if kind is bool:
                if not flag & _BOOL:
                    value = int(value)
            elif kind in _NUMBERS:
                if flag & _TEXT:
                    # PostgreSQL has no text = bigint operator: a numeric SKU compares as text.
                    value = str(value)
            elif (kind is dict or kind is list) and not flag & _JSON:
                raise RecordError(
                    f"field {name!r} holds a {'list' if kind is list else 'mapping'} but "
                    f"{table.fullname}.{name} is {table.c[name].type}; map it to a plain value",
                    field=name,
                )
            out[name] = value
        return out

    def _prepare(self, index: int, op: WriteOp) -> _Item:
        kind = self._kind(op.action)
        record = op.record
        if all(k in record for k in self.key):
            key = tuple(record[k] for k in self.key)
        elif len(op.key) == len(self.key):
            key = tuple(op.key)
        else:
            raise RecordError(
                f"record has no value for key column(s) {', '.join(self.key)} "
                f"of {self.table.fullname}"
            )
        flags = self._flags(self.table)
        key = tuple(str(v) if type(v) in _NUMBERS and flags[k] & _TEXT else v
                    for k, v in zip(self.key, key, strict=True))
        item = _Item(index, kind, key)
        if kind == "unpublish":
            if self._unpublish is None:
                raise FatalError(
                    f"{self._what}: the step unpublishes records but the destination has no "
                    "`unpublish: {set: {column: value}}` option; add one (e.g. "
                    "{set: {sell_online: false}}) or set the step's delete policy"
                )
            item.values = self._clean(self._unpublish, self.table, None)
        elif kind != "delete":
            if not self._warned_extra:
                self._warned_extra = True
                ignored = sorted(f for f in record if f not in self.table.c
                                 and not (self.lines_table is not None and f == self._lines_field))
                if ignored and self._columns is None:
                    log.info("sql.sink.fields_ignored", extra={
                        "job": self._ctx.job, "step": self._ctx.step,
                        "table": self.table.fullname, "fields": ",".join(ignored)})
            item.values = self._clean(record, self.table, self._columns)
            for k, v in zip(self.key, key, strict=True):
                item.values[k] = v
            # No lines field: the header alone changes (a status update) and its lines stay;
            # a list, even an empty one, replaces them.
            if self.lines_table is not None and self._lines_field in record:
                raw = record[self._lines_field] or []
                # type() first: an ABC's isinstance costs ~0.4 us a line, and lines are dicts.
                if not isinstance(raw, list) or not all(
                        type(x) is dict or isinstance(x, Mapping) for x in raw):
                    raise RecordError(f"field {self._lines_field!r} must be a list of objects",
                                      field=self._lines_field)
                item.lines = [self._clean(x, self.lines_table, None) for x in raw]
        return item

    # -- write ---------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        engine = self._engine
        if engine is None:
            raise FatalError(f"{self._what}: the sink is closed")
        outcomes: list[WriteOutcome | None] = [None] * len(ops)
        items: list[_Item] = []
        for i, op in enumerate(ops):
            try:
                items.append(self._prepare(i, op))
            except RecordError as exc:
                outcomes[i] = WriteOutcome(ok=False, error=str(exc))
        try:
            with engine.begin() as conn:
                done = self._apply(conn, items)
        except sa_exc.SQLAlchemyError as exc:
            if not _db.is_record_error(exc):
                raise _db.translate(exc, self._what, self._url) from exc
            log.info("sql.sink.batch_refused", extra={
                "job": self._ctx.job, "step": self._ctx.step, "rows": len(items),
                "reason": _db.reason(exc)})
            done = self._one_by_one(engine, items)
        for item, outcome in zip(items, done, strict=True):
            outcomes[item.index] = outcome
        return [o or WriteOutcome(ok=False, error="not written") for o in outcomes]

    def _one_by_one(self, engine: sa.Engine, items: list[_Item]) -> list[WriteOutcome]:
        done: list[WriteOutcome] = []
        for item in items:
            try:
                with engine.begin() as conn:
                    done.extend(self._apply(conn, [item]))
            except sa_exc.SQLAlchemyError as exc:
                if not _db.is_record_error(exc):
                    raise _db.translate(exc, self._what, self._url) from exc
                done.append(WriteOutcome(ok=False, error=_db.reason(exc)))
        return done

    def _apply(self, conn: sa.Connection, items: list[_Item]) -> list[WriteOutcome]:
        """Execute ``items`` in order, consecutive ones of the same shape as one executemany."""
        out: list[WriteOutcome] = []
        start = 0
        while start < len(items):
            first = items[start]
            shape = (first.kind, tuple(first.values))
            end = start + 1
            # Headers with lines group too when they are written by insert/upsert: their lines
            # are then replaced for the whole run at once (see _run).
            groups_lines = first.kind in ("insert", "upsert")
            if first.lines is None or groups_lines:
                while end < len(items) and (items[end].kind, tuple(items[end].values)) == shape \
                        and (items[end].lines is None) == (first.lines is None):
                    end += 1
            out.extend(self._run(conn, items[start:end]))
            start = end
        return out

    def _run(self, conn: sa.Connection, run: list[_Item]) -> list[WriteOutcome]:
        kind = run[0].kind
        t = self.table
        out: list[WriteOutcome] = []
        if kind == "delete":
            if self.lines_table is not None:
                self._delete_lines(conn, list(self._ids(conn, [it.key for it in run]).values()))
            conn.execute(self._stmt_delete(), [self._key_params(it) for it in run])
            return [WriteOutcome(ok=True) for _ in run]
        if kind in ("update", "unpublish"):
            upd = tuple(c for c in run[0].values if c not in self.key)
            if upd:
                conn.execute(self._stmt_update(upd), [
                    {**self._key_params(it), **{f"v_{c}": it.values[c] for c in upd}}
                    for it in run])
            found_ids = self._ids(conn, [it.key for it in run], force=True)
            for it in run:
                found = found_ids.get(_norm(it.key))
                if found is None:
                    out.append(WriteOutcome(ok=False, error=(
                        f"no row in {t.fullname} with {_keytext(self.key, it.key)} to {kind}")))
                    continue
                if it.lines is not None:
                    self._replace_lines(conn, found, it.lines)
                out.append(WriteOutcome(ok=True, dest_id=found if self.pk else None))
            return out
        # insert / upsert
        cols = tuple(run[0].values)
        if kind == "upsert":
            self._upsert(conn, cols, run)
        else:
            self._bulk.execute(conn, "insert", t.insert(), [it.values for it in run])
        ids: dict[tuple[str, ...], str]
        if self.pk is not None and self.key == (self.pk,):  # the key is the id: no lookup
            ids = {(k,): k for k in (str(it.key[0]) for it in run)}
        else:
            ids = self._ids(conn, [it.key for it in run])
        replaced: dict[str, list[dict[str, Any]]] = {}
        for it in run:
            found = ids.get(_norm(it.key))
            if it.lines is not None:
                if found is None:
                    raise FatalError(
                        f"{self._what}: the header {_keytext(self.key, it.key)} was written but "
                        "its id could not be read back by key; check that the key columns hold "
                        "the values as written (type, collation, triggers)")
                replaced[found] = it.lines  # the last write of a header wins, as one by one
            out.append(WriteOutcome(ok=True, dest_id=found))
        if replaced:
            self._replace_many_lines(conn, replaced)
        return out

    def _upsert(self, conn: sa.Connection, cols: tuple[str, ...], run: list[_Item]) -> None:
        stmt = self._stmt_upsert(cols)
        if stmt is not None:
            self._bulk.execute(conn, ("upsert", cols), stmt, [it.values for it in run])
            return
        # A dialect without a native upsert: update, then insert what did not exist.
        upd = [c for c in cols if c not in self.key]
        for it in run:
            hit = 0
            if upd:
                res = conn.execute(self._stmt_update(tuple(upd)), {
                    **self._key_params(it), **{f"v_{c}": it.values[c] for c in upd}})
                hit = res.rowcount
            elif self._ids(conn, [it.key], force=True):
                hit = 1
            if not hit:
                conn.execute(self.table.insert(), it.values)

    def _replace_lines(self, conn: sa.Connection, parent: str, lines: list[dict[str, Any]]) -> None:
        assert self.lines_table is not None
        pcol = self.lines_table.c[self._parent_key]
        pid = _typed(pcol, parent)
        conn.execute(sa.delete(self.lines_table).where(pcol == pid))
        if lines:
            conn.execute(self.lines_table.insert(),
                         [{**line, self._parent_key: pid} for line in lines])

    def _replace_many_lines(
        self, conn: sa.Connection, lines_by_parent: Mapping[str, list[dict[str, Any]]]
    ) -> None:
        """:meth:`_replace_lines` for many headers: one DELETE per chunk of parents and one
        executemany per shape of line, instead of two statements per header."""
        assert self.lines_table is not None
        pcol = self.lines_table.c[self._parent_key]
        self._delete_lines(conn, list(lines_by_parent))
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for parent, lines in lines_by_parent.items():
            pid = _typed(pcol, parent)
            for line in lines:
                row = {**line, self._parent_key: pid}
                shapes.setdefault(tuple(row), []).append(row)
        for rows in shapes.values():
            self._bulk.execute(conn, "lines", self.lines_table.insert(), rows)

    def _delete_lines(self, conn: sa.Connection, parents: list[str]) -> None:
        assert self.lines_table is not None
        pcol = self.lines_table.c[self._parent_key]
        for i in range(0, len(parents), _IN_CHUNK):
            chunk = [_typed(pcol, p) for p in parents[i:i + _IN_CHUNK]]
            conn.execute(sa.delete(self.lines_table).where(pcol.in_(chunk)))

    # -- statements (built once per shape) -----------------------------------------------

    def _key_params(self, item: _Item) -> dict[str, Any]:
        return {f"k_{k}": v for k, v in zip(self.key, item.key, strict=True)}

    def _key_clause(self) -> sa.ColumnElement[bool]:
        return sa.and_(*[self.table.c[k] == sa.bindparam(f"k_{k}") for k in self.key])

    def _stmt_delete(self) -> Any:
        if "delete" not in self._stmts:
            self._stmts["delete"] = sa.delete(self.table).where(self._key_clause())
        return self._stmts["delete"]

    def _stmt_update(self, cols: tuple[str, ...]) -> Any:
        cache = ("update", cols)
        if cache not in self._stmts:
            self._stmts[cache] = sa.update(self.table).where(self._key_clause()).values(
                {c: sa.bindparam(f"v_{c}") for c in cols})
        return self._stmts[cache]

    def _stmt_upsert(self, cols: tuple[str, ...]) -> Any:
        cache = ("upsert", cols)
        if cache in self._stmts:
            return self._stmts[cache]
        t = self.table
        rest = [c for c in cols if c not in self.key]
        stmt: Any
        if self._dialect in ("sqlite", "postgresql"):
            # The dialect's own module only: SQLAlchemy's postgresql package (asyncpg's
            # dialect, the array types) took 37 ms to import into a run on SQLite.
            ins: Any
            if self._dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert
                ins = sqlite_insert(t)
            else:
                from sqlalchemy.dialects.postgresql import insert as pg_insert
                ins = pg_insert(t)
            target = [t.c[k] for k in self.key]
            if rest:
                stmt = ins.on_conflict_do_update(
                    index_elements=target, set_={c: ins.excluded[c] for c in rest})
            else:
                stmt = ins.on_conflict_do_nothing(index_elements=target)
        elif self._dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert as mysql_insert
            mins = mysql_insert(t)
            # With nothing to update, assigning the key to itself makes a duplicate a no-op.
            stmt = mins.on_duplicate_key_update(
                {c: mins.inserted[c] for c in (rest or [self.key[0]])})
        else:
            stmt = None
        self._stmts[cache] = stmt
        return stmt

    def _ids(self, conn: sa.Connection, keys: list[tuple[Any, ...]],
             force: bool = False) -> dict[tuple[str, ...], str]:
        """Primary key of the rows with these natural keys, looked up in this transaction.
        With ``force`` rows are looked up even without a single-column primary key (the
        answer then says only that they exist)."""
        if self.pk is None and not force:
            return {}
        if self.pk is not None and self.key == (self.pk,) and not force:
            return {_norm(k): str(k[0]) for k in keys}
        t = self.table
        keycols = [t.c[k] for k in self.key]
        idcol = t.c[self.pk] if self.pk is not None else keycols[0]
        found: dict[tuple[str, ...], str] = {}
        if len(keycols) > 1 and self._dialect == "sqlite" and keys:
            joined = self._ids_joined(conn, keys, idcol.name)
            if joined is not None:
                return joined
        for i in range(0, len(keys), _IN_CHUNK):
            chunk = keys[i:i + _IN_CHUNK]
            if len(keycols) == 1:
                where = keycols[0].in_([k[0] for k in chunk])
            else:
                where = sa.tuple_(*keycols).in_([tuple(k) for k in chunk])
            for row in conn.execute(sa.select(idcol, *keycols).where(where)):
                found[_norm(tuple(row[1:]))] = str(row[0])
        return found

    def _ids_joined(self, conn: sa.Connection, keys: list[tuple[Any, ...]],
                    idcol: str) -> dict[tuple[str, ...], str] | None:
        """:meth:`_ids` for a key of several columns on SQLite, through one join on the keys
        as JSON (see connectors.sql._keys); None where that cannot answer exactly."""
        if self._sqlite_json is None:
            self._sqlite_json = _keys.has_json(conn)
        text = _keys.json_keys(keys) if self._sqlite_json else None
        if text is None:
            return None
        dialect = conn.dialect.identifier_preparer
        if self._ids_sql is None:
            self._ids_sql = _keys.key_join(self.table, (idcol, *self.key), self.key,
                                           dialect.quote, dialect.format_table(self.table))
        return {_norm(tuple(row[1:])): str(row[0])
                for row in conn.exec_driver_sql(self._ids_sql, (text,))}

    # -- listing -------------------------------------------------------------------------

    def list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        """Every ``(key, primary key)`` in the table; with a composite or no primary key the
        destination id is the key's values joined by '/'."""
        if self._engine is None:
            raise FatalError(f"{self._what}: the sink is closed")
        t = self.table
        keycols = [t.c[k] for k in self.key]
        cols = ([t.c[self.pk]] if self.pk else []) + keycols
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                    sa.select(*cols))
                for row in result:
                    key = tuple(row[1:]) if self.pk else tuple(row)
                    yield key, (str(row[0]) if self.pk else "/".join(str(v) for v in key))
        except sa_exc.SQLAlchemyError as exc:
            raise _db.translate(exc, f"listing {t.fullname}", self._url) from exc

    def list_records(self) -> Iterator[tuple[tuple[Any, ...], str, dict[str, Any]]]:
        """Every row as ``(key, id, columns)``, ids as :meth:`list_keys` gives them. Lines in
        a ``lines`` table are not included: an audit compares the header row's columns."""
        if self._engine is None:
            raise FatalError(f"{self._what}: the sink is closed")
        t = self.table
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                    sa.select(t))
                for row in result.mappings():
                    record = dict(row)
                    key = tuple(record[k] for k in self.key)
                    yield key, (str(record[self.pk]) if self.pk
                                else "/".join(str(v) for v in key)), record
        except sa_exc.SQLAlchemyError as exc:
            raise _db.translate(exc, f"listing {t.fullname}", self._url) from exc

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _norm(key: tuple[Any, ...]) -> tuple[str, ...]:
    # Keys from records and keys read back may differ in type (5 vs "5"): compare as text.
    return tuple(str(v) for v in key)


def _keytext(names: Sequence[str], key: tuple[Any, ...]) -> str:
    return ", ".join(f"{n}={v!r}" for n, v in zip(names, key, strict=True))


def _typed(col: sa.Column[Any], value: str) -> Any:
    if isinstance(col.type, sa.Integer):
        try:
            return int(value)
        except ValueError:
            return value
    return value
