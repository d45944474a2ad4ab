"""Opening connectors and reading a step's input: lookups, pushdown, the retried row stream.

Shared by the run (``step``), the dry run (``planner``) and quarantine retries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from connectors.api import (
    BadRecord,
    ConnectorContext,
    CursorWindow,
    ReadRequest,
    Rows,
    RowSource,
    Sink,
    Source,
    load_connector,
)
from runner.errors import RecordError, RetryableError, redact
from runner.spec import ConnectorRef, Filter, Step, SyncMode
from runner.state.base import StateStore

from .cursor import CursorTracker, apply_lookback
from .ops import norm_key, pushed_part
from .retry import Retrier

__all__ = [
    "ContextFactory",
    "KeymapCache",
    "RowStream",
    "default_context",
    "load_lookups",
    "open_sink",
    "open_source",
    "read_request",
]

log = logging.getLogger(__name__)

ContextFactory = Callable[..., ConnectorContext]

T = TypeVar("T")


def default_context(*, job: str, step: str, key_fields: tuple[str, ...] = ()) -> ConnectorContext:
    """Relative paths in connector options resolve against the current directory (where
    ``commerce-sync`` is run from, normally the project root), not the pipeline file's folder:
    pipelines then read the same whether given as a file or a directory."""
    return ConnectorContext(job=job, step=step, key_fields=key_fields, base_dir=".")


def open_source(ref: ConnectorRef, ctx: ConnectorContext) -> Source:
    return load_connector(ref.connector)().open_source(ref.options, ctx)


def open_sink(ref: ConnectorRef, ctx: ConnectorContext) -> Sink:
    return load_connector(ref.connector)().open_sink(ref.options, ctx)


def split_filter(source: Source, flt: Filter | None) -> tuple[Filter | None, Filter | None]:
    """(what the source applies, what the engine applies)."""
    if flt is None:
        return None, None
    residual = source.pushdown(flt)
    pushed = pushed_part(flt, residual)
    if pushed is None:
        residual = flt
    return pushed, residual


def read_request(
    step: Step,
    mode: SyncMode,
    state: StateStore,
    job: str,
    pushed: Filter | None,
    fields: Any = None,
) -> ReadRequest:
    """The read window: incremental steps read from the stored cursor minus the lookback;
    ``changes`` and ``full`` read everything (a step without a cursor always does)."""
    window = None
    if step.cursor is not None and mode == "incremental":
        since = state.get_cursor(job, step.name)
        if since is None:
            since = step.cursor.initial
        window = CursorWindow(step.cursor.field, apply_lookback(since, step.cursor.lookback_s))
    if fields is not None:
        fields = list(fields)
    return ReadRequest(cursor=window, filter=pushed, fields=fields or None)


class RowStream:
    """The records of one read, with temporary failures retried and bad records set aside.

    A ``RetryableError`` mid-stream re-issues the read and skips the records already handed
    out (sources return a stable order for the same request: SQL sorts, files are files). A
    ``RecordError`` raised by a source is treated like a ``BadRecord`` at that position.
    ``bad`` collects the unreadable records for the caller to quarantine.
    """

    def __init__(
        self,
        source: Source,
        request: ReadRequest,
        retrier: Retrier,
        *,
        what: str,
        cursor_field: str | None = None,
    ) -> None:
        self._source = source
        self._request = request
        self._retrier = retrier
        self._what = what
        self.read = 0
        self.bad: list[BadRecord] = []
        self.cursor = CursorTracker(cursor_field)
        self._ahead: _ReadAhead[Any] | None = None

    def take_bad(self) -> list[BadRecord]:
        bad, self.bad = self.bad, []
        return bad

    def start(self, *, rows: bool) -> None:
        """Start the read now, up to its first item, on a thread of its own, for a source that
        declares ``read_ahead``: its query runs while the step opens its destination (the 1%
        incremental run over 1M products waited ~0.1 s for its window's query after that).
        ``rows``: the read will be consumed by :meth:`blocks`, else by iteration."""
        if self._ahead is None and getattr(self._source, "read_ahead", False):
            source, request = self._source, self._request
            read: Callable[[], Iterator[Any]] = (
                (lambda: source.read_rows(request)) if rows  # type: ignore[attr-defined]
                else (lambda: source.read(request)))
            self._ahead = _ReadAhead(read)

    def close(self) -> None:
        """End a read started by :meth:`start` that was not consumed to its end (the step
        failed before reading): its thread is waited for and its connection given back."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()

    def _read(self, rows: bool) -> Iterator[Any]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            return ahead  # the first attempt; a retried read starts afresh
        if rows:
            return self._source.read_rows(self._request)  # type: ignore[attr-defined]
        return self._source.read(self._request)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        consumed = 0
        failures = 0
        while True:
            position = 0
            try:
                for item in self._read(rows=False):
                    position += 1
                    if position <= consumed:
                        continue
                    consumed = position
                    failures = 0
                    self.read += 1
                    if isinstance(item, BadRecord):
                        self.bad.append(item)
                        continue
                    self.cursor.see(item)
                    yield item
                return
            except RetryableError as exc:
                failures += 1
                self._retrier.failed(failures, exc, f"{self._what}: reading the source")
            except RecordError as exc:
                consumed = position + 1
                self.read += 1
                self.bad.append(BadRecord(raw=None, reason=redact(str(exc))))

    @property
    def has_rows(self) -> bool:
        """Whether :meth:`blocks` can read this source."""
        return isinstance(self._source, RowSource)

    def blocks(self) -> Iterator[Rows]:
        """The read as the source's blocks of tuples (a :class:`RowSource`), retried, resumed
        and counted as iteration is, and bad records set aside the same way."""
        source = self._source
        assert isinstance(source, RowSource)
        consumed = 0
        failures = 0
        while True:
            position = 0
            try:
                for item in self._read(rows=True):
                    if isinstance(item, BadRecord):
                        position += 1
                        if position <= consumed:
                            continue
                        consumed = position
                        failures = 0
                        self.read += 1
                        self.bad.append(item)
                        continue
                    start = position
                    position += len(item.values)
                    if position <= consumed:
                        continue
                    if start < consumed:  # a retried read: this block was partly handed out
                        item = Rows(item.columns, item.values[consumed - start:])
                    consumed = position
                    failures = 0
                    self.read += len(item.values)
                    self.cursor.see_rows(item.columns, item.values)
                    yield item
                return
            except RetryableError as exc:
                failures += 1
                self._retrier.failed(failures, exc, f"{self._what}: reading the source")
            except RecordError as exc:
                consumed = position + 1
                self.read += 1
                self.bad.append(BadRecord(raw=None, reason=redact(str(exc))))


class _ReadAhead(Generic[T]):
    """An iterator whose first item is fetched on a thread started at once; the rest come on
    the consumer's thread. An error of that first fetch is raised to the consumer."""

    def __init__(self, open_read: Callable[[], Iterator[T]]) -> None:
        self._items: Iterator[T] = iter(())
        self._first: list[T] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._fetch, args=(open_read,), name="read-ahead", daemon=True)
        self._thread.start()

    def _fetch(self, open_read: Callable[[], Iterator[T]]) -> None:
        try:
            items = open_read()
            self._items = items
            self._first.append(next(items))
        except StopIteration:
            pass
        except BaseException as exc:  # raised again on the consumer's thread
            self._error = exc

    def _joined(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._thread is not None:
            self._joined()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._first:
                return self._first.pop()
        return next(self._items)

    def close(self) -> None:
        self._joined()
        close = getattr(self._items, "close", None)
        if close is not None:
            close()  # a generator's cleanup: its cursor and connection


def load_lookups(
    step: Step,
    *,
    job: str,
    context: ContextFactory,
    sleep: Callable[[float], None],
) -> dict[str, dict[Any, Mapping[str, Any]]]:
    """Read every lookup source of ``step`` once, fully, into ``{name: {key value: row}}``.

    Lookups are reference tables (tax groups, dimension groups): small by nature, so holding
    them in memory for the run is the point. A row whose key is null cannot be looked up and
    is left out; with duplicate keys the last row wins.
    """
    from runner.transforms import compile_filter

    tables: dict[str, dict[Any, Mapping[str, Any]]] = {}
    for name, spec in step.lookups.items():
        ctx = context(job=job, step=f"{step.name}.lookups.{name}", key_fields=(spec.key,))
        source = open_source(spec.source, ctx)
        try:
            pushed, residual = split_filter(source, spec.filter)
            keep = compile_filter(residual) if residual is not None else None
            stream = RowStream(
                source, ReadRequest(filter=pushed), Retrier(step.errors.retry, sleep),
                what=f"{job}/{step.name} lookup {name}",
            )
            table: dict[Any, Mapping[str, Any]] = {}
            for row in stream:
                if keep is not None and not keep(row):
                    continue
                value = row.get(spec.key)
                if value is not None:
                    table[value] = row
            if stream.bad:
                log.warning(
                    "lookup.bad_records",
                    extra={"job": job, "step": step.name, "lookup": name,
                           "rows": len(stream.bad)},
                )
            tables[name] = table
        finally:
            source.close()
        log.info("lookup.loaded",
                 extra={"job": job, "step": step.name, "lookup": name, "rows": len(tables[name])})
    return tables


class KeymapCache:
    """The key map as the transforms see it: ``(job or None, entity, key) -> destination id``,
    backed by the state store and cached for the run. Ids recorded by this run's earlier
    batches are added with :meth:`remember`."""

    def __init__(self, state: StateStore, job: str) -> None:
        self._state = state
        self._job = job
        self._cache: dict[tuple[str, str, tuple[str, ...]], str | None] = {}

    def __call__(self, job: str | None, entity: str, key: tuple[str, ...]) -> str | None:
        owner = job or self._job
        nkey = norm_key(key)
        slot = (owner, entity, nkey)
        if slot not in self._cache:
            found = self._state.keymap_get(owner, entity, [nkey])
            self._cache[slot] = found.get(nkey)
        return self._cache[slot]

    def remember(self, entity: str, pairs: Mapping[tuple[str, ...], str]) -> None:
        # Only entries already cached are corrected (e.g. a key looked up before its record
        # was created): the state store has committed every pair before this is called and
        # answers for the others on demand. Caching each of them made a run's memory grow
        # with the catalogue (~90 MB over 300,000 products).
        cache = self._cache
        if not cache:
            return
        for key, dest_id in pairs.items():
            slot = (self._job, entity, key)
            if slot in cache:
                cache[slot] = dest_id
