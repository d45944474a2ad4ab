"""The reading thread's turn at the GIL during a stream.

A database driver lets go of the GIL around every row it steps through (sqlite3, and the
network reads of the others), and a stream's other threads (HTTP writers, the committer) take
it then. The reading thread, which feeds every other stage, waits for it to come back: for as
long as CPython's switch interval (5 ms) when the taker is busy in Python. Measured on a
complete sync of 1,000,000 products (359,456 rows read), the main thread spent 2.0-2.3 s of
wall time in ``fetchmany`` for 1.2 s of its own CPU; with a 0.2 ms interval, 1.8 s, and the run
~4% shorter (4 runs each, interleaved). Runs bound by one thread (an orders import, a changes
run) did not move.

:func:`reader_first` sets :data:`STREAM_SWITCH_INTERVAL` for a stream's length and puts the
interpreter's own back when the last stream of the process ends, across threads (a scheduler
runs several jobs at once).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager

from .while_streams import WhileStreams

__all__ = ["STREAM_SWITCH_INTERVAL", "reader_first"]

STREAM_SWITCH_INTERVAL = 0.0002  # seconds

_saved = 0.0


def _start() -> None:
    global _saved
    _saved = sys.getswitchinterval()
    if _saved > STREAM_SWITCH_INTERVAL:  # a shorter one set by the user stays
        sys.setswitchinterval(STREAM_SWITCH_INTERVAL)


def _stop() -> None:
    sys.setswitchinterval(_saved)


_held = WhileStreams(_start, _stop)


def reader_first() -> AbstractContextManager[None]:
    return _held.held()
