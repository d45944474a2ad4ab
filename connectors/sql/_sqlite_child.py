"""A whole read of a large SQLite file done by a child process, its rows sent back in blocks.

sqlite3 lets go of the GIL around every row it steps through, and in a run the stream's
other threads (HTTP writers, the committer) take it then: the reading thread, which feeds
them all, waits for it to come back. On a complete sync of 1,000,000 products the read of
359,456 rows held the reading thread for 2.0-2.8 s of wall time for 1.2-1.7 s of its CPU. A
child process (:mod:`connectors.sql._sqlite_reader`, the standard library only) steps through
the rows and builds the tuples on its own interpreter; this process takes each block with one
read of a pipe and one ``marshal.loads``: 0.25 s of CPU for those rows (standalone). A
changes run, which reads every row to find the 1% that changed, went from 2.67-2.96 s to
2.06-2.32 s.

Only where it pays: a read from the start (an incremental window is small, and the child's
first rows take 50-130 ms) of a SQLite file of at least :data:`MIN_BYTES`, with parameters
marshal carries (what SQLAlchemy hands sqlite3: text, numbers, bytes, None). SQLAlchemy
compiles and checks the statement here, as for any read: it runs once wrapped in ``LIMIT 0``,
which gives the column names and the exact SQL and bound parameters the driver would get (a
bad statement fails there, as it always did), and the child runs those. A child that fails
before its first row (a function only the engine's connection defines, say) leaves the read
to this process; one that fails after it fails the read, retryably where the database was
busy.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runner.errors import FatalError, RetryableError

__all__ = ["MIN_BYTES", "MIN_ROWS", "read_in_child"]

MIN_BYTES = 64 << 20  # a file this large can hold a read worth a process (~100,000 rows)
MIN_ROWS = 100_000  # a table read of fewer rows (by its largest rowid) stays here
READER = Path(__file__).with_name("_sqlite_reader.py")
_RETRYABLE = ("database is locked", "database table is locked", "disk i/o error", "busy")


def read_in_child(conn: sa.Connection, stmt: sa.Select[Any], size: int, where: str,
                  table: sa.Table | None = None,
                  ) -> tuple[sa.CursorResult[Any], Iterator[list[Any]]] | None:
    """The (empty) result of ``stmt`` here, for its columns, and its rows read by a child
    process in blocks of ``size``; None where this read is not worth one. ``table``: the
    table ``stmt`` reads, if it reads one table."""
    url = conn.engine.url
    path = url.database
    if not path or path == ":memory:" or url.query:
        return None
    try:
        if os.path.getsize(path) < MIN_BYTES:
            return None
    except OSError:
        return None
    if table is not None and _small(conn, table):
        return None
    captured: list[tuple[str, Any]] = []

    def limit_zero(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                   _executemany: bool) -> tuple[str, Any]:
        captured.append((statement, parameters))
        return f"SELECT * FROM ({statement}) LIMIT 0", parameters

    sa.event.listen(conn, "before_cursor_execute", limit_zero, retval=True)
    try:
        result = conn.execute(stmt)
    finally:
        sa.event.remove(conn, "before_cursor_execute", limit_zero)
    # SQLite names a subquery's repeated column "name:1": such a read keeps its own names here.
    names = list(result.keys())
    if len(captured) != 1 or any(":" in name for name in names):
        result.close()
        return None
    sql, params = captured[0]
    try:
        job = marshal.dumps((path, sql, tuple(params or ()), size))
    except ValueError:  # a parameter of a type marshal does not carry: read here
        result.close()
        return None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(READER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError:  # no process may be started here (a sandbox, a frozen interpreter)
        result.close()
        return None
    assert proc.stdin is not None
    try:
        proc.stdin.write(job)
        proc.stdin.close()
        first = _frame(proc)
    except OSError:
        first = None
    if first is None or first[0] == b"E":
        # Failed before its first row (a function only this process's connection defines,
        # say): read here, where such a statement either works or fails as it always did.
        _stop(proc)
        result.close()
        return None
    return result, _blocks(proc, first, where)


def _small(conn: sa.Connection, table: sa.Table) -> bool:
    """Whether ``table`` holds fewer than MIN_ROWS rows by its largest rowid, found through
    the rowid's b-tree without a scan: a look-up table of a large ERP file (three tax groups)
    is read here, not by a process started for it (~20 ms of an incremental run)."""
    try:
        top = conn.execute(sa.select(sa.func.max(sa.literal_column("rowid")))
                           .select_from(table)).scalar()
    except sa.exc.SQLAlchemyError:  # a WITHOUT ROWID table: by the file's size only
        conn.rollback()
        return False
    return top is None or (isinstance(top, int) and top < MIN_ROWS)


def _frame(proc: subprocess.Popen[bytes]) -> tuple[bytes, Any] | None:
    """The child's next frame; None at the end of its output."""
    assert proc.stdout is not None
    head = proc.stdout.read(5)
    if len(head) < 5:
        return None
    return head[:1], marshal.loads(proc.stdout.read(int.from_bytes(head[1:], "little")))


def _blocks(proc: subprocess.Popen[bytes], first: tuple[bytes, Any],
            where: str) -> Iterator[list[Any]]:
    frame: tuple[bytes, Any] | None = first
    try:
        while True:
            if frame is None:
                raise RetryableError(
                    f"{where}: the process reading the file stopped ({_stderr(proc)}); "
                    "will retry")
            tag, payload = frame
            if tag == b"D":
                return
            if tag == b"R":
                yield payload
            elif any(s in str(payload).lower() for s in _RETRYABLE):
                raise RetryableError(f"{where}: {payload}; the database is unavailable or busy")
            else:
                raise FatalError(f"{where}: {payload}")
            frame = _frame(proc)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait()


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stderr is not None
    text = proc.stderr.read()  # stdout is at its end: the child is exiting
    proc.wait()
    lines = text.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"
