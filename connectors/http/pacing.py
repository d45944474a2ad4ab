"""Pacing: one client's requests spread over the server's rate budget, shared by its threads.

The client asks :meth:`Pacer.before` for a slot before it sends a request (this may wait) and
hands the response to :meth:`Slot.observe` after reading it. The pacer learns the budget from
what the server says:

- ``X-RateLimit-Limit/Remaining/Reset`` (or the draft standard's ``RateLimit-*``, or
  BigCommerce's ``X-Rate-Limit-Requests-Left`` and ``X-Rate-Limit-Time-Reset-Ms``): requests go
  freely while more than twice ``max_in_flight`` remain, and the last ones are spread over the
  time to reset; the requests in flight count as spent. A fixed window is used whole and never
  overdrawn; a leaky bucket settles near full, sending at its leak rate (spreading all of the
  remaining budget would settle half full, leaving half the burst unused).
- ``Retry-After`` (seconds or an HTTP date) on a 429/503: every request of the client waits,
  not only the one refused. A server that says nothing else has its rate learned. Between two
  refusals its bucket went from empty to empty, so what it accepted in between, over the time
  between, is its rate: the client then sends at 95% of that and speeds up by 1% a second
  until refused again (one refusal per few seconds). Until it knows the rate, one request is
  in flight at a time, each sent the Retry-After after the one before was accepted (with a
  fraction, ``0.25``, it is the time the server takes to restore the token a probe took), so
  the probes are not refused in turn; the rate they measure is the first one used, as they
  are already slower than the server. Five probes not refused end it too, at 95% of the rate
  the Retry-After promised (or what they got, if more; with no Retry-After, what they got):
  one at a time against a server that takes 100 ms an answer, they were never refused, and
  stayed the rate for good.
- HTTP's own Retry-After is whole seconds (``1``) or a date, only an upper bound: probes
  spaced by it measured one request a second whatever the server allowed (3% of a 40/s
  window), and were never refused to learn better. After such a pause, what the first burst
  got over its time and the pause is the rate to start from (a window's or a bucket's worth
  over its period); with too small a burst to tell, the probes follow each other at once until
  refused, or for as long again as the pause (then one at a time is slower than the server,
  and what they got is the rate). Each refusal costs every thread up to a second of the
  budget, so once one has confirmed the learned rate, it creeps up ten times slower, from the
  rate just refused.
- Shopify REST's ``X-Shopify-Shop-Api-Call-Limit: used/size``, a leaky bucket whose leak is
  not said: measured from the answers (:mod:`connectors.http.leaky`), and the bucket kept one
  request short of full.
- A GraphQL cost budget in ``extensions.cost`` (Shopify's ``requestedQueryCost`` and
  ``throttleStatus {maximumAvailable currentlyAvailable restoreRate}``): a query waits until the
  points it costs have been restored; a ``THROTTLED`` error in a 200 is reported as throttled so
  the client retries it.
- ``rate_limit`` (requests per second), a fixed client-side cap, and ``max_in_flight``.

Time comes from the connector context (``clock`` and ``sleep``): tests run it on a fake clock.
Until the first response arrives one request at a time is sent, so the first answer's budget is
known before a burst is spent.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .leaky import HEADER as CALL_LIMIT
from .leaky import LeakyBucket, parse_call_limit

__all__ = ["Pacer", "Slot", "retry_after_seconds"]

log = logging.getLogger(__name__)

_DECREASE = 0.95  # of the accepted rate, after a refusal with nothing but Retry-After
_GROWTH = 0.01  # per second without a refusal
_MIN_SAMPLE = 5  # accepted answers between two refusals needed to learn a rate from
_EPOCH = 1e9  # a Reset value above this is a Unix time, below it a number of seconds
_QUIET_S = 1.0  # back-to-back probes with no Retry-After, never refused for this long: done
_EPSILON = 1e-6  # seconds: shorter waits are rounding (a float clock near 1e3 s has ~1e-13)


def _number(headers: httpx.Headers, *names: str) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                return float(value.split(",")[0])
            except ValueError:
                return None
    return None


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date relative to ``now``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _retry_after(headers: httpx.Headers, wall: float) -> tuple[float | None, bool]:
    """The Retry-After in seconds, and whether it is coarse: whole seconds (``1``, ``1.0``, as
    HTTP gives it) or an HTTP date, only an upper bound of the time to the next token."""
    value = headers.get("retry-after")
    seconds = retry_after_seconds(value, dt.datetime.fromtimestamp(wall, dt.UTC))
    if seconds is None:
        return None, False
    try:
        number = float(value or "")
    except ValueError:
        return seconds, True  # a date
    return seconds, number >= 1 and number.is_integer()


class Slot:
    """One request's place in the pacer: :meth:`release` once the response is read (or the
    request failed), then :meth:`observe` the response."""

    def __init__(self, pacer: Pacer, key: str | None, cost: float, sent_at: float,
                 number: int) -> None:
        self._pacer = pacer
        self.key = key
        self.cost = cost
        self.sent_at = sent_at
        self.number = number  # in the order the pacer let requests go
        self.retry_after: float | None = None  # the refusal's, read once for the retrier too
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._pacer._release(self)

    def observe(self, response: httpx.Response, body: Callable[[], Any]) -> bool:
        """Learn from ``response`` (``body`` decodes its JSON lazily); True when the server
        throttled this request, so the caller retries it."""
        self.release()
        return self._pacer._observe(self, response, body)


class Pacer:
    def __init__(
        self,
        *,
        max_in_flight: int = 4,
        rate_limit: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self._where = dict(where or {})
        self._cond = threading.Condition()
        self.max_in_flight = max(1, max_in_flight)
        self._in_flight: list[Slot] = []
        self._sent = 0
        self._answered = False
        self.throttled = 0
        # a fixed client-side rate: a token bucket with one second's burst
        self._rate = rate_limit
        self._tokens = max(1.0, rate_limit or 0.0)
        self._tokens_at = clock()
        self._paused_until = 0.0  # Retry-After, for every thread
        # X-RateLimit-*: requests left until reset_at, spread evenly
        self._remaining: float | None = None
        self._reset_at = 0.0
        self._next_at = 0.0
        self._bucket: LeakyBucket | None = None  # a level without a reset (Shopify REST)
        # rate learned from refusals when the server gives no budget
        self._learned: float | None = None
        self._learned_at = 0.0
        self._refused_at: float | None = None  # when the server's bucket was last empty
        self._accepted_since = 0
        self._probe_gap = 0.0  # the longest Retry-After while the rate is being learned
        self._coarse = False  # a Retry-After in whole seconds was seen while learning
        self._started_at: float | None = None  # the first request
        self._settled = False  # a refusal came after the rate was learned
        # GraphQL cost points
        self._points: float | None = None
        self._points_max = 0.0
        self._restore = 0.0
        self._points_at = 0.0
        self._costs: dict[str, float] = {}

    # --- asking to send -------------------------------------------------------------------------

    def before(self, body: Any = None) -> Slot:
        """Wait until a request may be sent; ``body`` is a GraphQL request body (its query's
        last known cost is what it waits for), else None."""
        key = body.get("query") if isinstance(body, Mapping) else None
        key = key if isinstance(key, str) else None
        while True:
            with self._cond:
                now = self._clock()
                wait = self._wait(now, key)
                if wait <= _EPSILON:
                    if len(self._in_flight) < self._limit():
                        return self._take(now, key)
                    self._cond.wait(0.05)  # a slot frees when a response is read
                    continue
            log.debug("http.pace_wait", extra={**self._where, "delay_s": round(wait, 4)})
            self._sleep(wait)

    def _limit(self) -> int:
        if not self._answered:
            return 1
        if self._probing():
            return 1  # refused, and the rate is not known yet: probe one request at a time
        return self.max_in_flight

    def _probing(self) -> bool:
        return (self._refused_at is not None and self._learned is None
                and self._remaining is None and self._bucket is None)

    def _wait(self, now: float, key: str | None) -> float:
        waits = [self._paused_until - now]
        if self._rate is not None:
            tokens = min(max(1.0, self._rate), self._tokens + (now - self._tokens_at) * self._rate)
            waits.append((1 - tokens) / self._rate)
        if self._remaining is not None and now < self._reset_at:
            waits.append(self._reset_at - now if self._remaining < 1 else self._next_at - now)
        elif self._learned is not None or self._probing():
            waits.append(self._next_at - now)
        if self._bucket is not None:
            waits.append(self._bucket.wait(now))
        if self._points is not None and self._restore > 0:
            # a query dearer than the whole bucket waits for a full one, not for ever
            need = min(self._points_max, self._cost(key))
            waits.append((need - self._points_now(now)) / self._restore)
        return max(waits)

    def _cost(self, key: str | None) -> float:
        """The query's last requested cost; an unknown query is taken to cost the most seen."""
        return self._costs.get(key or "", max(self._costs.values(), default=0.0))

    def _points_now(self, now: float) -> float:
        assert self._points is not None
        return min(self._points_max, self._points + (now - self._points_at) * self._restore)

    def _take(self, now: float, key: str | None) -> Slot:
        if self._started_at is None:
            self._started_at = now
        if self._rate is not None:
            self._tokens = min(max(1.0, self._rate),
                               self._tokens + (now - self._tokens_at) * self._rate) - 1
            self._tokens_at = now
        if self._remaining is not None and now < self._reset_at:
            if self._remaining > 2 * self.max_in_flight:
                self._next_at = now  # plenty left: a leaky bucket is used up to near full
            else:
                interval = (self._reset_at - now) / max(self._remaining, 1.0)
                self._next_at = max(self._next_at, now) + interval
            self._remaining -= 1
        elif self._learned is not None:
            self._next_at = max(self._next_at, now) + 1 / self._learned
        if self._bucket is not None:
            self._bucket.take(now)
        cost = 0.0
        if self._points is not None:
            cost = self._cost(key)
            self._points = self._points_now(now) - cost
            self._points_at = now
        self._sent += 1
        slot = Slot(self, key, cost, now, self._sent)
        self._in_flight.append(slot)
        return slot

    def _release(self, slot: Slot) -> None:
        with self._cond:
            self._in_flight.remove(slot)
            self._cond.notify()

    # --- learning from the answer ---------------------------------------------------------------

    def _observe(self, slot: Slot, response: httpx.Response, body: Callable[[], Any]) -> bool:
        with self._cond:
            now = self._clock()
            self._answered = True
            headers = response.headers
            self._learn_headers(now, headers, response.status_code < 400, slot.number)
            throttled = self._learn_cost(now, slot, body) if slot.key is not None else False
            if response.status_code in (429, 503):
                throttled = response.status_code == 429 or "retry-after" in headers
            if throttled:
                retry_after, coarse = _retry_after(headers, self._wall())
                slot.retry_after = retry_after
                self._refused(now, slot, retry_after, coarse)
            elif response.status_code < 400:
                self._accept(now)
            self._cond.notify_all()
            return throttled

    def _learn_headers(self, now: float, headers: httpx.Headers, accepted: bool,
                       number: int) -> None:
        call_limit = parse_call_limit(headers.get(CALL_LIMIT))
        if call_limit is not None:
            self._bucket = self._bucket or LeakyBucket()
            self._bucket.observe(now, *call_limit, len(self._in_flight), accepted, number)
        remaining = _number(headers, "x-ratelimit-remaining", "ratelimit-remaining",
                            "x-rate-limit-requests-left")  # the last: BigCommerce's
        reset = _number(headers, "x-ratelimit-reset", "ratelimit-reset")
        if reset is None and (reset_ms := _number(headers, "x-rate-limit-time-reset-ms")):
            reset = reset_ms / 1000
        if remaining is None or reset is None:
            return
        if reset > _EPOCH:
            reset = reset - self._wall()
        # requests still in flight may not be counted by the server yet: assume they are not
        self._remaining = remaining - len(self._in_flight)
        self._reset_at = now + max(0.0, reset)

    def _learn_cost(self, now: float, slot: Slot, body: Callable[[], Any]) -> bool:
        data = body()
        if not isinstance(data, Mapping):
            return False
        cost = (data.get("extensions") or {}).get("cost") if isinstance(
            data.get("extensions"), Mapping) else None
        throttled = any(isinstance(e, Mapping) and isinstance(e.get("extensions"), Mapping)
                        and e["extensions"].get("code") == "THROTTLED"
                        for e in data.get("errors") or [])
        if not isinstance(cost, Mapping):
            return throttled
        status = cost.get("throttleStatus")
        requested = cost.get("requestedQueryCost")
        if isinstance(requested, int | float) and slot.key is not None:
            self._costs[slot.key] = float(requested)
        if isinstance(status, Mapping):
            try:
                available = float(status["currentlyAvailable"])
                self._points_max = float(status["maximumAvailable"])
                self._restore = float(status["restoreRate"])
            except (KeyError, TypeError, ValueError):
                return throttled
            self._points = available - sum(s.cost for s in self._in_flight)
            self._points_at = now
        return throttled

    def _refused(self, now: float, slot: Slot, retry_after: float | None,
                 coarse: bool = False) -> None:
        self.throttled += 1
        if retry_after is not None:
            self._paused_until = max(self._paused_until, now + retry_after)
            if self._learned is None:
                self._probe_gap = max(self._probe_gap, retry_after)
                self._coarse = self._coarse or coarse
        # Requests sent before the last refusal was known belong to the same episode.
        episode = self._refused_at is None or slot.sent_at >= self._refused_at
        if episode and self._remaining is None and self._points is None and self._bucket is None:
            self._learn_rate(now, retry_after)
        log.info("http.throttled", extra={**self._where, "retry_after_s": retry_after,
                                          "rate": self._learned})

    def _end_probing(self, now: float) -> None:
        """Probes not refused: one at a time is as fast as they go, slower than the server
        (one that takes 150 ms an answer kept them one at a time for good: 46% of a 10/s
        bucket). After five, what they got is the rate to start from, or 95% of the rate a
        Retry-After with a fraction promises (a token each), if more. Probes sent back to back
        (a pause of whole seconds, or none) go on for as long again as the pause, or a second:
        against a server that keeps up they are refused before that, once the window or
        bucket is used up, and that measure, taken while the server was saturated, is the
        better one."""
        assert self._refused_at is not None
        span = now - self._refused_at
        back_to_back = self._coarse or self._probe_gap == 0
        least = (2 * self._probe_gap or _QUIET_S) if back_to_back else 0.0
        if self._accepted_since < _MIN_SAMPLE or span < least:
            return
        promised = _DECREASE / self._probe_gap if self._probe_gap > 0 and not self._coarse else 0
        self._start_rate(now, max(self._accepted_since / max(span, 1e-3), promised))

    def _start_rate(self, now: float, rate: float) -> None:
        """Send at ``rate`` from now, and measure the next one from here."""
        self._learned = rate
        self._learned_at = self._refused_at = now
        self._accepted_since = 0

    def _learn_rate(self, now: float, retry_after: float | None) -> None:
        if (self._refused_at is None and self._coarse and retry_after is not None
                and self._accepted_since >= _MIN_SAMPLE and self._started_at is not None):
            # The first refusal, after a pause in whole seconds. What the burst got, over the
            # time from the first request until the server takes one again, is a window's or
            # a bucket's worth over its period: the rate to start from, with no probing and
            # no second pause (each costs up to a second of the budget). A large burst makes
            # it too high; the next refusal measures the rate as below.
            self._start_rate(now, self._accepted_since / (now - self._started_at + retry_after))
            return
        if self._refused_at is None or self._accepted_since < _MIN_SAMPLE:
            # the first refusal (a burst was spent), or too few answers to measure: the
            # window starts (or goes on) from an empty bucket
            if self._refused_at is None:
                self._refused_at, self._accepted_since = now, 0
            return
        measured = self._accepted_since / max(now - self._refused_at, 1e-3)
        if self._learned is None:
            # measured on probes spaced by the server's Retry-After: already below its rate
            self._start_rate(now, measured)
            return
        base = min(self._learned, measured)
        if self._coarse and measured >= 0.75 * self._learned:
            # the measure spans the last pause, a whole second the server was not short of:
            # the rate just refused says more (~85% of a fixed window used -> ~95%)
            base = self._learned
        self._start_rate(now, base * _DECREASE)
        self._settled = True

    def _accept(self, now: float) -> None:
        self._accepted_since += 1
        if self._probing() and self._points is None:
            if not self._coarse:
                # A probe took the token the server's Retry-After promised; the next one comes
                # about as long after. Sent at once, every other probe was refused (~4 of the
                # ~6 refusals a fixed rate cost before its rate was learned).
                self._next_at = now + self._probe_gap
            self._end_probing(now)
        if self._learned is not None:
            # A pause in whole seconds idles every thread for up to a second of the budget:
            # once a refusal has confirmed the rate, it creeps up ten times slower against
            # such a server, so that a refusal comes every ~50 s, not every ~5 (~80% of a
            # fixed window used, as each one paused a second of every five).
            growth = _GROWTH / 10 if self._coarse and self._settled else _GROWTH
            self._learned *= 1 + growth * max(0.0, now - self._learned_at)
            self._learned_at = now
