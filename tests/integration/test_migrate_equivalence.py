"""The migrated shipped pipelines do what the v1 originals did, on the embedded default.

Two worlds (a reference ERP, the sandbox store on uvicorn over loopback, a state file each): one
runs the v1 originals kept in ``tests/fixtures/v1/pipelines``, the other those files after
``commerce-sync migrate``. The same story runs in both (the five jobs, an order placed in the
store, a shipment, a price change, the complete sync) and then the store (over HTTP) and the ERP
(with plain SQL) must hold the same contents.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from runner.cli.main import main
from runner.demo.erp import record_shipment
from tests.integration.jobs_harness import JobsWorld, jobs_world, store_snapshot

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1" / "pipelines"
# Columns a world invents on its own (store ids and clocks) differ between any two runs.
_VOLATILE = {"store_order_id", "modified_at", "created_at", "shipped_at", "ordered_at",
             "store_id", "store_fulfilment_id", "store_shipment_id", "id"}


def _erp(world: JobsWorld) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for table in ("sales_orders", "sales_order_lines", "online_stores", "shipments"):
        columns = [row[1] for row in world.erp(f"PRAGMA table_info({table})")]
        keep = [c for c in columns if c not in _VOLATILE]
        out[table] = sorted(world.erp(f"SELECT {', '.join(keep)} FROM {table}"), key=repr)
    return out


def _story(world: JobsWorld) -> dict[str, Any]:
    world.run("delivery-and-stores")
    world.run("inventory")
    world.run("trade-agreements")
    product = sorted(world.published().values(), key=lambda p: p["sku"])[0]
    skus = [v["sku"] for v in product["variants"][:2]] or [product["sku"]]
    world.place_order(skus, quantity=2)
    world.run("online-orders")
    order_id = world.erp("SELECT sales_order_id FROM sales_orders")[0][0]
    record_shipment(world.erp_path, order_id, "FedEx", "1Z-EQ-0001")
    world.erp("UPDATE products SET list_price = list_price + 1, modified_at = "
              "strftime('%Y-%m-%dT%H:%M:%f', 'now', '+1 second') WHERE item_id = ?",
              product["sku"])
    world.run("inventory")
    world.run("online-orders")
    world.run("complete-sync")
    orders = sorted((o["number"], o["status"]) for o in world.all("/v1/orders"))
    return {"store": store_snapshot(world), "orders": orders, "erp": _erp(world)}


def test_migrated_shipped_jobs_write_what_the_originals_wrote(tmp_path: Path) -> None:
    migrated = tmp_path / "v2"
    shutil.copytree(V1, migrated, ignore=shutil.ignore_patterns("medusa"))
    assert main(["migrate", str(migrated)]) == 0
    assert (migrated / "project.yaml").is_file()
    with jobs_world(tmp_path / "a", products=120, pipelines=V1) as original:
        assert all(job.version == 1 for job in original.project.jobs.values())
        before = _story(original)
    with jobs_world(tmp_path / "b", products=120, pipelines=migrated) as world:
        assert all(job.version == 2 for job in world.project.jobs.values())
        after = _story(world)
    assert before["store"]["products"] and before["erp"]["sales_order_lines"]
    assert before["erp"]["shipments"] and before["orders"]
    assert after == before
