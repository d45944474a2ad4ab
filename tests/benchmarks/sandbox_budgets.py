"""How much of each sandbox rate budget two simple clients use, as the store reports it
(``GET /v1/_admin/rate``): the figures a pacing client (issue 16) is measured against.

    .venv/bin/python tests/benchmarks/sandbox_budgets.py [--seconds 3]

- ``eager``: sends one request after another and ignores every signal (429s are retried at once).
- ``retry-after``: waits what the store says after a refusal (``Retry-After``, or for the GraphQL
  cost budget the time ``throttleStatus`` needs to restore the query's cost), nothing before.

Neither looks ahead at ``X-RateLimit-Remaining`` or ``currentlyAvailable``: that is the runner's
job, and it should beat both (target: >= 90% of the budget used, <= 2% throttled).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runner.demo.sandbox import create_app  # noqa: E402
from tests.support.loopback import serve_app  # noqa: E402

KEY = "budget-bench"
QUERY = {"query": "{ products(first: 20) { nodes { sku } } }"}  # costs 22, all 20 come back
BUDGETS: dict[str, dict[str, Any]] = {
    "fixed": {"requests": 40, "window_s": 1.0},
    "leaky": {"limit": 20, "leak_per_s": 40.0},
    "cost": {"maximum": 200, "restore_per_s": 440.0},  # ~20 queries/s
}


def _wait_rest(response: httpx.Response) -> float:
    return float(response.headers.get("Retry-After", 0)) if response.status_code == 429 else 0.0


def _wait_graphql(response: httpx.Response) -> float:
    body = response.json()
    if not body.get("errors"):
        return 0.0
    cost = body["extensions"]["cost"]
    status = cost["throttleStatus"]
    missing = cost["requestedQueryCost"] - status["currentlyAvailable"]
    return max(0.0, missing / status["restoreRate"])


def _drive(client: httpx.Client, budget: str, seconds: float, *, obey: bool) -> None:
    send: Callable[[], httpx.Response]
    if budget == "cost":

        def send() -> httpx.Response:
            return client.post("/graphql", json=QUERY)

        wait = _wait_graphql
    else:

        def send() -> httpx.Response:
            return client.get("/v1/stores")

        wait = _wait_rest
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = send()
        pause = wait(response)
        if obey and pause:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per client and budget")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        app = create_app(str(Path(work) / "s.db"), KEY)
        with serve_app(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": KEY}) as c:
            records = [{"sku": f"B{i}", "title": "B", "price": 1} for i in range(50)]
            c.post("/v1/products/batch", json={"records": records}).raise_for_status()
            for budget, settings in BUDGETS.items():
                for name, obey in (("eager", False), ("retry-after", True)):
                    c.put("/v1/_admin/faults", json={"rate": {budget: settings}})
                    _drive(c, budget, args.seconds, obey=obey)
                    usage = c.get("/v1/_admin/rate").json()[budget]
                    rows.append((budget, name, usage))
            c.put("/v1/_admin/faults", json={})
    print("| budget | client | requests | throttled | budget used |")
    print("|---|---|---|---|---|")
    for budget, name, usage in rows:
        requests = usage["served"] + usage["throttled"]
        print(
            f"| {budget} {BUDGETS[budget]} | {name} | {requests:,} | "
            f"{usage['throttled_ratio']:.1%} | {usage['used_ratio']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
