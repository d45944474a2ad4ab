"""Runs one SQLite statement and writes its rows to stdout in marshal blocks.

Started by :mod:`connectors.sql._sqlite_child` as ``python -I -S _sqlite_reader.py``: the
standard library only, no site packages, nothing of the project imported. Reads
``marshal((path, sql, params, size))`` from stdin, then writes frames of one tag byte, a
4-byte little-endian length and a marshal payload: ``R`` a list of up to ``size`` row
tuples, ``D`` the end, ``E`` the error that stopped the read (its first line).
"""

import contextlib
import marshal
import signal
import sqlite3
import sys
from typing import Any, BinaryIO


def _frame(out: BinaryIO, tag: bytes, payload: Any) -> None:
    data = marshal.dumps(payload)
    out.write(tag + len(data).to_bytes(4, "little") + data)


def main() -> None:
    # The parent stops a read by closing the pipe or killing this process; a Ctrl-C in its
    # terminal is its to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path, sql, params, size = marshal.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA query_only = 1")
        cursor = conn.execute(sql, params)
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                break
            _frame(out, b"R", rows)
        _frame(out, b"D", None)
    except sqlite3.Error as exc:
        lines = str(exc).strip().splitlines()
        _frame(out, b"E", lines[0] if lines else type(exc).__name__)
    except BrokenPipeError:
        return
    with contextlib.suppress(BrokenPipeError):
        out.flush()


if __name__ == "__main__":
    main()
