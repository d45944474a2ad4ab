"""Retrying what a connector reported as temporary: exponential backoff with jitter."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from connectors.api import ConnectorContext
from runner.errors import RetryableError, RunFailed
from runner.spec import RetryPolicy

__all__ = ["backoff_delay", "call_with_retry", "with_retrier"]

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
    ``Retry-After`` is a floor: waiting less would just earn another 429.

    >>> backoff_delay(3, RetryPolicy(backoff_s=1.0, max_backoff_s=60.0), rand=lambda: 1.0)
    4.0
    >>> backoff_delay(1, RetryPolicy(backoff_s=1.0), retry_after=7.5, rand=lambda: 0.0)
    7.5
    """
    base = min(policy.max_backoff_s, policy.backoff_s * (2 ** (attempt - 1)))
    delay = base / 2 + rand() * base / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None],
    on_retry: Callable[[int, RetryableError], None] | None = None,
) -> T:
    """Call ``fn``; on ``RetryableError`` wait and call again, up to ``policy.attempts`` calls
    in all, then raise ``RunFailed`` naming ``what``. Other errors pass through at once."""
    attempts = max(1, policy.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except RetryableError as exc:
            if attempt >= attempts:
                raise RunFailed(
                    f"{what} still failing after {attempts} attempts: {exc}; nothing of this "
                    "batch was committed, so the next run will send it again"
                ) from exc
            delay = backoff_delay(attempt, policy, exc.retry_after)
            log.warning(
                "retry.scheduled",
                extra={"what": what, "attempt": attempt, "delay_s": round(delay, 3),
                       "error": str(exc)},
            )
            if on_retry is not None:
                on_retry(attempt, exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def with_retrier(
    ctx: ConnectorContext, policy: RetryPolicy, sleep: Callable[[float], None],
    on_retry: Callable[[int, RetryableError], None] | None = None,
) -> ConnectorContext:
    """``ctx`` with the step's retry policy as its retrier: a connector retries each unit it can
    repeat (one HTTP request) here, and the RunFailed raised once the attempts are spent is
    not retried again by the write around it, so a failing request is sent ``attempts``
    times, not attempts x attempts."""

    def retry(fn: Callable[[], T], what: str) -> T:
        return call_with_retry(fn, policy, what=what, sleep=sleep, on_retry=on_retry)

    ctx.retry, ctx.sleep = retry, sleep
    return ctx
