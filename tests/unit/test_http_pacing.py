"""The pacer on a fake clock: what it waits for, after which signal, and for how long."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from connectors.http.pacing import Pacer
from tests.support.budget_testapp import FakeClock


def pacer(clock: FakeClock, **options: Any) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, wall=lambda: 1_700_000_000.0, **options)


def answer(p: Pacer, status: int = 200, headers: dict[str, str] | None = None,
           body: Any = None, request_body: Any = None) -> bool:
    slot = p.before(request_body)
    return slot.observe(httpx.Response(status, headers=headers or {}), lambda: body)


def sent_after(clock: FakeClock, p: Pacer, body: Any = None) -> float:
    """Seconds the pacer made the next request wait."""
    before = clock.now
    p.before(body).release()
    return round(clock.now - before, 6)


def test_remaining_budget_is_spread_over_the_time_to_reset() -> None:
    clock = FakeClock()
    p = pacer(clock)
    answer(p, headers={"X-RateLimit-Limit": "40", "X-RateLimit-Remaining": "10",
                       "X-RateLimit-Reset": "5"})
    waits = [sent_after(clock, p) for _ in range(5)]
    # 10 left: 2 go at once (more than 2 x max_in_flight remain), then 8 left over 5 s
    assert waits == [0.0, 0.0, 0.0, 0.625, 0.625]


def test_no_budget_left_waits_until_the_reset_and_an_epoch_reset_is_understood() -> None:
    clock = FakeClock()
    p = pacer(clock)
    answer(p, headers={"X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset": str(1_700_000_000 + 7)})
    assert sent_after(clock, p) == 7.0


def test_retry_after_pauses_every_caller_not_only_the_refused_one() -> None:
    clock = FakeClock()
    p = pacer(clock, max_in_flight=4)
    answer(p)
    refused = p.before()
    other = p.before()  # another thread's request, in flight at the same time
    assert refused.observe(httpx.Response(429, headers={"Retry-After": "3"}), lambda: None)
    other.release()
    assert sent_after(clock, p) == 3.0
    assert p.throttled == 1


def test_graphql_cost_waits_for_the_points_a_query_needs() -> None:
    clock = FakeClock()
    p = pacer(clock)
    query = {"query": "{ products(first: 250) { nodes { id } } }"}
    cost = {"requestedQueryCost": 52, "actualQueryCost": 50,
            "throttleStatus": {"maximumAvailable": 1000, "currentlyAvailable": 12,
                               "restoreRate": 50}}
    assert not answer(p, body={"data": {}, "extensions": {"cost": cost}}, request_body=query)
    assert sent_after(clock, p, query) == 0.8  # (52 - 12) / 50
    # the next one waits for its 52 points again, now taken from an empty bucket
    assert sent_after(clock, p, query) == 1.04


def test_a_throttled_error_in_a_200_is_reported_for_a_retry() -> None:
    clock = FakeClock()
    p = pacer(clock)
    body = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
            "extensions": {"cost": {"requestedQueryCost": 10, "throttleStatus": {
                "maximumAvailable": 100, "currentlyAvailable": 4, "restoreRate": 2}}}}
    assert answer(p, body=body, request_body={"query": "{ q }"})
    assert sent_after(clock, p, {"query": "{ q }"}) == 3.0  # (10 - 4) / 2


def test_a_fixed_client_rate_limit_runs_on_the_context_clock() -> None:
    clock = FakeClock()
    p = pacer(clock, rate_limit=2)
    answer(p)
    waits = [sent_after(clock, p) for _ in range(4)]
    assert waits == [0.0, 0.5, 0.5, 0.5]  # a burst of 2 (one spent above), then 2 a second


def test_requests_in_flight_count_as_spent_until_the_server_answers() -> None:
    clock = FakeClock()
    p = pacer(clock, max_in_flight=8)
    answer(p)
    answered, in_flight = p.before(), p.before()
    # The server said 3 left while another request is still out: 2 remain for the next 10 s.
    answered.observe(httpx.Response(200, headers={"X-RateLimit-Remaining": "3",
                                                  "X-RateLimit-Reset": "10"}), lambda: None)
    in_flight.release()
    assert [sent_after(clock, p) for _ in range(3)] == [0.0, 5.0, 5.0]


def test_the_first_request_goes_alone() -> None:
    clock = FakeClock()
    p = pacer(clock, max_in_flight=8)
    first = p.before()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(p.before()))
    waiter.start()
    waiter.join(0.2)
    assert not got  # the budget is unknown until the first answer
    first.observe(httpx.Response(200), lambda: None)
    waiter.join(5)
    assert got


def test_a_whole_second_retry_after_after_a_burst_gives_a_rate_at_once() -> None:
    """HTTP's Retry-After is whole seconds. What the burst got, over its time and the pause,
    is the rate to start from: no probing one at a time, no second pause."""
    clock = FakeClock()
    p = pacer(clock, max_in_flight=4)
    first = clock.now
    for _ in range(20):  # the burst: 20 accepted over 0.5 s
        answer(p)
        clock.sleep(0.025)
    assert answer(p, 429, {"Retry-After": "1"})
    assert round(clock.now - first, 6) == 0.5
    assert sent_after(clock, p) == 1.0  # the pause
    resumed = clock.now
    # 20 over 0.5 + 1 s: 13.3/s, four in flight at once (a probe would hold the others)
    slots = [p.before() for _ in range(4)]
    assert round(clock.now - resumed, 6) == round(4 * 1.5 / 20, 6)
    for slot in slots:
        slot.release()


def test_whole_second_probes_go_at_once_and_end_without_a_refusal() -> None:
    """A burst too small to measure: the probes after a pause of whole seconds follow each
    other at once (spaced by it, they measured one a second whatever the server allowed), and
    when none is refused for as long as the pause, what they got is the rate to start from."""
    clock = FakeClock()
    p = pacer(clock, max_in_flight=4)
    answer(p)
    assert answer(p, 429, {"Retry-After": "1"})
    refused = clock.now
    assert sent_after(clock, p) == 1.0  # the pause
    for _ in range(16):  # one at a time, 1/16 s each, none waiting for a gap
        slot = p.before()
        clock.sleep(0.0625)
        slot.observe(httpx.Response(200), lambda: None)
    assert clock.now - refused == 2.0
    # 2 s without a refusal, as long again as the pause: 16 in 2 s is the rate, and four go
    # in flight again (a probe would hold the others), the first at once, each next 1/8 s on
    start = clock.now
    slots = [p.before() for _ in range(4)]
    assert clock.now - start == 3 * 0.125
    for slot in slots:
        slot.release()


def test_a_retry_after_date_pauses_every_caller_too() -> None:
    """Retry-After may be an HTTP date: the pacer reads it as the retrier does (it paused the
    refused request only, while every other thread went on into more refusals)."""
    clock = FakeClock()
    p = pacer(clock, max_in_flight=4)  # wall: 1_700_000_000, 2023-11-14 22:13:20 UTC
    answer(p)
    assert answer(p, 429, {"Retry-After": "Tue, 14 Nov 2023 22:13:25 GMT"})
    assert sent_after(clock, p) == 5.0


def test_bigcommerce_requests_left_and_reset_in_milliseconds_are_understood() -> None:
    clock = FakeClock()
    p = pacer(clock)
    answer(p, headers={"X-Rate-Limit-Requests-Left": "0",
                       "X-Rate-Limit-Time-Reset-Ms": "15000",
                       "X-Rate-Limit-Requests-Quota": "150",
                       "X-Rate-Limit-Time-Window-Ms": "30000"})
    assert sent_after(clock, p) == 15.0
    answer(p, headers={"X-Rate-Limit-Requests-Left": "10", "X-Rate-Limit-Time-Reset-Ms": "5000"})
    waits = [sent_after(clock, p) for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, 0.625, 0.625]  # as X-RateLimit-* with the same numbers


def test_probes_after_a_refusal_without_retry_after_end_when_never_refused() -> None:
    """A 429 with nothing to go by: the probes go one at a time, back to back. Against a
    server that takes 1/8 s an answer they are never refused; a second of them gives the
    rate (8/s), and four go in flight again instead of one for good."""
    clock = FakeClock()
    p = pacer(clock, max_in_flight=4)
    answer(p)
    assert answer(p, 429)
    for _ in range(8):
        slot = p.before()
        clock.sleep(0.125)
        slot.observe(httpx.Response(200), lambda: None)
    start = clock.now
    slots = [p.before() for _ in range(4)]  # a probe would hold the others
    assert clock.now - start == 3 * 0.125  # 8 in 1 s: each next 1/8 s on
    for slot in slots:
        slot.release()
