"""A loopback API that enforces one rate budget, on a clock the test may inject.

Kinds (``Budget.kind``), as real stores enforce them:

- ``fixed``: ``rate`` requests a second with a burst of ``capacity``; over it, 429 with a
  ``Retry-After`` (seconds, fractional) and nothing else to go by.
- ``leaky``: a leaky bucket of ``capacity`` requests leaking ``rate`` a second; every answer
  carries ``X-RateLimit-Limit/Remaining/Reset`` (Reset: seconds until the bucket is empty);
  over it, 429 with Retry-After.
- ``calls``: Shopify REST's leaky bucket: every answer says only how full it is,
  ``X-Shopify-Shop-Api-Call-Limit: 32/40`` (the level rounded up), not how fast it leaks; over
  it, 429 with Retry-After.
- ``cost``: GraphQL cost points (Shopify's shape): ``capacity`` points restored at ``rate`` a
  second, each query costing ``query_cost``; every answer has ``extensions.cost``; a query
  that costs more than is available gets a 200 with a ``THROTTLED`` error.

Routes: ``GET /items`` (offset/limit over ``items`` objects), ``POST /items`` (one write),
``POST /graphql`` (a mutation writes one product; a query lists with skip/take).
``state.accepted``/``state.throttled`` count answers; ``state.used()`` is the share of the
budget (capacity + rate x time) the accepted requests spent.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Budget:
    kind: Literal["fixed", "leaky", "calls", "cost"]
    rate: float  # requests (points for `cost`) restored per second
    capacity: float  # the burst: requests (points) available at once
    query_cost: float = 10.0
    items: int = 100_000
    # HTTP's Retry-After is a whole number of seconds; "exact" gives the fraction too (a token's
    # time), which not every server can or will
    retry_after: Literal["exact", "whole"] = "exact"
    clock: Callable[[], float] = time.monotonic
    accepted: int = 0
    throttled: int = 0
    started: float | None = None
    last: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._level = 0.0  # used part of the bucket (requests or points)
        self._at = self.clock()

    def _drain(self, now: float) -> None:
        self._level = max(0.0, self._level - (now - self._at) * self.rate)
        self._at = now

    def charge(self, units: float) -> tuple[bool, dict[str, str], float]:
        """Take ``units`` from the budget: (accepted, headers, seconds until it would fit)."""
        with self.lock:
            now = self.clock()
            if self.started is None:
                self.started = now
            self._drain(now)
            fits = self._level + units <= self.capacity + 1e-9
            wait = 0.0 if fits else (self._level + units - self.capacity) / self.rate
            if fits:
                self._level += units
                self.accepted += 1
                self.last = now
            else:
                self.throttled += 1
            headers: dict[str, str] = {}
            if self.kind == "leaky":
                headers = {
                    "X-RateLimit-Limit": str(int(self.capacity)),
                    "X-RateLimit-Remaining": str(int(self.capacity - math.ceil(self._level))),
                    "X-RateLimit-Reset": f"{self._level / self.rate:.3f}",
                }
            if self.kind == "calls":
                headers = {"X-Shopify-Shop-Api-Call-Limit":
                           f"{math.ceil(self._level - 1e-9)}/{int(self.capacity)}"}
            if not fits and self.kind != "cost":
                headers["Retry-After"] = (f"{wait:.3f}" if self.retry_after == "exact"
                                          else str(max(1, math.ceil(wait))))
            return fits, headers, wait

    def available(self) -> float:
        with self.lock:
            return self.capacity - self._level

    def used(self) -> float:
        """Accepted work over the budget of the time it took (capacity + rate x time)."""
        if self.started is None:
            return 0.0
        units = self.query_cost if self.kind == "cost" else 1.0
        budget = self.capacity + self.rate * (self.last - self.started)
        return self.accepted * units / budget

    def throttled_share(self) -> float:
        total = self.accepted + self.throttled
        return self.throttled / total if total else 0.0


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def make_budget_app(budget: Budget) -> Starlette:
    async def items(request: Request) -> Response:
        if request.method == "POST":
            await request.body()
        ok, headers, _ = budget.charge(1.0)
        if not ok:
            return _json({"errors": "Exceeded the rate limit"}, 429, headers)
        if request.method == "POST":
            return _json({"data": {"id": budget.accepted}}, 201, headers)
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", 10))
        rows = [{"id": i} for i in range(offset, min(offset + limit, budget.items))]
        return _json({"data": rows}, headers=headers)

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        ok, _, _ = budget.charge(budget.query_cost)
        cost = {"requestedQueryCost": budget.query_cost,
                "actualQueryCost": budget.query_cost if ok else None,
                "throttleStatus": {"maximumAvailable": budget.capacity,
                                   "currentlyAvailable": budget.available(),
                                   "restoreRate": budget.rate}}
        extensions = {"cost": cost}
        if not ok:
            return _json({"errors": [{"message": "Throttled",
                                      "extensions": {"code": "THROTTLED"}}],
                          "extensions": extensions})
        variables = body.get("variables") or {}
        if "mutation" in body.get("query", ""):
            data: Any = {"productCreate": {"product": {"id": f"gid://{budget.accepted}"},
                                           "userErrors": []}}
        else:
            skip, take = int(variables.get("skip", 0)), int(variables.get("take", 10))
            data = {"products": {"items": [{"id": i} for i in
                                           range(skip, min(skip + take, budget.items))]}}
        return _json({"data": data, "extensions": extensions})

    return Starlette(routes=[Route("/items", items, methods=["GET", "POST"]),
                             Route("/graphql", graphql, methods=["POST"])])


def retry_refusals(fn: Callable[[], Any], what: str) -> Any:
    """A connector-context retrier that sends a refused request again at once, up to 100 times:
    the pacer does the waiting (Retry-After, budgets), so what these tests measure is the
    pacer and not a backoff."""
    from runner.errors import RetryableError

    for _ in range(99):
        try:
            return fn()
        except RetryableError:
            continue
    return fn()


class FakeClock:
    """Time that passes only when someone sleeps: shared by the server and the client."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(0.0, seconds)
            self.slept += max(0.0, seconds)
