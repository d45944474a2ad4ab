"""Batch write throughput of the http sink vs a hand-written httpx loop, same server.

Run: pytest -m benchmark -s tests/integration/test_http_benchmark.py
Prints figures; does not pass or fail on time.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest

from connectors.api import WriteOp
from tests.support import http_testapp as t
from tests.support.loopback import serve_app

RECORDS = 40_000
BATCH = 1000
IN_FLIGHT = 4


def records() -> list[dict[str, Any]]:
    return [{"sku": f"SKU-{i:06d}", "qty": i % 50, "price": "19.99", "name": f"Item {i}"}
            for i in range(RECORDS)]


def run_sink(base: str, rows: list[dict[str, Any]]) -> float:
    sink = t.open_http_sink({
        "base_url": base, "max_in_flight": IN_FLIGHT, "idempotency_key": {},
        "upsert": {"path": "/bench/batch", "body": "{record}",
                   "batch": {"size": BATCH, "body": {"records": "{records}"},
                             "results": "data", "id_path": "id"}},
    })
    ops = [WriteOp("upsert", (r["sku"],), r, idempotency_key=r["sku"]) for r in rows]
    started = time.perf_counter()
    # the engine hands the sink a few batches' worth at a time
    for start in range(0, len(ops), BATCH * IN_FLIGHT):
        outcomes = sink.write(ops[start : start + BATCH * IN_FLIGHT])
        assert all(o.ok for o in outcomes)
    elapsed = time.perf_counter() - started
    sink.close()
    return elapsed


def run_plain(base: str, rows: list[dict[str, Any]]) -> float:
    client = httpx.Client()

    def post(chunk: list[dict[str, Any]]) -> int:
        response = client.post(f"{base}/bench/batch", content=orjson.dumps({"records": chunk}),
                               headers={"Content-Type": "application/json"})
        response.raise_for_status()
        return len(orjson.loads(response.content)["data"])

    started = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        done = sum(pool.map(post, [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]))
    elapsed = time.perf_counter() - started
    client.close()
    assert done == len(rows)
    return elapsed


@pytest.mark.benchmark
def test_batch_write_throughput() -> None:
    rows = records()
    with serve_app(t.make_app(t.ApiState())) as base:
        run_plain(base, rows[:2000])  # warm up both paths
        run_sink(base, rows[:2000])
        plain = min(run_plain(base, rows) for _ in range(3))
        sink = min(run_sink(base, rows) for _ in range(3))
    print(f"\nhttp batch write, {RECORDS} records, batches of {BATCH}, {IN_FLIGHT} in flight:")
    print(f"  hand-written httpx loop: {RECORDS / plain:>10,.0f} records/s")
    print(f"  http sink:               {RECORDS / sink:>10,.0f} records/s")
    print(f"  sink / hand-written:     {plain / sink:>10.2f}")
