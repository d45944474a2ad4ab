"""Progress of a running step: a sink the engine reports to, and its terminal rendering."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

__all__ = ["NullProgress", "ProgressSink", "TerminalProgress"]


class ProgressSink(Protocol):
    def start(self, job: str, step: str, total: int | None) -> None: ...
    def advance(self, rows: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, job: str, step: str, total: int | None) -> None:
        return None

    def advance(self, rows: int) -> None:
        return None

    def finish(self) -> None:
        return None


class TerminalProgress:
    """One self-overwriting line on a terminal: rows, rows/s and, when the total is known, ETA.
    The CLI only uses it when stderr is a TTY, so pipes and log files stay clean."""

    def __init__(
        self,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_interval_s: float = 0.2,
    ) -> None:
        self._stream = stream or sys.stderr
        self._clock = clock
        self._min_interval = min_interval_s
        self._label = ""
        self._total: int | None = None
        self._rows = 0
        self._t0 = 0.0
        self._last = 0.0
        self._started = False

    def start(self, job: str, step: str, total: int | None) -> None:
        self._started = True
        self._label = f"{job}/{step}"
        self._total = total
        self._rows = 0
        self._t0 = self._last = self._clock()

    def advance(self, rows: int) -> None:
        self._rows += rows
        now = self._clock()
        if now - self._last >= self._min_interval:
            self._last = now
            self._render(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self._t0, 1e-9)
        rate = self._rows / elapsed
        text = f"{self._label}: {self._rows} rows, {rate:,.0f} rows/s"
        if self._total:
            pct = min(100.0, 100.0 * self._rows / self._total)
            remaining = max(self._total - self._rows, 0)
            eta = remaining / rate if rate > 0 else 0.0
            text = f"{text}, {pct:.0f}% of {self._total}, ETA {eta:.0f}s"
        return text

    def _render(self, now: float) -> None:
        self._stream.write("\r\x1b[2K" + self.line(now))
        self._stream.flush()

    def finish(self) -> None:
        if not self._started:
            return
        self._started = False
        self._render(self._clock())
        self._stream.write("\n")
        self._stream.flush()
