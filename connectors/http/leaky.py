"""A leaky bucket the server tells only the level of: Shopify REST's
``X-Shopify-Shop-Api-Call-Limit: 32/40`` (requests in the bucket / its size).

It does not say how fast the bucket leaks (2 a second on a standard plan, 20 on Plus, other
figures elsewhere), so the leak is measured from the answers: between two of them the bucket
took one request per accepted answer and leaked the rest, so (level then + answers since - level
now) over the time between is the leak. The two levels are whole numbers, each up to one off,
and the requests in flight at the first may have been counted in its level and then again as
answers, so one request and those are taken off what leaked: the estimate stays at or under the
leak and comes closer the longer it spans. It spans a stretch in which every level read was at
least half the bucket, so that the bucket never ran empty in between (an empty bucket leaks
nothing, and the measure would be low).

Requests go freely while the bucket has room (the requests in flight count as in it), keeping
one spare for what the rounding or another client took; then one each time the estimated leak
makes room. Until a stretch of a second gives the leak, one request a second after the last
answer: its answer measures it. That suits a bucket that takes seconds to drain (Shopify's take
20: 40 at 2/s, 400 at 20/s); one that drains in under a second runs empty while the client
waits, and its leak is not measured (it is then used at about one bucket a second).
"""

from __future__ import annotations

from collections import deque

__all__ = ["LeakyBucket", "parse_call_limit"]

HEADER = "x-shopify-shop-api-call-limit"
SPARE = 1.0  # requests of room left free
MIN_SPAN_S = 1.0  # a shorter stretch gives no estimate
MAX_SPAN_S = 60.0  # older levels are dropped, so a changed leak is learned again
PROBE_S = 1.0  # the wait before a request into a full bucket of unknown leak


def parse_call_limit(value: str | None) -> tuple[float, float] | None:
    """``"32/40"`` -> (32.0, 40.0); None for anything else."""
    if not value or "/" not in value:
        return None
    used, _, size = value.partition("/")
    try:
        level, limit = float(used), float(size)
    except ValueError:
        return None
    return (level, limit) if limit > 0 and level >= 0 else None


class LeakyBucket:
    """The client's view of the bucket; the pacer calls it under its own lock."""

    def __init__(self) -> None:
        self.limit = 0.0
        self.leak: float | None = None  # requests a second, once measured
        self._span = 0.0  # the seconds it was measured over
        self._room = 0.0  # free requests at _at: size - level - in flight - sent since
        self._at = 0.0
        self._answers = 0  # accepted answers so far
        self._newest = -1  # the number of the newest request whose level was read
        # (time, level, answers, in flight) of the current stretch, MIN_SPAN_S / 4 apart
        self._stretch: deque[tuple[float, float, int, int]] = deque()

    def observe(self, now: float, level: float, limit: float, in_flight: int,
                accepted: bool, number: int) -> None:
        """An answer read ``level``/``limit``; ``in_flight`` requests are still unanswered;
        ``number``: the request's, in the order they were sent."""
        if accepted:
            self._answers += 1
        self.limit = limit
        room = limit - level - in_flight
        if number < self._newest:
            # Overtaken by the answer to a later request: its level is older than the one
            # read, and says less of the room now (it would overdraw) or of the leak.
            self._room, self._at = min(self._room_at(now), room), now
            return
        self._newest = number
        self._room, self._at = room, now
        stretch = self._stretch
        if level < limit / 2:
            stretch.clear()  # it may run empty from here: measure from a fuller bucket
            return
        if not stretch or now - stretch[-1][0] >= MIN_SPAN_S / 4:
            stretch.append((now, level, self._answers, in_flight))
        while len(stretch) > 2 and now - stretch[1][0] >= MAX_SPAN_S:
            stretch.popleft()
        then, was, answers, unanswered = stretch[0]
        span = now - then
        # A new stretch's first seconds measure less closely than the last stretch did.
        if span >= max(MIN_SPAN_S, min(self._span, MAX_SPAN_S / 2)):
            leaked = was + (self._answers - answers) - level - 1 - unanswered
            if leaked > 0:
                self.leak, self._span = leaked / span, span

    def _room_at(self, now: float) -> float:
        return min(self.limit, self._room + (now - self._at) * (self.leak or 0.0))

    def wait(self, now: float) -> float:
        """Seconds until a request fits with one spare (0: it fits now)."""
        room = self._room_at(now)
        if room >= 1 + SPARE:
            return 0.0
        if self.leak is None:
            return self._at + PROBE_S - now
        return (1 + SPARE - room) / self.leak

    def take(self, now: float) -> None:
        self._room = self._room_at(now) - 1
        self._at = now
