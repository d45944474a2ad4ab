"""Reading a table or a query as a stream of plain dicts, or of blocks of tuples."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from connectors.api import BadRecord, ConnectorContext, ReadRequest, Rows
from connectors.sql import _db, _filters
from connectors.sql._options import SqlSourceOptions
from connectors.sql._sqlite_child import read_in_child
from runner.errors import ConfigError, FatalError, SyncError
from runner.spec import Filter

log = logging.getLogger(__name__)


class SqlSource:
    """A table (reflected once) or a query wrapped as a subquery, read through a server-side
    cursor. The cursor window is always a bound parameter; so are pushed-down filter values."""

    def __init__(self, options: SqlSourceOptions, ctx: ConnectorContext) -> None:
        self._ctx = ctx
        self._url = _db.make_url(options.url)
        self._chunk = options.chunk_size
        self._order_by = list(options.order_by)
        self._fields: list[str] | None = list(options.fields) if options.fields else None
        self._engine: sa.Engine | None = _db.create_engine(self._url)
        # A read holds a pooled connection of its own (SQLite files are opened without the
        # same-thread check), so it may start on one thread and go on on another; an
        # in-memory SQLite database is one per thread.
        self.read_ahead = not (self._url.get_backend_name() == "sqlite"
                               and (self._url.database or ":memory:") == ":memory:")
        self._what = f"reading {options.table or 'query'}"
        self._from: sa.FromClause
        # The primary key ends every ORDER BY of a table read, so the same request returns
        # rows in the same order (the engine resumes a retried read by skipping what it had).
        self._tiebreak: list[str] = []
        self._since_text: sa.TextClause | None = None
        try:
            if options.table:
                # Only the column names and types are needed: one catalogue query instead of
                # a full reflection (keys, indexes, constraints), which costs more on PostgreSQL.
                name, schema = options.table, options.schema
                inspector = sa.inspect(self._engine)
                found = inspector.get_columns(name, schema=schema)
                table = sa.Table(name, sa.MetaData(), *[
                    sa.Column(c["name"], c["type"]) for c in found], schema=schema)
                pk = inspector.get_pk_constraint(name, schema=schema) or {}
                self._tiebreak = [c for c in pk.get("constrained_columns") or []
                                  if c not in self._order_by]
                if self._fields:
                    missing = [f for f in self._fields if f not in table.c]
                    if missing:
                        raise FatalError(
                            f"table {table.fullname} has no column(s) {', '.join(missing)} "
                            f"listed in `fields`; its columns are: {', '.join(table.c.keys())}"
                        )
                self._from = table
            elif options.query:
                params = dict(options.params)
                text = sa.text(options.query).bindparams(**params)
                self._from = text.columns(*self._query_columns()).subquery("src")
                if options.since_query:
                    params.pop("since", None)
                    self._since_text = sa.text(options.since_query).bindparams(**params)
            else:
                raise ConfigError("sql source: give `table` or `query`")
        except SyncError:
            self.close()
            raise
        except (sa_exc.SQLAlchemyError, ValueError) as exc:
            self.close()
            raise _db.translate(exc, self._what, self._url) from exc
        log.info("sql.source.opened", extra={
            "job": ctx.job, "step": ctx.step, "url": _db.safe_url(self._url),
            "source": self._what})

    # -- pushdown ------------------------------------------------------------------------

    def _query_columns(self) -> list[sa.ColumnClause[Any]]:
        return [sa.column(f) for f in self._fields or []]

    def _column(self, name: str, src: sa.FromClause | None = None) -> sa.ColumnElement[Any] | None:
        src = self._from if src is None else src
        if isinstance(src, sa.Table):
            return src.c.get(name)
        if self._fields is not None and name in self._fields:
            return src.c[name]
        return None  # an undeclared query column may not exist: leave it to the engine

    def _source_for(self, request: ReadRequest) -> sa.FromClause:
        """``since_query`` for a read with a window, bound to the window's start; else the
        table or ``query``."""
        if self._since_text is None or request.cursor is None or request.cursor.since is None:
            return self._from
        text = self._since_text.bindparams(sa.bindparam("since", request.cursor.since))
        return text.columns(*self._query_columns()).subquery("src")

    def pushdown(self, flt: Filter) -> Filter | None:
        _, residual = _filters.split(flt, self._column)
        return residual

    # -- read ----------------------------------------------------------------------------

    def _statement(self, request: ReadRequest) -> sa.Select[Any]:
        src = self._source_for(request)

        def column(name: str) -> sa.ColumnElement[Any] | None:
            return self._column(name, src)

        def column_or_name(name: str) -> sa.ColumnElement[Any]:
            col = column(name)
            return col if col is not None else sa.column(name)

        names = list(self._fields or src.c.keys()) or None
        if names is not None and request.fields:
            wanted = [n for n in names if n in set(request.fields)]
            cur = request.cursor.field if request.cursor else None
            if cur and cur in src.c and cur not in wanted:
                wanted.append(cur)
            names = wanted or names
        if names:
            stmt = sa.select(*[src.c[n] for n in names])
        else:
            stmt = sa.select(sa.text("*")).select_from(src)
        if request.filter is not None:
            clause, residual = _filters.split(request.filter, column)
            if residual is not None:
                raise FatalError(
                    f"{self._what}: the engine passed a filter the source cannot apply "
                    f"({residual!r}); call pushdown() and pass only the pushed part"
                )
            if clause is not None:
                stmt = stmt.where(clause)
        if request.cursor is not None:
            col = column_or_name(request.cursor.field)
            if request.cursor.since is not None:
                stmt = stmt.where(col >= sa.bindparam("cursor_since", request.cursor.since))
            # order_by breaks ties within one cursor value, so rows that must stay together
            # (a product's variant rows, for nest) are consecutive even when many share a time.
            rest = [c for c in [*self._order_by, *self._tiebreak] if c != request.cursor.field]
            if request.cursor.since is not None:
                stmt = stmt.order_by(col, *[column_or_name(c) for c in rest])
            elif rest:
                # A first read takes everything and the engine advances the cursor only after
                # it (it needs no cursor order): sorting a whole query's rows by a computed
                # cursor first made the database build and sort all of them before the first
                # row (1M products: the complete sync took twice as long).
                stmt = stmt.order_by(*[column_or_name(c) for c in rest])
        elif self._order_by or self._tiebreak:
            stmt = stmt.order_by(
                *[column_or_name(c) for c in [*self._order_by, *self._tiebreak]])
        return stmt

    def read(self, request: ReadRequest) -> Iterator[dict[str, Any] | BadRecord]:
        return _records(self.read_rows(request))

    def read_rows(self, request: ReadRequest) -> Iterator[Rows | BadRecord]:
        if self._engine is None:
            raise FatalError(f"{self._what}: the source is closed")
        # A read from the start may be large: a SQLite file's is then read by a child process.
        whole = request.cursor is None or request.cursor.since is None
        return self._rows(self._engine, self._statement(request), whole=whole)

    def _rows(self, engine: sa.Engine, stmt: sa.Select[Any],
              whole: bool = False) -> Iterator[Rows | BadRecord]:
        started = self._ctx.clock()
        count = 0
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    # pysqlite's cursor is lazy already: rows come straight from it as tuples
                    # (SQLAlchemy's Row objects cost ~12% more CPU), and the column types are
                    # applied here, where a value SQLite let a typed column hold ('abc' in
                    # NUMERIC) sets its record aside instead of ending the read.
                    child = read_in_child(
                        conn, stmt, self._chunk, f"{self._what} on {_db.safe_url(self._url)}",
                        self._from if isinstance(self._from, sa.Table) else None,
                    ) if whole else None
                    chunks: Iterator[Sequence[Any]]
                    if child is not None:
                        result, chunks = child
                    else:
                        result = conn.execute(stmt)
                        chunks = _fetched(result.cursor, self._chunk)
                    convert = _converters(stmt, result, engine.dialect)
                else:
                    # A server-side cursor (psycopg named cursor, PyMySQL SSCursor); these
                    # servers refuse a value of the wrong type when it is written.
                    result = conn.execution_options(
                        stream_results=True, yield_per=self._chunk).execute(stmt)
                    # SQLAlchemy's Row objects made plain tuples: a consumer hashes a block's
                    # rows as they serialise, and orjson takes tuples, not Row.
                    chunks = (list(map(tuple, part))
                              for part in result.partitions(self._chunk))
                    convert = ()
                # Plain str: SQLAlchemy names a table's columns with a str subclass
                # (quoted_name), which JSON encoders refuse as a key without a slower option.
                cols = tuple(map(str.__str__, result.keys()))
                for part in chunks:
                    count += len(part)
                    if not convert:
                        yield Rows(cols, part)
                    else:
                        yield from _converted(cols, part, convert)
                result.close()
        except sa_exc.SQLAlchemyError as exc:
            raise _db.translate(exc, self._what, self._url) from exc
        log.info("sql.source.read", extra={
            "job": self._ctx.job, "step": self._ctx.step, "rows": count,
            "duration_s": round(self._ctx.clock() - started, 3)})

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


# A column's position, its name, its type's name and the conversion.
Converter = tuple[int, str, str, Callable[[Any], Any]]


def _records(items: Iterator[Rows | BadRecord]) -> Iterator[dict[str, Any] | BadRecord]:
    for item in items:
        if isinstance(item, BadRecord):
            yield item
        else:
            # Rows zipped with their column tuple, looped in C by map(): about a third faster
            # than a Python for-loop yielding each dict.
            yield from map(dict, map(zip, repeat(item.columns), item.values))


def _fetched(cursor: Any, size: int) -> Iterator[Sequence[Any]]:
    """The DBAPI cursor's rows, ``size`` at a time."""
    while part := cursor.fetchmany(size):
        yield part


def _converters(stmt: sa.Select[Any], result: sa.CursorResult[Any],
                dialect: sa.Dialect) -> tuple[Converter, ...]:
    """What SQLAlchemy's result would apply to each column (its type's result processor,
    e.g. text -> Decimal for NUMERIC, text -> datetime for DATETIME), for the columns that
    have one. Columns of a ``query`` source are untyped: they have none."""
    types = {c.key: c.type for c in stmt.selected_columns}
    out: list[Converter] = []
    for i, (name, desc) in enumerate(zip(result.keys(), result.cursor.description,
                                         strict=True)):
        type_ = types.get(name)
        if type_ is None:
            continue
        process = type_.dialect_impl(dialect).result_processor(dialect, desc[1])
        if process is not None:
            out.append((i, name, str(type_), process))
    return tuple(out)


def _converted(cols: tuple[str, ...], part: Sequence[Any],
               convert: tuple[Converter, ...]) -> Iterator[Rows | BadRecord]:
    """``part`` converted, as blocks between the rows that cannot be: those come out in
    their place as BadRecord."""
    good: list[tuple[Any, ...]] = []
    for row in part:
        values = list(row)
        for i, name, type_name, process in convert:
            value = values[i]
            if value is None:
                continue
            try:
                values[i] = process(value)
            except (TypeError, ValueError, ArithmeticError) as exc:
                if good:
                    yield Rows(cols, good)
                    good = []
                yield BadRecord(raw=dict(zip(cols, row, strict=True)), reason=(
                    f"column {name}: {value!r:.60} cannot be read as {type_name} ({exc})"))
                break
        else:
            good.append(tuple(values))
    if good:
        yield Rows(cols, good)
