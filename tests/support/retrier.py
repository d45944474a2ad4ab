"""A retrier for connector tests: retries like the engine's does, on a fake clock.

The engine hands connectors its real retrier through ``ConnectorContext.retry``; connector
tests need one that really retries (so a test can count the requests a failing batch makes)
without sleeping. ``waits`` records every delay it would have slept, ``retry_afters`` what
the connector said the server asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from runner.errors import RetryableError, RunFailed

T = TypeVar("T")


@dataclass
class FakeRetrier:
    attempts: int = 3
    backoff: float = 0.5
    waits: list[float] = field(default_factory=list)
    retry_afters: list[float | None] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # the ``what`` of every call
    now: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def __call__(self, fn: Callable[[], T], what: str) -> T:
        self.calls.append(what)
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except RetryableError as exc:
                self.retry_afters.append(exc.retry_after)
                if attempt >= self.attempts:
                    raise RunFailed(f"{what} still failing after {attempt} attempts: {exc}") \
                        from exc
                delay = self.backoff * 2 ** (attempt - 1)
                self.sleep(max(delay, exc.retry_after or 0.0))
        raise AssertionError("unreachable")
