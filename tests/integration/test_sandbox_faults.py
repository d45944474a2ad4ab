"""Rate limit and fault injection of the sandbox store, seen by a real client over loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.demo.sandbox import FaultConfig, create_app
from runner.demo.sandbox.faults import TokenBucket
from tests.support.loopback import serve_app

KEY = "fault-key-1"
HEADERS = {"X-API-Key": KEY}


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with serve_app(create_app(str(tmp_path / "s.db"), KEY)) as base:
        yield base


def _faults(url: str, body: dict[str, object]) -> httpx.Response:
    response = httpx.put(f"{url}/v1/_admin/faults", json=body, headers=HEADERS)
    response.raise_for_status()
    return response


def test_token_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(2.0, now=0.0)
    assert bucket.take(0.0) == 0.0 and bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0


def test_past_the_rate_limit_is_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "s.db"), KEY, rate_limit=2)
    with serve_app(app) as base, httpx.Client(base_url=base, headers=HEADERS) as client:
        statuses = [client.get("/v1/stores").status_code for _ in range(6)]
        limited = client.get("/v1/stores")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["retry_after"] == int(limited.headers["Retry-After"])
        # Admin calls are never limited, so a test can always reach them.
        assert client.get("/v1/_admin/stats").status_code == 200
        time.sleep(0.6)
        assert client.get("/v1/stores").status_code == 200
    assert statuses[:2] == [200, 200]
    assert 429 in statuses


def test_error_rate_gives_500s_at_about_that_rate(url: str) -> None:
    _faults(url, {"error_rate": 0.3, "seed": 11})
    with httpx.Client(base_url=url, headers=HEADERS) as client:
        statuses = [client.get("/v1/stores").status_code for _ in range(100)]
    assert set(statuses) == {200, 500}
    assert 15 <= statuses.count(500) <= 45
    # The same seed gives the same sequence.
    _faults(url, {"error_rate": 0.3, "seed": 11})
    with httpx.Client(base_url=url, headers=HEADERS) as client:
        assert [client.get("/v1/stores").status_code for _ in range(100)] == statuses


def test_latency_is_added(url: str) -> None:
    _faults(url, {"latency_ms": 150})
    started = time.perf_counter()
    assert httpx.get(f"{url}/v1/stores", headers=HEADERS).status_code == 200
    assert time.perf_counter() - started >= 0.15
    assert httpx.get(f"{url}/v1/_admin/faults", headers=HEADERS).json()["latency_ms"] == 150


def test_burst_429_comes_in_waves(url: str) -> None:
    _faults(url, {"burst_429": {"every": 4, "length": 2, "retry_after": 3}})
    with httpx.Client(base_url=url, headers=HEADERS) as client:
        responses = [client.get("/v1/stores") for _ in range(8)]
    assert [r.status_code for r in responses] == [200, 200, 429, 429] * 2
    assert responses[2].headers["Retry-After"] == "3"


def test_dropped_connection_after_processing_is_seen_as_a_protocol_error(url: str) -> None:
    _faults(url, {"drop_rate": 1.0, "drop_phase": "after"})
    record = {"sku": "D1", "title": "Dropped", "price": 1}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{url}/v1/products/batch", json={"records": [record]},
                   headers={**HEADERS, "Idempotency-Key": "drop-1"})  # fmt: skip
    _faults(url, {})
    # The work was done; the retry with the same key gets the first answer, not a duplicate.
    retry = httpx.post(f"{url}/v1/products/batch", json={"records": [record]},
                       headers={**HEADERS, "Idempotency-Key": "drop-1"})  # fmt: skip
    assert retry.json()["data"][0]["status"] == "created"
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert httpx.get(f"{url}/v1/_admin/stats", headers=HEADERS).json()["products"] == 1


def test_dropped_connection_before_processing_does_nothing(url: str) -> None:
    _faults(url, {"drop_rate": 1.0, "drop_phase": "before"})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{url}/v1/products/batch", headers=HEADERS,
                   json={"records": [{"sku": "D2", "title": "x", "price": 1}]})  # fmt: skip
    _faults(url, {})
    assert httpx.get(f"{url}/v1/_admin/stats", headers=HEADERS).json()["products"] == 0


def test_faults_at_startup_and_bad_fault_settings(tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "s.db"), KEY, faults=FaultConfig(error_rate=1.0))
    with serve_app(app) as base:
        assert httpx.get(f"{base}/v1/stores", headers=HEADERS).status_code == 500
        assert httpx.get(f"{base}/healthz").status_code == 200
        refused = httpx.put(f"{base}/v1/_admin/faults", json={"error_rate": 2}, headers=HEADERS)
        assert refused.status_code == 422
        assert "between 0 and 1" in refused.json()["error"]
