"""The five jobs of pipelines/medusa against a live Medusa 2, with the reference ERP.

A :class:`MedusaWorld` is a reference ERP (a SQLite file from ``create_erp``), the session's
Medusa server, a SQLite state file, and ``pipelines/medusa`` loaded with the environment pointing
at those. Jobs run in-process through ``run_job``; what the tests compare is read back from
Medusa's admin API and with plain SQL from the ERP, never from the engine's own view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.engine import JobResult
from tests.support.erp_world import ErpWorld, erp_project, step

from .store import MedusaStore

__all__ = ["PIPELINES", "MedusaWorld", "expected_catalogue", "expected_stock", "medusa_world",
           "step", "written"]

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines" / "medusa"


@dataclass
class MedusaWorld(ErpWorld):
    store: MedusaStore
    http: httpx.Client  # admin API, authenticated with the secret key

    # -- Medusa, over its admin API --------------------------------------------------------------

    def all(self, path: str, records: str, **params: Any) -> list[dict[str, Any]]:
        """Every record of a Medusa listing (limit/offset paging)."""
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.http.get(path, params={**params, "limit": 200, "offset": offset})
            page.raise_for_status()
            body = page.json()
            out.extend(body[records])
            offset += len(body[records])
            if not body[records] or offset >= body["count"]:
                return out

    def products(self) -> dict[str, dict[str, Any]]:
        """Medusa products by external_id (the ERP item id), with variants and their prices."""
        rows = self.all("/admin/products", "products",
                        fields="id,external_id,title,status,*options,*variants,*variants.prices")
        return {p["external_id"]: p for p in rows}

    def counts(self) -> dict[str, int]:
        """How many of each object Medusa holds: what a rerun must not change."""
        def count(path: str, **params: Any) -> int:
            reply = self.http.get(path, params={"limit": 1, "fields": "id", **params})
            return int(reply.raise_for_status().json()["count"])

        levels = sum(len(i["location_levels"]) for i in self.all(
            "/admin/inventory-items", "inventory_items", fields="id,location_levels.id"))
        return {
            "products": count("/admin/products"),
            "variants": count("/admin/product-variants"),
            "inventory_items": count("/admin/inventory-items"),
            "location_levels": levels,
            "shipping_options": count("/admin/shipping-options"),
            "orders": count("/admin/orders"),
            "fulfillments": sum(len(o["fulfillments"]) for o in self.all(
                "/admin/orders", "orders", fields="id,fulfillments.id")),
        }

    def stock(self) -> dict[str, int]:
        """Stocked quantity per SKU at the pipelines' stock location."""
        out: dict[str, int] = {}
        for item in self.all("/admin/inventory-items", "inventory_items",
                             fields="id,sku,*location_levels"):
            for level in item["location_levels"]:
                if level["location_id"] == self.store.location_id:
                    out[item["sku"]] = int(level["stocked_quantity"])
        return out

    def order(self, order_id: str, fields: str) -> dict[str, Any]:
        reply = self.http.get(f"/admin/orders/{order_id}", params={"fields": fields})
        return dict(reply.raise_for_status().json()["order"])


@contextmanager
def medusa_world(root: Path, store: MedusaStore, *, products: int = 80) -> Iterator[MedusaWorld]:
    with erp_project(root, PIPELINES, store.env(), products=products) as (erp, project, path,
                                                                         state), \
            httpx.Client(base_url=store.url, auth=(store.api_key, ""), timeout=60) as http:
        world = MedusaWorld(root, erp, path, project, state, store, http)
        try:
            yield world
        finally:
            world.state.close()


def written(result: JobResult) -> dict[str, int]:
    """Records written per step: all zero on a rerun with nothing changed."""
    return {s.step: s.written for s in result.steps}


def expected_catalogue(world: MedusaWorld) -> dict[str, dict[str, float]]:
    """Item id -> {sku: price} for every product selected to sell online, computed from the ERP
    independently of the pipelines (an item without variants is sold under its own id)."""
    out: dict[str, dict[str, float]] = {
        item: {} for (item,) in world.erp("SELECT item_id FROM products WHERE sell_online = 1")
    }
    for item, sku, price in world.erp(
        "SELECT p.item_id, COALESCE(v.sku, p.item_id), p.list_price + COALESCE(v.price_delta, 0)"
        " FROM products p LEFT JOIN variants v ON v.item_id = p.item_id"
        " WHERE p.sell_online = 1"
    ):
        out[item][sku] = round(float(price), 2)
    return out


def expected_stock(world: MedusaWorld) -> dict[str, int]:
    rows = world.erp(
        "SELECT o.sku, SUM(o.physical - o.reserved) FROM on_hand o"
        " LEFT JOIN variants v ON v.sku = o.sku"
        " JOIN products p ON p.item_id = COALESCE(v.item_id, o.sku)"
        " WHERE p.sell_online = 1 GROUP BY o.sku"
    )
    return {sku: max(int(total), 0) for sku, total in rows}
