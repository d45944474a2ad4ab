"""connectors.http.leaky: a bucket's leak measured from the levels its answers give."""

from __future__ import annotations

import math
import random

import pytest

from connectors.http.leaky import LeakyBucket, parse_call_limit


@pytest.mark.parametrize(("text", "parsed"), [
    ("32/40", (32.0, 40.0)), ("0/400", (0.0, 400.0)), ("40/40", (40.0, 40.0)),
    ("", None), ("40", None), ("a/40", None), ("3/0", None), ("-1/40", None), (None, None),
])  # fmt: skip
def test_call_limit_header(text: str | None, parsed: tuple[float, float] | None) -> None:
    assert parse_call_limit(text) == parsed


@pytest.mark.parametrize("seed", range(200))
def test_the_measured_leak_never_exceeds_the_real_one(seed: int) -> None:
    """Eight requests in flight, answered in any order, each level rounded up: the estimate
    stays under the leak (a bucket overdrawn is a refusal and a pause) and comes within 15%
    of it in a minute."""
    rng = random.Random(seed)
    leak, size = 2.0, 40.0
    level, at = 0.0, 0.0
    bucket = LeakyBucket()
    now = 0.0
    in_flight: list[tuple[int, float]] = []  # (number, level answered), not yet read
    estimates = []
    sent = 0
    while now < 60:
        wait = bucket.wait(now) if sent else 0.0  # the first goes before any level is known
        if wait > 0 or len(in_flight) == 8:
            # read one answer (any of those in flight) before sending more
            if in_flight:
                number, answer = in_flight.pop(rng.randrange(len(in_flight)))
                now += rng.uniform(0.0, 0.05)
                bucket.observe(now, math.ceil(answer), size, len(in_flight), True, number)
                if bucket.leak is not None:
                    estimates.append(bucket.leak)
                continue
            now += max(wait, 0.0)
        bucket.take(now)
        level = max(0.0, level - (now - at) * leak)
        at = now
        assert level + 1 <= size + 1e-9, "the bucket was overdrawn"
        level += 1
        sent += 1
        in_flight.append((sent, level))
    assert estimates and max(estimates) <= leak
    assert estimates[-1] >= 0.85 * leak, estimates[-1]
