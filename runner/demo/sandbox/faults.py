"""The sandbox's gate: API-key check, rate limit and fault injection, as one ASGI middleware.

Faults and rate limits apply to the API proper (``/v1/...`` and ``/graphql``) but never to
``/v1/_admin/...`` (so a test can always switch faults off again) nor to ``/healthz``. In the
order applied (the budgets of :mod:`rates`, ``fixed`` then ``leaky``, come first):

- rate limit: a token bucket of ``rate`` requests per second (burst = one second's worth);
  past it, 429 with ``Retry-After`` in whole seconds;
- ``burst_429``: of every ``every`` requests, the last ``length`` get 429 with
  ``Retry-After: retry_after``, the shape of a store that throttles in waves;
- ``error_rate``: that share of requests get a 500 without being processed;
- ``latency_ms``: added before the request is processed;
- ``drop_rate``: that share of requests lose their connection. With ``drop_phase="after"`` the
  request is processed and the response lost (the case idempotency keys exist for); with
  ``"before"`` it is not processed. Plain ASGI cannot close a socket, so the gate sends the
  response head and returns without a body: uvicorn then closes the connection, and the client
  sees ``httpx.RemoteProtocolError`` (peer closed connection without sending complete message
  body).

Decisions come from a ``random.Random(seed)``: the same seed and the same request sequence give
the same faults.

The same configuration switches the behaviours of real stores on (each off by default):
``create="always"`` (every create makes a new object, natural keys are not unique, and
``Idempotency-Key`` is ignored), ``errors_in_200`` (a refused write answers 200 with the error in
the body) and the rate budgets of :mod:`runner.demo.sandbox.rates` (``fixed``, ``leaky``, and
``cost`` for GraphQL). Time comes from the ``clock`` the gate is given, so tests can move it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runner.demo.sandbox.rates import CostBucket, FixedWindow, LeakyBucket, Usage, whole_seconds

__all__ = ["CREATE_MODES", "FaultConfig", "Gate", "TokenBucket"]

CREATE_MODES = ("upsert", "always")


@dataclass(frozen=True)
class FaultConfig:
    """What goes wrong on purpose. The defaults inject nothing."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    drop_rate: float = 0.0
    drop_phase: str = "after"
    burst_every: int = 0
    burst_length: int = 0
    burst_retry_after: int = 1
    seed: int = 0
    create: str = "upsert"
    errors_in_200: bool = False
    fixed_requests: int = 0
    fixed_window_s: float = 1.0
    leaky_limit: int = 0
    leaky_per_s: float = 0.0
    leaky_headers: str = "x-ratelimit"  # or "shopify": X-Shopify-Shop-Api-Call-Limit alone
    cost_maximum: int = 0
    cost_per_s: float = 0.0

    @property
    def create_always(self) -> bool:
        return self.create == "always"

    def rate_json(self) -> dict[str, Any]:
        return {
            "fixed": {"requests": self.fixed_requests, "window_s": self.fixed_window_s}
            if self.fixed_requests
            else None,
            "leaky": {"limit": self.leaky_limit, "leak_per_s": self.leaky_per_s,
                      **({"headers": self.leaky_headers}
                         if self.leaky_headers != "x-ratelimit" else {})}
            if self.leaky_limit
            else None,
            "cost": {"maximum": self.cost_maximum, "restore_per_s": self.cost_per_s}
            if self.cost_maximum
            else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "latency_ms": self.latency_ms,
            "drop_rate": self.drop_rate,
            "drop_phase": self.drop_phase,
            "burst_429": {
                "every": self.burst_every,
                "length": self.burst_length,
                "retry_after": self.burst_retry_after,
            }
            if self.burst_every
            else None,
            "seed": self.seed,
            "create": self.create,
            "errors_in_200": self.errors_in_200,
            "rate": self.rate_json(),
        }

    def replace(self, **fields: Any) -> FaultConfig:
        return dataclasses.replace(self, **fields)


class TokenBucket:
    """``rate`` tokens per second, holding at most ``max(1, rate)``. Time is a parameter."""

    def __init__(self, rate: float, now: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token; 0.0 if granted, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def _json_head(status: int, extra: list[tuple[bytes, bytes]] | None = None) -> Message:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), *(extra or [])],
    }


async def _send_json(send: Send, status: int, body: dict[str, Any], **headers: str) -> None:
    payload = orjson.dumps(body)
    extra = [(b"content-length", str(len(payload)).encode())]
    extra += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    await send(_json_head(status, extra))
    await send({"type": "http.response.body", "body": payload})


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


class Gate:
    """ASGI middleware in front of the sandbox app: auth, then rate limit, then faults."""

    def __init__(
        self,
        app: ASGIApp,
        api_key: str,
        *,
        faults: FaultConfig | None = None,
        rate_limit: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.clock = clock
        self._api_key = api_key.encode()
        self._lock = threading.Lock()
        self._bucket = TokenBucket(rate_limit, clock()) if rate_limit else None
        self.set_faults(faults or FaultConfig())

    @property
    def faults(self) -> FaultConfig:
        return self._faults

    def set_faults(self, faults: FaultConfig) -> None:
        """Switch to ``faults``; the rate budgets start full and their counts from zero."""
        now = self.clock()
        with self._lock:
            self._faults = faults
            self._random = random.Random(faults.seed)
            self._count = 0
            self._fixed = (
                FixedWindow(faults.fixed_requests, faults.fixed_window_s, now)
                if faults.fixed_requests
                else None
            )
            self._leaky = (
                LeakyBucket(faults.leaky_limit, faults.leaky_per_s, now, faults.leaky_headers)
                if faults.leaky_limit
                else None
            )
            self._cost = (
                CostBucket(faults.cost_maximum, faults.cost_per_s, now)
                if faults.cost_maximum
                else None
            )
            self._usage = {"fixed": Usage(), "leaky": Usage(), "cost": Usage()}

    def set_rate_limit(self, rate: float | None) -> None:
        with self._lock:
            self._bucket = TokenBucket(rate, self.clock()) if rate else None

    def reserve_cost(self, requested: int) -> dict[str, Any] | None:
        """Reserve a GraphQL query's cost. None when no cost budget is set; else the
        ``throttleStatus`` with ``granted`` telling whether the query may run."""
        now = self.clock()
        with self._lock:
            if self._cost is None:
                return None
            granted = self._cost.reserve(requested, now)
            if not granted:
                self._usage["cost"].count(now, served=False)
            status = self._cost.status(now)
        return {"granted": granted, **status}

    def settle_cost(self, requested: int, actual: int) -> dict[str, Any] | None:
        """Give back what a query reserved beyond its actual cost; the throttle status after."""
        now = self.clock()
        with self._lock:
            if self._cost is None:
                return None
            self._cost.refund(max(0, requested - actual), now)
            self._usage["cost"].count(now, served=True, used=actual)
            return self._cost.status(now)

    def rate_report(self) -> dict[str, Any]:
        """Per active budget: served, throttled, used, and the share of the budget used."""
        with self._lock:
            report: dict[str, Any] = {}
            for name, budget in (("fixed", self._fixed), ("leaky", self._leaky),
                                 ("cost", self._cost)):  # fmt: skip
                if budget is None:
                    continue
                usage = self._usage[name]
                first = usage.first if usage.first is not None else usage.last
                settings = self._faults.rate_json()[name]
                report[name] = {**settings, **usage.report(budget.budget(first, usage.last))}
            return report

    def _take_rate(self) -> tuple[str | None, float, dict[str, str]]:
        """The fixed window and the leaky bucket: (refusing budget or None, seconds to wait,
        headers for the response)."""
        now = self.clock()
        refused: str | None = None
        wait = 0.0
        headers: dict[str, str] = {}
        with self._lock:
            if self._fixed is not None:
                wait = self._fixed.take(now)
                self._usage["fixed"].count(now, served=not wait)
                refused = "fixed" if wait else None
            if self._leaky is not None and refused is None:
                wait = self._leaky.take(now)
                self._usage["leaky"].count(now, served=not wait)
                refused = "leaky" if wait else None
            if self._leaky is not None:
                headers = self._leaky.headers(now)
        return refused, wait, headers

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"x-api-key" and hmac.compare_digest(value, self._api_key):
                return True
            if (
                name == b"authorization"
                and value[:7].lower() == b"bearer "
                and hmac.compare_digest(value[7:].strip(), self._api_key)
            ):
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/v1/") or path == "/graphql"):
            await self.app(scope, receive, send)
            return
        if not self._authorized(scope):
            await _send_json(
                send,
                401,
                {"error": "missing or wrong API key; send X-API-Key or Authorization: Bearer"},
                www_authenticate="Bearer",
            )
            return
        if path.startswith("/v1/_admin/"):
            await self.app(scope, receive, send)
            return
        refused, budget_wait, rate_headers = self._take_rate()
        if refused:
            seconds = whole_seconds(budget_wait)
            await _send_json(
                send,
                429,
                {"error": f"rate limit exceeded ({refused})", "retry_after": seconds},
                retry_after=str(seconds),
                **{k.replace("-", "_"): v for k, v in rate_headers.items()},
            )
            return
        if rate_headers:
            send = _with_headers(send, rate_headers)
        with self._lock:
            wait = self._bucket.take(self.clock()) if self._bucket else 0.0
            faults = self._faults
            index = self._count
            self._count += 1
            error_roll = self._random.random()
            drop_roll = self._random.random()
        if wait:
            seconds = max(1, math.ceil(wait))
            await _send_json(
                send,
                429,
                {"error": "rate limit exceeded", "retry_after": seconds},
                retry_after=str(seconds),
            )
            return
        if faults.burst_every and index % faults.burst_every >= (
            faults.burst_every - faults.burst_length
        ):
            seconds = faults.burst_retry_after
            await _send_json(
                send,
                429,
                {"error": "too many requests (burst)", "retry_after": seconds},
                retry_after=str(seconds),
            )
            return
        if error_roll < faults.error_rate:
            await _send_json(send, 500, {"error": "injected server error"})
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if drop_roll < faults.drop_rate:
            await self._drop(scope, receive, send, process=faults.drop_phase == "after")
            return
        await self.app(scope, receive, send)

    async def _drop(self, scope: Scope, receive: Receive, send: Send, *, process: bool) -> None:
        if process:

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
        else:
            # Read the request first: a server that closes while the client is still sending
            # would show up as a write error instead of the lost response this fault stands for.
            more = True
            while more:
                message = await receive()
                more = message.get("type") == "http.request" and message.get("more_body", False)
        # A head promising a body that never comes: the server closes the connection.
        await send(_json_head(200, [(b"content-length", b"64")]))
