"""A process-wide interpreter setting held while any stream runs, on any thread.

The garbage collector's thresholds and freeze (:mod:`runner.engine.heap`) and the switch
interval (:mod:`runner.engine.switching`) belong to the whole interpreter, and a scheduler runs
several jobs' streams at once: a setting is made when the first stream starts and undone when
the last one ends, never by a stream that ends while another still needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["WhileStreams"]


class WhileStreams:
    """``held()``: ``start()`` as the first stream enters, ``stop()`` as the last one leaves,
    and ``each()`` as every one enters."""

    def __init__(self, start: Callable[[], None], stop: Callable[[], None],
                 each: Callable[[], None] | None = None) -> None:
        self._start, self._stop, self._each = start, stop, each
        self._lock = threading.Lock()
        self._streams = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self._streams += 1
            if self._each is not None:
                self._each()
            if self._streams == 1:
                self._start()
        try:
            yield
        finally:
            with self._lock:
                self._streams -= 1
                if self._streams == 0:
                    self._stop()
