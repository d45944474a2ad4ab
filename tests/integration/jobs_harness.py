"""The five Commerce Services jobs on the embedded default, wired for end-to-end tests.

One :class:`JobsWorld` is a reference ERP (a SQLite file from ``create_erp``), the sandbox store
served by real uvicorn over loopback, a SQLite state file, and the project's own ``pipelines/``
loaded with the environment pointing at those. Jobs run in-process through ``run_job``; what
the tests compare is read back over HTTP from the store and with plain SQL from the ERP, so an
assertion never trusts the engine's own view of what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.demo.sandbox import create_app
from tests.support.erp_world import ErpWorld, erp_project, step
from tests.support.loopback import serve_app

__all__ = ["API_KEY", "PIPELINES", "JobsWorld", "expected_catalogue", "jobs_world", "step",
           "store_snapshot"]

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
API_KEY = "e2e-sandbox-key"


@dataclass
class JobsWorld(ErpWorld):
    store_url: str
    http: httpx.Client

    # -- the store, over HTTP --------------------------------------------------------------------

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a listing, following the cursor pagination."""
        out: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 1000, **params}
        while True:
            page = self.http.get(path, params=query).raise_for_status().json()
            out.extend(page["data"])
            if not page.get("next_cursor"):
                return out
            query["cursor"] = page["next_cursor"]

    def products(self) -> dict[str, dict[str, Any]]:
        return {p["sku"]: p for p in self.all("/v1/products")}

    def published(self) -> dict[str, dict[str, Any]]:
        return {sku: p for sku, p in self.products().items() if p["published"]}

    def place_order(self, skus: list[str], quantity: int = 2) -> dict[str, Any]:
        """Place a shopper's order for ``skus`` as the storefront would."""
        mode = self.all("/v1/delivery-modes")[0]["code"]
        stores = self.http.get("/v1/stores").raise_for_status().json()["data"]
        shop = next(s["id"] for s in stores if s["currency"] == "USD")
        body = {
            "store_id": shop,
            "customer": {"email": "e2e@example.com", "name": "Edda Tester"},
            "shipping_address": {"name": "Edda Tester", "line1": "2 Side St", "city": "Austin",
                                 "region": "TX", "postal_code": "73301", "country": "US"},
            "delivery_mode": mode,
            "lines": [{"sku": sku, "quantity": quantity} for sku in skus],
        }
        reply = self.http.post("/v1/shop/orders", json=body)
        assert reply.status_code in (200, 201), reply.text
        return dict(reply.json())

    def order(self, order_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"/v1/orders/{order_id}").raise_for_status().json())


@contextmanager
def jobs_world(root: Path, *, products: int = 300,
               pipelines: Path = PIPELINES) -> Iterator[JobsWorld]:
    app = create_app(str(root / "sandbox.db"), API_KEY)
    with serve_app(app) as url:
        env = {"COMMERCE_URL": url, "COMMERCE_API_KEY": API_KEY}
        with erp_project(root, pipelines, env, products=products) as (erp, project, path, state), \
                httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30) as http:
            world = JobsWorld(root, erp, path, project, state, url, http)
            try:
                yield world
            finally:
                world.state.close()


def expected_catalogue(world: JobsWorld) -> dict[str, dict[str, Any]]:
    """What the store should hold after inventory, computed from the ERP independently of the
    pipeline: every product selected to sell online, with its variants (and their prices),
    tax group and rate, and price."""
    rows = world.erp(
        "SELECT p.item_id, p.name, p.list_price, p.tax_group_code, t.rate,"
        " p.dimension_group_code FROM products p"
        " JOIN item_tax_groups t ON t.code = p.tax_group_code WHERE p.sell_online = 1"
    )
    out = {
        item: {"title": name, "price": round(float(price), 2), "tax_group": group,
               "tax_rate": float(rate), "dimension_group": dim, "variants": {}}
        for item, name, price, group, rate, dim in rows
    }
    for item, sku, price in world.erp(
        "SELECT v.item_id, v.sku, p.list_price + v.price_delta FROM variants v"
        " JOIN products p ON p.item_id = v.item_id WHERE p.sell_online = 1"
    ):
        out[item]["variants"][sku] = round(float(price), 2)
    return out


def expected_stock(world: JobsWorld) -> dict[str, int]:
    """Available to sell per sku of a selected product: sum(physical - reserved), at least 0."""
    rows = world.erp(
        "SELECT o.sku, SUM(o.physical - o.reserved) FROM on_hand o"
        " LEFT JOIN variants v ON v.sku = o.sku"
        " JOIN products p ON p.item_id = COALESCE(v.item_id, o.sku)"
        " WHERE p.sell_online = 1 GROUP BY o.sku"
    )
    return {sku: max(int(total), 0) for sku, total in rows}


def store_snapshot(world: JobsWorld) -> dict[str, Any]:
    """The store's contents that the ERP owns, in a form two snapshots can be compared by."""

    def strip(record: dict[str, Any], *drop: str) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted((k, repr(v)) for k, v in record.items() if k not in drop))

    volatile = ("id", "created_at", "updated_at")
    return {
        "products": {p["sku"]: strip(p, *volatile) for p in world.all("/v1/products")},
        "inventory": {r["sku"]: r["available"] for r in world.all("/v1/inventory")},
        "prices": {str(r["id"] if "key" not in r else r["key"]): strip(r, *volatile)
                   for r in world.all("/v1/prices")},
        "delivery_modes": {r["code"]: strip(r, *volatile) for r in world.all("/v1/delivery-modes")},
    }
