"""The one retry site: exponential backoff with equal jitter, ``Retry-After`` as a floor.

The engine hands a :class:`Retrier` to every connector through its context (``ctx.retry``), and
uses the same object around the units it repeats itself (a source re-read, a sink's batch): one
policy (the step's ``errors.retry``, in durations), one jitter, one bound. A retrier that gives
up raises ``RunFailed``, which no retrier catches, so loops cannot nest: a failing request is
sent at most ``attempts`` times, whoever called it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from runner.errors import RetryableError, RunFailed
from runner.spec import RetryPolicy

__all__ = ["Retrier", "backoff_delay", "call_with_retry"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def backoff_delay(
    attempt: int,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts failures from 1).

    Full exponential growth capped at ``max_backoff_s``, with "equal jitter" (half fixed, half
    random) so that runners hit by the same outage do not retry in lockstep. A server's
    ``Retry-After`` is a floor (waiting less would just earn another 429), honoured up to
    ``max_retry_after_s``: a server asking for more than that is not waited for that long.

    >>> backoff_delay(3, RetryPolicy(backoff_s=1.0, max_backoff_s=60.0), rand=lambda: 1.0)
    4.0
    >>> backoff_delay(1, RetryPolicy(backoff_s=1.0), retry_after=7.5, rand=lambda: 0.0)
    7.5
    >>> backoff_delay(1, RetryPolicy(max_retry_after_s=60.0), retry_after=3600, rand=lambda: 0.0)
    60.0
    """
    base = min(policy.max_backoff_s, policy.backoff_s * (2 ** (attempt - 1)))
    delay = base / 2 + rand() * base / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after_s))
    return delay


class Retrier:
    """Calls a unit of work again while it raises ``RetryableError``: ``attempts`` calls in
    all, then ``RunFailed`` naming ``what``. Other errors pass through at once.
    ``retries`` counts the waits, for the run's summary. Thread-safe enough for counting: an
    off-by-one under a race only misreports a statistic."""

    def __init__(
        self,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        *,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[int, RetryableError], None] | None = None,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._rand = rand
        self._on_retry = on_retry
        self.retries = 0

    def __call__(self, fn: Callable[[], T], what: str) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except RetryableError as exc:
                self.failed(attempt, exc, what)

    def failed(self, attempt: int, exc: RetryableError, what: str) -> None:
        """The ``attempt``-th call of ``what`` failed with ``exc``: wait before the next, or
        raise ``RunFailed`` when that was the last. For callers that repeat work their own way
        (a source re-read that skips what it already handed out)."""
        attempts = max(1, self.policy.attempts)
        if attempt >= attempts:
            raise RunFailed(
                f"{what} still failing after {attempts} attempts: {exc}; nothing of "
                "this batch was committed, so the next run will send it again"
            ) from exc
        delay = backoff_delay(attempt, self.policy, exc.retry_after, self._rand)
        log.warning(
            "retry.scheduled",
            extra={"what": what, "attempt": attempt, "delay_s": round(delay, 3),
                   "error": str(exc)},
        )
        self.retries += 1
        if self._on_retry is not None:
            self._on_retry(attempt, exc)
        self._sleep(delay)


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None],
    on_retry: Callable[[int, RetryableError], None] | None = None,
) -> T:
    """One call through a fresh :class:`Retrier` (for callers without a run's retrier)."""
    return Retrier(policy, sleep, on_retry=on_retry)(fn, what)
