"""A whole world for robustness tests: the reference ERP (a SQLite file), the sandbox store on
real uvicorn over loopback in this process, a state store, and the CLI run as a subprocess
against them, so that a job can be SIGKILLed without taking the store down with it.

``World.verify_*`` compare the two sides after the fact: they read the ERP with sqlite3 and the
store through its public API, never through the code under test.
"""

from __future__ import annotations

import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from runner.demo.erp import create_erp, record_shipment
from runner.demo.sandbox import FaultConfig, create_app
from tests.support.loopback import serve_app

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
# The CLI behind the crash tests' hook (installed by the test side, see crashing_cli.py).
CLI = [sys.executable, str(Path(__file__).resolve().parents[1] / "support" / "crashing_cli.py")]
CRASH_ENV = "COMMERCE_SYNC_TEST_KILL_AFTER_WRITES"
API_KEY = "robustness-key-7f3c9a1e5d"


def soak() -> bool:
    """The full counts run with COMMERCE_SYNC_SOAK=1 (see tests/robustness/README.md)."""
    return os.environ.get("COMMERCE_SYNC_SOAK") == "1"


@dataclass
class Killed:
    """What one killed run tells: how it was killed and whether it really died by SIGKILL."""

    how: str
    returncode: int
    seconds: float = 0.0  # how long the process ran


class FaultCounter:
    """ASGI middleware outside the sandbox's gate: counts what the clients saw go wrong
    (500s, 429s, and responses whose body never came: the dropped connections)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith("/v1/_admin"):
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {}

        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                seen["done"] = True
            await send(message)

        await self.app(scope, receive, watch)
        status = seen.get("status")
        if not seen.get("done"):
            self.counts["dropped"] += 1
        elif status == 500:
            self.counts["500"] += 1
        elif status == 429:
            self.counts["429"] += 1
        self.counts["requests"] += 1


@dataclass
class World:
    tmp: Path
    url: str
    gate: Any  # the sandbox's Gate: set_faults at runtime
    counter: FaultCounter
    api_key: str = API_KEY
    state: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    kills: list[Killed] = field(default_factory=list)

    @property
    def erp(self) -> Path:
        return self.tmp / "erp.db"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMERCE_")}
        env.update(
            ERP_DATABASE_URL=f"sqlite:///{self.erp}",
            COMMERCE_URL=self.url,
            COMMERCE_API_KEY=self.api_key,
            COMMERCE_SYNC_STATE=self.state or str(self.tmp / "state.db"),
            COMMERCE_SYNC_PIPELINES=str(PIPELINES),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(extra)
        return env

    # -- running the CLI ---------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=self.env(**env), capture_output=True, text=True,
            timeout=timeout, cwd=self.tmp,
        )

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The CLI in this process (``runner.cli.main.main``), which spares the second or more
        a subprocess pays for imports; used for the runs nobody kills."""
        from runner.cli.main import main

        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        try:
            os.environ.clear()
            os.environ.update(self.env(**env))
            os.chdir(self.tmp)
            with redirect_stdout(out), redirect_stderr(err):
                code = main(list(args))
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
        return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, *args], env=self.env(**env), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=self.tmp,
        )

    def run_killed(self, args: list[str], rng: random.Random, *, max_delay: float,
                   hook_only: bool = False) -> Killed:
        """Run once and SIGKILL it at a random point: half the time by the engine's hook right
        after the Nth acknowledged write (before its commit), otherwise after a random delay
        (which lands in start-up, reading, writing or committing)."""
        started = time.monotonic()
        if hook_only or rng.random() < 0.5:
            nth = 1 if hook_only else rng.randint(1, 3)
            proc = self.popen(*args, **{CRASH_ENV: str(nth)})
            try:
                proc.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            how = f"after write {nth}"
        else:
            delay = rng.uniform(0.3, max(0.3, max_delay))
            proc = self.popen(*args)
            try:
                proc.communicate(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
            how = f"after {delay:.2f}s"
        killed = Killed(how, proc.returncode, time.monotonic() - started)
        self.kills.append(killed)
        return killed

    # -- the store, through its API ----------------------------------------------------------

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.api_key}, timeout=30)

    def faults(self, config: FaultConfig | None) -> None:
        self.gate.set_faults(config or FaultConfig())

    def small_retry_budget(self) -> None:
        """Run a copy of the pipelines whose store connection gives up after 3 quick attempts,
        so a test can exhaust the budget in seconds; the copy differs in nothing else."""
        folder = self.tmp / "pipelines-small-budget"
        folder.mkdir(exist_ok=True)
        shipped = "retry: {attempts: 8, backoff: 0.5s, max_backoff: 30s}"
        # The shared retry is project.yaml's defaults.errors.retry (pipeline language v2).
        assert shipped in (PIPELINES / "project.yaml").read_text()
        for path in PIPELINES.glob("*.yaml"):
            text = path.read_text().replace(
                shipped, "retry: {attempts: 3, backoff: 0.05s, max_backoff: 0.2s}")
            (folder / path.name).write_text(text)
        self.extra_env["COMMERCE_SYNC_PIPELINES"] = str(folder)

    def _pages(self, client: httpx.Client, path: str) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get(path, params=params).raise_for_status().json()
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def store_products(self) -> dict[str, dict[str, Any]]:
        with self.api() as client:
            return {p["sku"]: p for p in self._pages(client, "/v1/products")}

    def store_list(self, path: str) -> list[dict[str, Any]]:
        with self.api() as client:
            return list(self._pages(client, path))

    def place_orders(self, count: int, rng: random.Random) -> list[dict[str, Any]]:
        """Shoppers place ``count`` orders of 1-3 published SKUs each."""
        published = [p for p in self.store_products().values() if p["published"]]
        skus = [v["sku"] for p in published for v in p.get("variants") or []]
        skus += [p["sku"] for p in published if not p.get("variants")]
        assert skus, "the store has nothing for sale; sync the inventory first"
        placed = []
        with self.api() as client:
            modes = client.get("/v1/delivery-modes").raise_for_status().json()["data"]
            for i in range(count):
                lines = [{"sku": s, "quantity": rng.randint(1, 4)}
                         for s in rng.sample(skus, k=min(len(skus), rng.randint(1, 3)))]
                order = {
                    "store_id": "web-us",
                    "customer": {"email": f"shopper{i}@example.com", "name": f"Shopper {i}"},
                    "shipping_address": {"name": f"Shopper {i}", "line1": f"{i} Main St",
                                         "city": "Springfield", "region": "IL",
                                         "postal_code": "62701", "country": "US"},
                    "delivery_mode": rng.choice(modes)["code"],
                    "lines": lines,
                }
                reply = client.post("/v1/shop/orders", json=order)
                assert reply.status_code == 201, reply.text
                placed.append(reply.json())
        return placed

    def tamper_order(self, order_id: str, change: Any) -> None:
        """Edit an order's document in the sandbox's file, as a buggy store would serve it."""
        with sqlite3.connect(self.tmp / "sandbox.db") as conn:
            for row_n, body in conn.execute("SELECT n, body FROM orders").fetchall():
                doc = orjson.loads(body)
                if doc["id"] == order_id:
                    change(doc)
                    conn.execute("UPDATE orders SET body = ? WHERE n = ?",
                                 (orjson.dumps(doc), row_n))
                    return
        raise AssertionError(f"no order {order_id} in the sandbox")

    # -- the ERP -----------------------------------------------------------------------------

    def erp_query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.erp) as conn:
            return conn.execute(sql, params).fetchall()

    def ship_all(self, rng: random.Random) -> int:
        """The warehouse posts a packing slip for every imported order not yet shipped."""
        rows = self.erp_query(
            "SELECT sales_order_id FROM sales_orders WHERE store_order_id IS NOT NULL AND "
            "sales_order_id NOT IN (SELECT sales_order_id FROM shipments) ORDER BY 1")
        for (order_id,) in rows:
            record_shipment(self.erp, order_id, rng.choice(["FedEx", "USPS", "UPS"]),
                            f"TRK{order_id:06d}{rng.randint(100, 999)}")
        return len(rows)

    # -- verdicts ----------------------------------------------------------------------------

    def verify_inventory(self, *, complete: bool = True) -> dict[str, int]:
        """The store holds, published, exactly the ERP's products selected to sell online, with
        their titles and prices; nothing else is published; stock is what is available; and,
        after a complete sync, the ERP's delivery modes and trade agreements."""
        selected = {
            item: (name, Decimal(str(price)).quantize(Decimal("0.01")))
            for item, name, price in self.erp_query(
                "SELECT item_id, name, list_price FROM products WHERE sell_online = 1")
        }
        products = self.store_products()
        published = {s: p for s, p in products.items() if p["published"]}
        assert sorted(published) == sorted(selected), (
            f"published but not selected: {sorted(set(published) - set(selected))[:10]}, "
            f"selected but not published: {sorted(set(selected) - set(published))[:10]}")
        for sku, (name, price) in selected.items():
            got = published[sku]
            assert got["title"] == name, (sku, got["title"], name)
            assert Decimal(str(got["price"])).quantize(Decimal("0.01")) == price, (sku, got)
        variants = {
            item: sorted(v for (v,) in self.erp_query(
                "SELECT sku FROM variants WHERE item_id = ?", (item,)))
            for item in selected
        }
        for sku, skus in variants.items():
            assert sorted(v["sku"] for v in published[sku].get("variants") or []) == skus, sku
        available = {
            sku: max(int(a), 0) for sku, a in self.erp_query(
                "SELECT o.sku, SUM(o.physical - o.reserved) FROM on_hand o "
                "LEFT JOIN variants v ON v.sku = o.sku "
                "JOIN products p ON p.item_id = COALESCE(v.item_id, o.sku) "
                "WHERE p.sell_online = 1 GROUP BY o.sku")
        }
        stock = {r["sku"]: int(r["available"]) for r in self.store_list("/v1/inventory")}
        assert {s: stock.get(s) for s in available} == available
        if not complete:
            return {"products": len(published), "stock": len(available)}
        modes = {m["code"]: (m["description"], m["carrier"], m["service"])
                 for m in self.store_list("/v1/delivery-modes")}
        assert modes == {code: tuple(rest) for code, *rest in self.erp_query(
            "SELECT code, description, carrier, service FROM delivery_modes")}
        # Trade agreements: item lines of items sold online, group and all-item lines always.
        agreements = {str(i): a for i, a in self.erp_query(
            "SELECT t.id, t.amount FROM trade_agreements t LEFT JOIN products p ON "
            "t.item_code = 'item' AND p.item_id = t.item_relation "
            "WHERE t.item_code <> 'item' OR p.sell_online = 1")}
        prices = {str(r["id"]): r for r in self.store_list("/v1/prices")}
        assert sorted(prices) == sorted(agreements)
        for key, amount in agreements.items():
            got = prices[key].get("amount")
            if amount is None:
                assert got is None, (key, got)
            else:
                assert Decimal(str(got)).quantize(Decimal("0.01")) == \
                    Decimal(str(amount)).quantize(Decimal("0.01")), (key, got, amount)
        return {"products": len(published), "stock": len(available), "prices": len(prices)}

    def verify_orders(self, placed: list[dict[str, Any]]) -> int:
        """Every order placed in the store is exactly one ERP sales order with the right lines;
        no sales order has a header without lines."""
        rows = self.erp_query(
            "SELECT sales_order_id, store_order_id FROM sales_orders "
            "WHERE store_order_id IS NOT NULL")
        per_order = Counter(store_id for _, store_id in rows)
        dupes = {k: n for k, n in per_order.items() if n > 1}
        assert not dupes, f"orders imported more than once: {dupes}"
        assert sorted(per_order) == sorted(o["id"] for o in placed)
        ids = dict((store_id, so) for so, store_id in rows)
        for order in placed:
            lines = self.erp_query(
                "SELECT line_number, sku, quantity, unit_price FROM sales_order_lines "
                "WHERE sales_order_id = ? ORDER BY line_number", (ids[order["id"]],))
            want = [(ln["line_number"], ln["sku"], ln["quantity"],
                     Decimal(str(ln["unit_price"])).quantize(Decimal("0.01")))
                    for ln in order["lines"]]
            got = [(n, s, int(q), Decimal(str(p)).quantize(Decimal("0.01")))
                   for n, s, q, p in lines]
            assert got == want, (order["id"], got, want)
        headless = self.erp_query(
            "SELECT count(*) FROM sales_orders o WHERE NOT EXISTS "
            "(SELECT 1 FROM sales_order_lines l WHERE l.sales_order_id = o.sales_order_id)")
        assert headless == [(0,)], "a sales order without lines"
        return len(rows)

    def verify_shipments(self) -> int:
        """Every ERP shipment is in the store exactly once, on the right order."""
        erp = {
            tracking: store_order for tracking, store_order in self.erp_query(
                "SELECT s.tracking_number, o.store_order_id FROM shipments s "
                "JOIN sales_orders o ON o.sales_order_id = s.sales_order_id")
        }
        store = self.store_list("/v1/shipments")
        counts = Counter(s["tracking_number"] for s in store)
        dupes = {k: n for k, n in counts.items() if n > 1}
        assert not dupes, f"shipments uploaded more than once: {dupes}"
        assert {s["tracking_number"]: s["order_id"] for s in store} == erp
        return len(store)


@contextmanager
def world(tmp: Path, *, products: int = 40, seed: int = 7, api_key: str = API_KEY,
          state: str = "") -> Iterator[World]:
    """A fresh ERP (``products`` items, 30% sold online) and an empty sandbox store."""
    create_erp(tmp / "erp.db", products=products, seed=seed)
    app = create_app(str(tmp / "sandbox.db"), api_key)
    counter = FaultCounter(app)
    with ExitStack() as stack:
        url = stack.enter_context(serve_app(counter))
        yield World(tmp=tmp, url=url, gate=app, counter=counter, api_key=api_key, state=state)


def wait_until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
