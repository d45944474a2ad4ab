"""The sandbox's rate budgets over loopback, on a clock the test moves (no sleeping): a fixed
window, a leaky bucket with X-RateLimit-* headers, and the admin read of their usage. The GraphQL
cost budget is tested with the GraphQL endpoint (test_sandbox_graphql.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.demo.sandbox.rates import FixedWindow, LeakyBucket
from tests.support.sandbox_api import ManualClock, sandbox_client

KEY = "rate-key-1"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def api(tmp_path: Path, clock: ManualClock) -> Iterator[httpx.Client]:
    with sandbox_client(tmp_path, KEY, clock, timeout=10) as client:
        yield client


def budgets(api: httpx.Client, **rate: Any) -> None:
    api.put("/v1/_admin/faults", json={"rate": rate}).raise_for_status()


def test_no_budget_by_default(api: httpx.Client) -> None:
    responses = [api.get("/v1/stores") for _ in range(30)]
    assert {r.status_code for r in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[0].headers
    assert api.get("/v1/_admin/rate").json() == {}


def test_fixed_window_throttles_past_its_count_until_the_window_ends(
    api: httpx.Client, clock: ManualClock
) -> None:
    budgets(api, fixed={"requests": 3, "window_s": 10})
    assert [api.get("/v1/stores").status_code for _ in range(3)] == [200, 200, 200]
    clock.now += 2.5
    limited = api.get("/v1/stores")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "8"  # 7.5 s left in the window, rounded up
    assert limited.json()["retry_after"] == 8
    # Admin calls are outside every budget.
    assert api.get("/v1/_admin/stats").status_code == 200
    clock.now += 7.5
    assert [api.get("/v1/stores").status_code for _ in range(4)] == [200, 200, 200, 429]
    usage = api.get("/v1/_admin/rate").json()["fixed"]
    assert (usage["served"], usage["throttled"]) == (6, 2)
    assert usage["span_s"] == 10.0
    assert usage["budget"] == 6  # two windows of 3 began in the span
    assert usage["used_ratio"] == 1.0 and usage["throttled_ratio"] == 0.25
    # Switching the budget off ends the throttling.
    budgets(api)
    assert api.get("/v1/stores").status_code == 200


def test_leaky_bucket_reports_its_level_in_headers(api: httpx.Client, clock: ManualClock) -> None:
    budgets(api, leaky={"limit": 4, "leak_per_s": 2})
    responses = [api.get("/v1/stores") for _ in range(4)]
    assert [r.status_code for r in responses] == [200] * 4
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["3", "2", "1", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"4"}
    assert responses[-1].headers["X-RateLimit-Reset"] == "2"  # 4 requests leak at 2/s
    full = api.get("/v1/stores")
    assert full.status_code == 429
    assert full.headers["Retry-After"] == "1"  # one request leaks out in 0.5 s
    assert full.headers["X-RateLimit-Remaining"] == "0"
    assert full.headers["X-RateLimit-Limit"] == "4"
    clock.now += 0.5
    after = api.get("/v1/stores")
    assert after.status_code == 200 and after.headers["X-RateLimit-Remaining"] == "0"
    clock.now += 10
    rested = api.post("/v1/products", json={"sku": "A", "title": "A", "price": 1})
    assert rested.status_code == 201
    assert rested.headers["X-RateLimit-Remaining"] == "3"
    assert rested.headers["X-RateLimit-Reset"] == "1"
    usage = api.get("/v1/_admin/rate").json()["leaky"]
    assert (usage["served"], usage["throttled"]) == (6, 1)
    assert usage["budget"] == pytest.approx(4 + 2 * 10.5)
    assert usage["throttled_ratio"] == pytest.approx(1 / 7)


def test_a_shopify_bucket_reports_only_its_level(api: httpx.Client, clock: ManualClock) -> None:
    # Shopify REST: "X-Shopify-Shop-Api-Call-Limit: level/size" on every answer, the level
    # rounded up, and nothing of the leak or the time to empty.
    budgets(api, leaky={"limit": 4, "leak_per_s": 2, "headers": "shopify"})
    responses = [api.get("/v1/stores") for _ in range(4)]
    assert [r.headers["X-Shopify-Shop-Api-Call-Limit"] for r in responses] == [
        "1/4", "2/4", "3/4", "4/4"]
    assert not any(name.lower().startswith("x-ratelimit") for name in responses[0].headers)
    full = api.get("/v1/stores")
    assert full.status_code == 429 and full.headers["X-Shopify-Shop-Api-Call-Limit"] == "4/4"
    clock.now += 0.75  # 1.5 requests leaked: 2.5 in the bucket, then this one
    assert api.get("/v1/stores").headers["X-Shopify-Shop-Api-Call-Limit"] == "4/4"
    clock.now += 1.0
    assert api.get("/v1/stores").headers["X-Shopify-Shop-Api-Call-Limit"] == "3/4"
    settings = api.get("/v1/_admin/faults").json()["rate"]["leaky"]
    assert settings == {"limit": 4, "leak_per_s": 2, "headers": "shopify"}
    bad = api.put("/v1/_admin/faults", json={"rate": {"leaky": {
        "limit": 4, "leak_per_s": 2, "headers": "magento"}}})
    assert bad.status_code == 422 and "rate.leaky.headers" in bad.json()["error"]


def test_a_client_that_paces_to_the_leak_rate_is_never_throttled(
    api: httpx.Client, clock: ManualClock
) -> None:
    budgets(api, leaky={"limit": 10, "leak_per_s": 5})
    statuses = []
    for _ in range(100):
        statuses.append(api.get("/v1/stores").status_code)
        clock.now += 0.2
    assert statuses.count(429) == 0
    usage = api.get("/v1/_admin/rate").json()["leaky"]
    assert usage["used_ratio"] == pytest.approx(100 / (10 + 5 * 19.8))


def test_both_budgets_at_once_and_bad_settings(api: httpx.Client) -> None:
    budgets(api, fixed={"requests": 2, "window_s": 60}, leaky={"limit": 10, "leak_per_s": 1})
    statuses = [api.get("/v1/stores").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    report = api.get("/v1/_admin/rate").json()
    assert report["fixed"]["throttled"] == 1
    # A request the fixed window refused never reached the bucket.
    assert report["leaky"]["served"] == 2 and report["leaky"]["throttled"] == 0
    bad = api.put("/v1/_admin/faults", json={"rate": {"leaky": {"limit": 0, "leak_per_s": 1}}})
    assert bad.status_code == 422 and "rate.leaky" in bad.json()["error"]
    bad = api.put("/v1/_admin/faults", json={"rate": {"sliding": {}}})
    assert bad.status_code == 422


def test_budget_arithmetic() -> None:
    window = FixedWindow(2, 1.0, now=0.0)
    assert [window.take(0.1), window.take(0.2)] == [0.0, 0.0]
    assert window.take(0.25) == pytest.approx(0.75)
    assert window.take(3.5) == 0.0 and window.start == 3.0
    # The budget counts every window a request fell in, aligned where the budget was set.
    assert window.budget(0.5, 3.2) == 8 and window.budget(0.5, 0.9) == 2
    bucket = LeakyBucket(2, 1.0, now=0.0)
    assert bucket.take(0.0) == 0.0 and bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(1.0)
    assert bucket.take(1.0) == 0.0
