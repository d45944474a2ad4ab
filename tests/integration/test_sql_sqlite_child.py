"""A whole read of a large SQLite file is done by a child process: the same rows, in the same
order, as a read in this process; a failure of the child is an error of the read, never a
short read; a read stopped early leaves no process behind. (The file size and the table size
that select the child are lowered to 0 here.)"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import connectors.sql._sqlite_child as child
from connectors.api import BadRecord, ConnectorContext, CursorWindow, ReadRequest, Rows
from connectors.sql import SqlConnector
from runner.errors import FatalError, RetryableError
from runner.spec import All, Compare

ROWS: list[tuple[Any, ...]] = [
    (f"A{i:03d}", ["1.5", "abc", 2, None, 7.125][i % 5], f"2024-05-01 10:00:{i % 60:02d}",
     i % 2, b"\x00\xff" if i % 7 == 0 else None, "é\u20ac" * (i % 3))
    for i in range(230)
]


@pytest.fixture()
def spawned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every read from the start in a child, and the children started."""
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(child, "MIN_BYTES", 0)
    monkeypatch.setattr(child, "MIN_ROWS", 0)
    monkeypatch.setattr(child.subprocess, "Popen", popen)
    yield started


def _erp(path: Path) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, price NUMERIC(10, 2), "
                "modified_at DATETIME, sell_online BOOLEAN, picture BLOB, note TEXT)")
    con.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _read(options: dict[str, Any], request: ReadRequest,
          rows: bool = False) -> list[Any]:
    source = SqlConnector().open_source({"chunk_size": 50, **options},
                                        ConnectorContext(job="j", step="s"))
    assert request.filter is None or source.pushdown(request.filter) is None
    try:
        got = list(source.read_rows(request) if rows else source.read(request))  # type: ignore[attr-defined]
    finally:
        source.close()
    return [(type(r).__name__, r.reason, r.raw) if isinstance(r, BadRecord) else r for r in got]


CASES = [
    ({"table": "items"}, ReadRequest()),
    ({"table": "items", "fields": ["item_id", "note", "price"]},
     ReadRequest(filter=All((Compare("sell_online", "equals", 1),
                                      Compare("item_id", "not_in", ("A002", "A004")))))),
    ({"query": "SELECT item_id, note, picture, price FROM items WHERE note <> ''",
      "fields": ["item_id", "note", "picture", "price"], "order_by": ["note", "item_id"]},
     ReadRequest(filter=Compare("note", "equals", "é\u20ac"))),
    ({"table": "items", "order_by": ["modified_at"]},
     ReadRequest(cursor=CursorWindow(field="modified_at", since=None))),
]


@pytest.mark.parametrize(("options", "request_"), CASES)
def test_a_child_reads_what_this_process_reads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any],
        request_: ReadRequest) -> None:
    options = {**options, "url": _erp(tmp_path / "erp.db")}
    here_dicts, here_rows = _read(options, request_), _read(options, request_, rows=True)
    with monkeypatch.context() as patch:
        started: list[Any] = []
        real = subprocess.Popen
        patch.setattr(child, "MIN_BYTES", 0)
        patch.setattr(child, "MIN_ROWS", 0)
        patch.setattr(child.subprocess, "Popen",
                      lambda *a, **k: started.append(real(*a, **k)) or started[-1])
        there_dicts, there_rows = _read(options, request_), _read(options, request_, rows=True)
    assert len(started) == 2 and all(p.returncode is not None for p in started)
    assert there_dicts == here_dicts and len(here_dicts) > 40
    assert there_rows == here_rows
    assert all(type(block) is Rows for block in there_rows if not isinstance(block, tuple))


def test_a_bad_value_is_set_aside_in_its_place(tmp_path: Path,
                                               spawned: list[Any]) -> None:
    got = _read({"url": _erp(tmp_path / "erp.db"), "table": "items"}, ReadRequest())
    bad = [r for r in got if isinstance(r, tuple)]
    assert len(bad) == 46 and all("'abc'" in reason for _, reason, _ in bad)
    assert len(got) == 230 and len(spawned) == 1


def test_an_incremental_window_and_a_small_file_are_read_here(
        tmp_path: Path, spawned: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    options = {"url": _erp(tmp_path / "erp.db"), "table": "items",
               "order_by": ["modified_at"]}
    window = ReadRequest(cursor=CursorWindow(field="modified_at", since="2024-05-01 10:00:30"))
    assert len(_read(options, window)) == sum(1 for r in ROWS if r[2] >= "2024-05-01 10:00:30")
    assert spawned == []
    monkeypatch.setattr(child, "MIN_BYTES", (tmp_path / "erp.db").stat().st_size + 1)
    assert len(_read(options, ReadRequest())) == 230
    assert spawned == []


def test_a_small_table_of_a_large_file_is_read_here(
        tmp_path: Path, spawned: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A table whose largest rowid is under MIN_ROWS: no process for it (a look-up table of
    a large ERP). A query, or a table without rowids, goes by the file's size alone."""
    url = _erp(tmp_path / "erp.db")
    con = sqlite3.connect(tmp_path / "erp.db")
    con.execute("CREATE TABLE codes (code TEXT PRIMARY KEY, rate REAL) WITHOUT ROWID")
    con.executemany("INSERT INTO codes VALUES (?, ?)", [("STD", 0.2), ("RED", 0.05)])
    con.execute("CREATE TABLE empty (code TEXT)")
    con.commit()
    con.close()
    monkeypatch.setattr(child, "MIN_ROWS", 231)
    assert len(_read({"url": url, "table": "items"}, ReadRequest())) == 230
    assert _read({"url": url, "table": "empty"}, ReadRequest()) == []
    assert spawned == []
    assert len(_read({"url": url, "query": "SELECT item_id FROM items",
                      "fields": ["item_id"]}, ReadRequest())) == 230
    assert len(spawned) == 1
    assert _read({"url": url, "table": "codes"}, ReadRequest()) == [
        {"code": "RED", "rate": 0.05}, {"code": "STD", "rate": 0.2}]
    assert len(spawned) == 2
    monkeypatch.setattr(child, "MIN_ROWS", 230)  # the largest rowid is 230: a large table
    assert len(_read({"url": url, "table": "items"}, ReadRequest())) == 230
    assert len(spawned) == 3


def test_a_bad_statement_fails_as_it_does_here(tmp_path: Path, spawned: list[Any]) -> None:
    options = {"url": _erp(tmp_path / "erp.db"), "query": "SELECT nope FROM items"}
    with pytest.raises(FatalError, match="no such column: nope"):
        _read(options, ReadRequest())
    assert spawned == []  # SQLAlchemy's check of the statement failed before any child


def _fake_reader(tmp_path: Path, frames: str) -> Path:
    script = tmp_path / "reader.py"
    script.write_text(
        "import marshal, sys\n"
        "sys.stdin.buffer.read()\n"
        "out = sys.stdout.buffer\n"
        "def frame(tag, payload):\n"
        "    data = marshal.dumps(payload)\n"
        "    out.write(tag + len(data).to_bytes(4, 'little') + data)\n"
        f"{frames}\n"
        "out.flush()\n")
    return script


@pytest.mark.parametrize(("frames", "error", "message"), [
    ("frame(b'R', [('A1',)]); frame(b'E', 'database is locked')", RetryableError,
     "database is locked"),
    ("frame(b'R', [('A1',)]); frame(b'E', 'database disk image is malformed')", FatalError,
     "malformed"),
    ("frame(b'R', [('A1',)]); sys.stderr.write('Traceback: boom\\n'); sys.exit(3)",
     RetryableError, "stopped \\(Traceback: boom\\)"),
])
def test_a_child_that_fails_fails_the_read_after_what_it_sent(
        tmp_path: Path, spawned: list[Any], monkeypatch: pytest.MonkeyPatch, frames: str,
        error: type[Exception], message: str) -> None:
    monkeypatch.setattr(child, "READER", _fake_reader(tmp_path, frames))
    source = SqlConnector().open_source(
        {"url": _erp(tmp_path / "erp.db"), "query": "SELECT item_id FROM items"},
        ConnectorContext(job="j", step="s"))
    got: list[Any] = []
    try:
        with pytest.raises(error, match=message):
            for item in source.read(ReadRequest()):
                got.append(item)
    finally:
        source.close()
    assert got == [{"item_id": "A1"}]


@pytest.mark.parametrize("frames", [
    "frame(b'E', 'no such function: regexp')",  # a function only the engine's connection has
    "sys.exit(1)",
])
def test_a_child_that_fails_before_its_first_row_leaves_the_read_to_this_process(
        tmp_path: Path, spawned: list[Any], monkeypatch: pytest.MonkeyPatch,
        frames: str) -> None:
    monkeypatch.setattr(child, "READER", _fake_reader(tmp_path, frames))
    got = _read({"url": _erp(tmp_path / "erp.db"), "query": "SELECT item_id FROM items"},
                ReadRequest())
    assert got == [{"item_id": r[0]} for r in ROWS]
    assert len(spawned) == 1 and spawned[0].returncode is not None


def test_a_process_that_cannot_be_started_leaves_the_read_to_this_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_args: Any, **_kwargs: Any) -> None:
        raise PermissionError("fork refused")

    monkeypatch.setattr(child, "MIN_BYTES", 0)
    monkeypatch.setattr(child.subprocess, "Popen", refused)
    got = _read({"url": _erp(tmp_path / "erp.db"), "query": "SELECT item_id FROM items"},
                ReadRequest())
    assert got == [{"item_id": r[0]} for r in ROWS]


def test_repeated_column_names_are_read_here_as_they_always_were(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = {"url": _erp(tmp_path / "erp.db"),
               "query": "SELECT a.item_id, b.item_id FROM items a JOIN items b USING (item_id)"}
    here = _read(options, ReadRequest())
    started: list[Any] = []
    monkeypatch.setattr(child, "MIN_BYTES", 0)
    monkeypatch.setattr(child.subprocess, "Popen", lambda *a, **k: started.append(a))
    assert _read(options, ReadRequest()) == here and len(here) == 230
    assert list(here[0]) == ["item_id", "item_id:1"]  # SQLite's names for the query's columns
    assert started == []


def test_a_read_stopped_early_stops_its_child(tmp_path: Path, spawned: list[Any]) -> None:
    source = SqlConnector().open_source(
        {"url": _erp(tmp_path / "erp.db"), "table": "items", "chunk_size": 10},
        ConnectorContext(job="j", step="s"))
    try:
        rows = source.read_rows(ReadRequest())  # type: ignore[attr-defined]
        assert isinstance(next(rows), Rows)  # the first row, then A001's 'abc' set aside
        rows.close()
    finally:
        source.close()
    assert len(spawned) == 1 and spawned[0].returncode is not None
