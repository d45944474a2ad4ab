"""A step's read started before the destination opens (``read_ahead`` sources): the same
records in the same order, its first fetch on a thread of its own, its errors retried as a
read's are, and a read the step never consumed closed with the step."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.api import ConnectorContext, ReadRequest, Rows
from connectors.sql import SqlConnector
from runner.engine.reading import RowStream
from runner.engine.retry import Retrier
from runner.errors import RetryableError
from runner.spec import RetryPolicy

COLUMNS = ("sku", "qty")
ROWS = [(f"S{i}", i) for i in range(7)]


class _Source:
    """Blocks of ``ROWS``; notes the thread of each block and whether its read was closed."""

    def __init__(self, *, read_ahead: bool, fail_first: int = 0) -> None:
        self.read_ahead = read_ahead
        self.fail_first = fail_first
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.threads: list[str] = []
        self.reads = 0
        self.closed = 0

    def pushdown(self, flt: Any) -> Any:
        return flt

    def read(self, request: ReadRequest) -> Iterator[dict[str, Any]]:
        for block in self.read_rows(request):
            yield from (dict(zip(block.columns, r, strict=True)) for r in block.values)

    def read_rows(self, request: ReadRequest) -> Iterator[Rows]:
        self.reads += 1
        self.entered.set()
        try:
            self.release.wait(5)
            if self.fail_first:
                self.fail_first -= 1
                raise RetryableError("store: 503 Service Unavailable")
            for start in range(0, len(ROWS), 3):
                self.threads.append(threading.current_thread().name)
                yield Rows(COLUMNS, ROWS[start:start + 3])
        finally:
            self.closed += 1

    def close(self) -> None:
        pass


def _stream(source: _Source) -> RowStream:
    retrier = Retrier(RetryPolicy(attempts=3, backoff_s=0), sleep=lambda _s: None)
    return RowStream(source, ReadRequest(), retrier, what="test")  # type: ignore[arg-type]


@pytest.mark.parametrize("rows", [True, False])
def test_the_read_starts_before_it_is_consumed_and_gives_the_same_records(rows: bool) -> None:
    source = _Source(read_ahead=True)
    stream = _stream(source)
    stream.start(rows=rows)
    assert source.entered.wait(5)  # begun with nothing consumed yet
    got = ([r for b in stream.blocks() for r in b.values] if rows
           else [tuple(d.values()) for d in stream])
    assert got == ROWS and stream.read == len(ROWS)
    assert source.threads[0] == "read-ahead"
    assert set(source.threads[1:]) == {threading.current_thread().name}
    assert source.reads == 1


def test_a_source_that_does_not_declare_it_is_read_when_consumed() -> None:
    source = _Source(read_ahead=False)
    stream = _stream(source)
    stream.start(rows=True)
    assert not source.entered.wait(0.2)
    assert [r for b in stream.blocks() for r in b.values] == ROWS
    assert set(source.threads) == {threading.current_thread().name}


def test_a_failed_first_fetch_is_retried_as_a_read() -> None:
    source = _Source(read_ahead=True, fail_first=1)
    stream = _stream(source)
    stream.start(rows=True)
    assert [r for b in stream.blocks() for r in b.values] == ROWS
    assert source.reads == 2 and stream._retrier.retries == 1  # type: ignore[attr-defined]


def test_a_read_never_consumed_is_closed_with_its_thread() -> None:
    source = _Source(read_ahead=True)
    source.release.clear()  # the query is still running when the step fails
    stream = _stream(source)
    stream.start(rows=True)
    assert source.entered.wait(5)
    threading.Timer(0.1, source.release.set).start()
    stream.close()  # waits for the first block, then closes the read
    assert source.closed == 1
    assert not any(t.name == "read-ahead" for t in threading.enumerate())


def test_sql_sources_read_ahead_except_an_in_memory_sqlite_database(tmp_path: Path) -> None:
    ctx = ConnectorContext(job="j", step="s")
    on_file = SqlConnector().open_source(
        {"url": f"sqlite:///{tmp_path / 'erp.db'}", "query": "SELECT 1 AS one",
         "fields": ["one"]}, ctx)
    in_memory = SqlConnector().open_source(
        {"url": "sqlite://", "query": "SELECT 1 AS one", "fields": ["one"]}, ctx)
    try:
        # Each thread has its own in-memory database: a read begun on another would see none.
        assert getattr(on_file, "read_ahead", False) is True
        assert getattr(in_memory, "read_ahead", False) is False
    finally:
        on_file.close()
        in_memory.close()
