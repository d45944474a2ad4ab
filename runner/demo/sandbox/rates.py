"""The sandbox's rate budgets, shaped after real stores' (issue 16). Time is a parameter of every
call, so tests drive them with a fake clock and never sleep.

- :class:`FixedWindow`: at most ``requests`` per window of ``window_s`` seconds; past it, 429
  with ``Retry-After`` = the seconds left in the window.
- :class:`LeakyBucket`: Shopify REST's shape. Each request adds one to a bucket of ``limit``
  that leaks ``leak_per_s`` per second; a full bucket answers 429. Every response carries
  ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds until the
  bucket is empty again), or, as Shopify REST does, only ``X-Shopify-Shop-Api-Call-Limit:
  32/40`` (the level rounded up, and the size: nothing of the leak).
- :class:`CostBucket`: Shopify GraphQL's shape. A query reserves its requested cost from
  ``maximum`` points restored at ``restore_per_s``; the difference to the actual cost is given
  back after execution. Not enough points: a THROTTLED error (HTTP 200).

:class:`Usage` counts what each budget served and throttled, and how much of it was used, for
``GET /v1/_admin/rate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["CostBucket", "FixedWindow", "LeakyBucket", "Usage"]


def whole_seconds(seconds: float) -> int:
    """HTTP's Retry-After is whole seconds: round up, at least 1 (0 would invite a retry now)."""
    return max(1, math.ceil(seconds - 1e-9))


class FixedWindow:
    """``requests`` per ``window_s`` seconds, windows aligned on the first request."""

    def __init__(self, requests: int, window_s: float, now: float) -> None:
        if requests < 1 or window_s <= 0:
            raise ValueError("a fixed window needs requests >= 1 and window_s > 0")
        self.requests = requests
        self.window_s = window_s
        self.origin = now
        self.start = now
        self.used = 0

    def take(self, now: float) -> float:
        """0.0 if the request may go; else the seconds until the next window opens."""
        if now >= self.start + self.window_s:
            self.start = now - (now - self.start) % self.window_s
            self.used = 0
        if self.used < self.requests:
            self.used += 1
            return 0.0
        return self.start + self.window_s - now

    def budget(self, first: float, last: float) -> float:
        """Requests allowed in the windows from the one of ``first`` to the one of ``last``."""
        windows = math.floor((last - self.origin) / self.window_s) - math.floor(
            (first - self.origin) / self.window_s
        )
        return float(self.requests * (windows + 1))


class LeakyBucket:
    """A bucket of ``limit`` requests leaking ``leak_per_s``; a request that would overflow it
    is refused."""

    def __init__(self, limit: int, leak_per_s: float, now: float,
                 headers: str = "x-ratelimit") -> None:
        if limit < 1 or leak_per_s <= 0:
            raise ValueError("a leaky bucket needs limit >= 1 and leak_per_s > 0")
        self.limit = limit
        self.leak_per_s = leak_per_s
        self.shopify = headers == "shopify"
        self.level = 0.0
        self.stamp = now

    def _leak(self, now: float) -> None:
        self.level = max(0.0, self.level - (now - self.stamp) * self.leak_per_s)
        self.stamp = now

    def take(self, now: float) -> float:
        """0.0 if the request fits (and is added); else the seconds until it would fit."""
        self._leak(now)
        if self.level + 1 <= self.limit + 1e-9:
            self.level += 1
            return 0.0
        return (self.level + 1 - self.limit) / self.leak_per_s

    def headers(self, now: float) -> dict[str, str]:
        self._leak(now)
        if self.shopify:
            level = math.ceil(self.level - 1e-9)
            return {"X-Shopify-Shop-Api-Call-Limit": f"{level}/{self.limit}"}
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, math.floor(self.limit - self.level + 1e-9))),
            "X-RateLimit-Reset": str(math.ceil(self.level / self.leak_per_s - 1e-9)),
        }

    def budget(self, first: float, last: float) -> float:
        return self.limit + self.leak_per_s * (last - first)


class CostBucket:
    """GraphQL cost points: ``maximum`` available, restored at ``restore_per_s``."""

    def __init__(self, maximum: int, restore_per_s: float, now: float) -> None:
        if maximum < 1 or restore_per_s <= 0:
            raise ValueError("a cost budget needs maximum >= 1 and restore_per_s > 0")
        self.maximum = maximum
        self.restore_per_s = restore_per_s
        self.available = float(maximum)
        self.stamp = now

    def _restore(self, now: float) -> None:
        self.available = min(
            float(self.maximum), self.available + (now - self.stamp) * self.restore_per_s
        )
        self.stamp = now

    def reserve(self, cost: int, now: float) -> bool:
        """Take ``cost`` points if they are available now."""
        self._restore(now)
        if cost > self.available + 1e-9:
            return False
        self.available -= cost
        return True

    def refund(self, points: int, now: float) -> None:
        self._restore(now)
        self.available = min(float(self.maximum), self.available + points)

    def status(self, now: float) -> dict[str, Any]:
        self._restore(now)
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": math.floor(self.available + 1e-9),
            "restoreRate": float(self.restore_per_s),
        }

    def budget(self, first: float, last: float) -> float:
        return self.maximum + self.restore_per_s * (last - first)


@dataclass
class Usage:
    """What one budget served and throttled. ``used`` counts requests, or cost points for the
    GraphQL cost budget; the budget over the measured span is what the limit allowed in it."""

    served: int = 0
    throttled: int = 0
    used: float = 0.0
    first: float | None = None
    last: float = 0.0

    def count(self, now: float, *, served: bool, used: float = 1.0) -> None:
        if self.first is None:
            self.first = now
        self.last = now
        if served:
            self.served += 1
            self.used += used
        else:
            self.throttled += 1

    def report(self, budget_over: float) -> dict[str, Any]:
        """``budget_over``: what the limit allowed from the first to the last request."""
        requests = self.served + self.throttled
        return {
            "served": self.served,
            "throttled": self.throttled,
            "used": self.used,
            "span_s": self.last - self.first if self.first is not None else 0.0,
            "budget": budget_over,
            "used_ratio": self.used / budget_over if budget_over else 0.0,
            "throttled_ratio": self.throttled / requests if requests else 0.0,
        }
