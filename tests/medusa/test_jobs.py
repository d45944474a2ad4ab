"""The five jobs of pipelines/medusa against a live Medusa 2 server and the reference ERP.

The tests share one Medusa (session) and one ERP/state (this module) and run in file order, as
a retailer would: delivery modes and stores, the catalogue and stock, prices, an order placed in
the store going down, its shipment going up, its final status, then a lost state store followed
by ordinary runs, SIGKILLs while products are created, and a product Medusa refuses. Each
checks Medusa's side over its admin API and the ERP's with SQL, and that a rerun writes nothing
and leaves Medusa's object counts as they were.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runner.demo.erp import record_shipment, set_sell_online
from runner.engine import run_job
from runner.state import open_state

from .store import MedusaStore, place_order
from .world import (
    PIPELINES,
    MedusaWorld,
    expected_catalogue,
    expected_stock,
    medusa_world,
    step,
    written,
)

# The first test also pays for the npm install (minutes on a fresh machine) and the server start.
pytestmark = [pytest.mark.medusa, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def world(medusa: MedusaStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedusaWorld]:
    with medusa_world(tmp_path_factory.mktemp("medusa-world"), medusa) as w:
        yield w


@pytest.fixture(scope="module")
def placed(world: MedusaWorld) -> dict[str, Any]:
    """One order placed through Medusa's store API: two SKUs, one of them a variant."""
    plain = world.erp("SELECT item_id FROM products WHERE sell_online = 1 AND item_id NOT IN"
                      " (SELECT item_id FROM variants) ORDER BY item_id LIMIT 1")[0][0]
    variant = world.erp("SELECT v.sku FROM variants v JOIN products p ON p.item_id = v.item_id"
                        " WHERE p.sell_online = 1 ORDER BY v.sku LIMIT 1")[0][0]
    return place_order(world.store, [plain, variant], quantity=2)


def assert_rerun_writes_nothing(world: MedusaWorld, job: str) -> None:
    before = world.counts()
    result = world.run(job)
    assert set(written(result).values()) == {0}, written(result)
    assert world.counts() == before


def test_delivery_modes_become_shipping_options_and_channels_come_down(world: MedusaWorld) -> None:
    result = world.run("delivery-and-stores")

    modes = dict(world.erp("SELECT code, description FROM delivery_modes"))
    options = world.all("/admin/shipping-options", "shipping_options", fields="id,name,type.code")
    assert {o["type"]["code"]: o["name"] for o in options} == modes
    assert len(options) == len(modes) == step(result, "delivery-modes").created == 5
    channels = world.all("/admin/sales-channels", "sales_channels", fields="id,name")
    assert world.erp("SELECT store_id, name FROM online_stores") == [
        (c["id"], c["name"]) for c in channels
    ]
    assert_rerun_writes_nothing(world, "delivery-and-stores")


def test_inventory_puts_the_selected_catalogue_with_variants_and_stock_in_medusa(
    world: MedusaWorld,
) -> None:
    world.run("inventory")

    expected = expected_catalogue(world)
    products = world.products()
    assert set(products) == set(expected)
    assert len(expected) == 21  # 80 demo products, seed 42: 21 sold online, 3 with variants
    assert sum(len(skus) for skus in expected.values()) == 24
    for item, skus in expected.items():
        variants = products[item]["variants"]
        assert {v["sku"]: v["prices"][0]["amount"] for v in variants} == skus, item
        assert products[item]["status"] == "published"
    with_variants = {item for item, skus in expected.items() if item not in skus}
    assert len(with_variants) == 3
    for item in with_variants:
        assert {o["title"] for o in products[item]["options"]} == {"Size", "Colour"}
    assert world.stock() == expected_stock(world)
    counts = world.counts()
    assert (counts["products"], counts["variants"], counts["location_levels"]) == (21, 24, 24)

    assert_rerun_writes_nothing(world, "inventory")


def test_medusa_finds_each_synced_object_by_its_natural_key(world: MedusaWorld) -> None:
    # The requests a `match:` (find before create) can use with Medusa 2.21, checked here so
    # that a Medusa upgrade that drops one fails this test rather than a retailer's run.
    item, sku = world.erp("SELECT v.item_id, v.sku FROM variants v JOIN products p"
                          " ON p.item_id = v.item_id WHERE p.sell_online = 1 LIMIT 1")[0]
    product_id = world.products()[item]["id"]

    def ids(path: str, records: str, **params: str) -> list[str]:
        reply = world.http.get(path, params={"fields": "id", **params}).raise_for_status()
        return [r["id"] for r in reply.json()[records]]

    assert ids("/admin/products", "products", external_id=item) == [product_id]
    assert ids("/admin/products", "products", handle=item.lower()) == [product_id]
    assert ids("/admin/products", "products", external_id="NO-SUCH-ITEM") == []
    # The products step's match asks for 50 external ids at once, the parameter repeated.
    others = sorted(world.products())[:3]
    reply = world.http.get("/admin/products", params=[
        *[("external_id", i) for i in [*others, "NO-SUCH-ITEM"]], ("fields", "id,external_id")])
    assert sorted(p["external_id"] for p in reply.raise_for_status().json()["products"]) == others
    (variant,) = ids("/admin/product-variants", "variants", sku=sku)
    assert variant in {v["id"] for v in world.products()[item]["variants"]}
    assert len(ids("/admin/inventory-items", "inventory_items", sku=sku)) == 1
    assert ids("/admin/product-variants", "variants", sku="NO-SUCH-SKU") == []


def test_an_erp_price_change_reaches_the_variant_and_a_rerun_sends_nothing(
    world: MedusaWorld,
) -> None:
    first = world.run("trade-agreements")
    assert step(first, "prices").written == 24  # the first run has no hashes to compare with
    sku, item = world.erp("SELECT v.sku, v.item_id FROM variants v JOIN products p"
                          " ON p.item_id = v.item_id WHERE p.sell_online = 1 LIMIT 1")[0]
    world.erp("UPDATE variants SET price_delta = price_delta + 5 WHERE sku = ?", sku)

    result = world.run("trade-agreements")

    assert step(result, "prices").written == 1
    prices = {v["sku"]: v["prices"] for v in world.products()[item]["variants"]}
    assert [p["amount"] for p in prices[sku]] == [expected_catalogue(world)[item][sku]]
    assert_rerun_writes_nothing(world, "trade-agreements")


def test_a_store_order_arrives_in_the_erp_as_a_sales_order_with_its_lines(
    world: MedusaWorld, placed: dict[str, Any]
) -> None:
    result = world.run("online-orders")

    # The ERP table is written by upsert (by store and order id), so the order counts as one.
    assert step(result, "download-orders").written == 1
    rows = world.erp("SELECT sales_order_id, store_id, store_order_number, customer_email,"
                     " delivery_city, delivery_country, currency, total, status"
                     " FROM sales_orders WHERE store_order_id = ?", placed["id"])
    assert len(rows) == 1
    order_id, channel, number, email, city, country, currency, total, status = rows[0]
    assert (channel, number, email) == (world.store.sales_channel_id,
                                        str(placed["display_id"]), "edda@example.com")
    assert (city, country, currency, status) == ("Austin", "US", "USD", "open")
    assert float(total) == pytest.approx(placed["total"])
    lines = world.erp("SELECT line_number, sku, quantity, unit_price FROM sales_order_lines"
                      " WHERE sales_order_id = ? ORDER BY line_number", order_id)
    medusa_items = world.order(placed["id"], "id,*items")["items"]
    assert sorted((sku, int(q), float(p)) for _, sku, q, p in lines) == sorted(
        (i["variant_sku"], int(i["quantity"]), float(i["unit_price"])) for i in medusa_items
    )
    assert [n for n, *_ in lines] == [1, 2]

    assert_rerun_writes_nothing(world, "online-orders")
    assert world.erp("SELECT COUNT(*) FROM sales_order_lines")[0][0] == 2


def test_an_erp_shipment_becomes_a_shipped_medusa_fulfilment(
    world: MedusaWorld, placed: dict[str, Any]
) -> None:
    (order_id,) = world.erp("SELECT sales_order_id FROM sales_orders WHERE store_order_id = ?",
                            placed["id"])[0]
    shipment = record_shipment(world.erp_path, order_id, "FedEx", "1Z999AA10123456784")

    result = world.run("online-orders")

    assert (step(result, "upload-fulfilments").created,
            step(result, "upload-shipments").written) == (1, 1)
    order = world.order(placed["id"], "id,fulfillment_status,fulfillments.id,"
                                      "fulfillments.shipped_at,fulfillments.metadata,"
                                      "*fulfillments.labels")
    assert order["fulfillment_status"] == "shipped"
    (fulfilment,) = order["fulfillments"]
    assert fulfilment["shipped_at"] is not None
    assert fulfilment["metadata"] == {"erp_shipment_id": str(shipment)}
    assert [label["tracking_number"] for label in fulfilment["labels"]] == ["1Z999AA10123456784"]

    assert_rerun_writes_nothing(world, "online-orders")


def test_an_invoiced_sales_order_completes_the_medusa_order(
    world: MedusaWorld, placed: dict[str, Any]
) -> None:
    world.erp("UPDATE sales_orders SET status = 'invoiced' WHERE store_order_id = ?",
              placed["id"])

    result = world.run("online-orders")

    assert step(result, "order-status").written == 1
    assert world.order(placed["id"], "id,status")["status"] == "completed"
    assert_rerun_writes_nothing(world, "online-orders")


def quarantined(world: MedusaWorld) -> dict[str, list[str]]:
    """What the state store holds in quarantine, per job/step: the reasons."""
    out: dict[str, list[str]] = {}
    for entry in world.state.quarantine_list():
        out.setdefault(f"{entry.job}/{entry.step}", []).append(entry.reason)
    return out


def test_after_a_lost_state_store_ordinary_runs_adopt_what_exists(
    world: MedusaWorld, placed: dict[str, Any]
) -> None:
    before = world.counts()
    assert before == {"products": 21, "variants": 24, "inventory_items": 24,
                      "location_levels": 24, "shipping_options": 5, "orders": 1,
                      "fulfillments": 1}
    catalogue = {item: {v["sku"]: v["id"] for v in p["variants"]}
                 for item, p in world.products().items()}
    options = {o["type"]["code"]: o["id"] for o in world.all(
        "/admin/shipping-options", "shipping_options", fields="id,type.code")}
    (fulfilment_id,) = [f["id"] for f in world.order(placed["id"], "id,fulfillments.id")
                        ["fulfillments"]]
    world.lose_state()

    # Ordinary runs, as the schedule starts them (no complete sync first): every create is
    # matched against Medusa before it is sent (`match: when: always`), so what exists is
    # adopted and updated. Before `match`, the shipping options were created again (5 -> 10),
    # the products waited in quarantine and the fulfilment was never linked again.
    delivery = step(world.run("delivery-and-stores"), "delivery-modes")
    assert (delivery.created, delivery.updated, delivery.quarantined) == (0, 5, 0)
    products = step(world.run("inventory"), "products")
    assert (products.created, products.updated, products.quarantined) == (0, 21, 0)
    orders = world.run("online-orders")
    fulfilments = step(orders, "upload-fulfilments")
    assert (fulfilments.created, fulfilments.updated, fulfilments.quarantined) == (0, 1, 0)
    assert step(orders, "upload-shipments").quarantined == 0

    assert world.counts() == before
    assert {item: {v["sku"]: v["id"] for v in p["variants"]}
            for item, p in world.products().items()} == catalogue
    assert {o["type"]["code"]: o["id"] for o in world.all(
        "/admin/shipping-options", "shipping_options", fields="id,type.code")} == options
    assert world.state.keymap_get("online-orders", "fulfilments", [(str(s),) for (s,) in
                                  world.erp("SELECT shipment_id FROM shipments")]) == {
        (str(s),): fulfilment_id for (s,) in world.erp("SELECT shipment_id FROM shipments")}
    assert quarantined(world) == {}
    assert world.erp("SELECT COUNT(*) FROM sales_orders")[0][0] == 1
    assert world.erp("SELECT COUNT(*) FROM sales_order_lines")[0][0] == 2

    # The complete sync afterwards (its `list` requests relearn every key map) changes nothing
    # in Medusa's counts and leaves nothing in quarantine.
    result = world.run("complete-sync")

    assert world.counts() == before
    assert (step(result, "products").created, step(result, "products").updated) == (0, 21)
    assert (step(result, "delivery-modes").created,
            step(result, "delivery-modes").updated) == (0, 5)
    assert step(result, "upload-fulfilments").created == 0
    assert quarantined(world) == {}
    assert world.stock() == expected_stock(world)
    print(f"\nmedusa after a lost state store: Medusa {world.counts()}; ERP "
          f"{len(expected_catalogue(world))} products sold online, "
          f"{len(world.erp('SELECT code FROM delivery_modes'))} delivery modes, "
          f"{world.erp('SELECT COUNT(*) FROM shipments')[0][0]} shipment, "
          f"{world.erp('SELECT COUNT(*) FROM sales_orders')[0][0]} sales order")


KILL_AT = (5, 20, 35)  # new products Medusa holds when each successive run is killed


def _run_and_kill(world: MedusaWorld, cli: list[str], env: dict[str, str], at: int) -> None:
    """Run the CLI until Medusa holds ``at`` products, then SIGKILL it."""
    process = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while world.counts()["products"] < at:
            assert process.poll() is None, f"the run ended before Medusa held {at} products"
            assert time.monotonic() < deadline, f"Medusa did not reach {at} products in 300 s"
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    time.sleep(2)  # a create in flight when the client died still completes in Medusa


def test_sigkills_while_creating_products_leave_no_duplicate_and_nothing_missing(
    world: MedusaWorld,
) -> None:
    # AX's case for the complete sync: more products selected to sell online. The inventory
    # job runs as the CLI does and is killed several times, each time once Medusa holds more of
    # the new products but before the run committed them (one batch of 59 commits at its end),
    # so each next run starts with write-ahead intents for creates Medusa may hold. It matches
    # them by external_id before sending anything again: this does not rely on Medusa refusing
    # a taken handle (a refusal would quarantine the record; the test requires none).
    new = [i for (i,) in world.erp("SELECT item_id FROM products WHERE sell_online = 0")]
    assert len(new) == 59
    set_sell_online(world.erp_path, new, True)
    before = world.counts()["products"]
    world.state.close()
    env = {**os.environ, "ERP_DATABASE_URL": f"sqlite:///{world.erp_path}",
           **world.store.env()}
    cli = [sys.executable, "-m", "runner", "run", "inventory", "--pipelines", str(PIPELINES),
           "--state", str(world.state_path)]
    held = []
    for at in KILL_AT:
        _run_and_kill(world, cli, env, before + at)
        held.append(world.counts()["products"] - before)
    made_before_kill = held[-1]
    assert KILL_AT[-1] <= made_before_kill < 59
    world.state = open_state(f"sqlite:///{world.state_path}")
    # The last killed run left intents for the creates it sent (Medusa may still finish a
    # request whose client was killed, so how many it holds is only known by asking it).
    assert 0 < len(world.state.intents_pending("inventory", "products")) <= 59

    again = step(world.run("inventory"), "products")

    listed = world.all("/admin/products", "products", fields="id,external_id")
    assert len(listed) == len({p["external_id"] for p in listed}) == before + 59
    assert set(world.products()) == set(expected_catalogue(world))
    # Everything Medusa held was adopted (at least what it held when the last run was killed),
    # the rest created once; nothing refused, so no handle collision did the work.
    assert again.created + again.updated == 59 and again.quarantined == 0
    assert again.updated >= made_before_kill
    assert world.state.intents_pending("inventory", "products") == {}
    assert quarantined(world) == {}
    print(f"\nmedusa sigkill: {len(KILL_AT)} kills survived, new products held after each: "
          f"{held} of 59; the next run adopted {again.updated}, created {again.created}; "
          f"Medusa {len(listed)} products, {len(listed)} distinct external ids")
    assert set(written(world.run("inventory")).values()) == {0}
    world.run("complete-sync")
    assert world.counts()["products"] == before + 59


def test_a_product_medusa_refused_leaves_quarantine_once_it_is_adopted(
    world: MedusaWorld,
) -> None:
    # A product Medusa refuses: its handle is taken by a product made by hand, which the match
    # (by external_id) cannot find. It waits in quarantine; once a person gives the hand-made
    # product the ERP's external id, the next ordinary run adopts it, and the write releases
    # the quarantine entry (nothing left for `quarantine retry`).
    item = "HANDMADE-1"
    columns = [row[1] for row in world.erp("PRAGMA table_info(products)")]
    values = ", ".join("?" if c == "item_id" else c for c in columns)
    world.erp(f"INSERT INTO products ({', '.join(columns)}) SELECT {values} FROM products"
              " WHERE sell_online = 1 AND item_id NOT IN (SELECT item_id FROM variants)"
              " ORDER BY item_id LIMIT 1", item)
    world.erp("UPDATE products SET name = 'Hand-made' WHERE item_id = ?", item)  # stamps it
    made = world.http.post("/admin/products", params={"fields": "id"}, json={
        "title": "Made by hand", "handle": item.lower(), "status": "draft",
        "options": [{"title": "Default option", "values": ["Default"]}],
        "variants": [{"title": "Default", "options": {"Default option": "Default"},
                      "prices": [{"currency_code": "usd", "amount": 1}]}],
    }).raise_for_status().json()["product"]["id"]
    before = world.counts()

    refused = run_job(world.project.job("inventory"), project=world.project, state=world.state)

    assert refused.status == "partial"
    assert (step(refused, "products").created, step(refused, "products").quarantined) == (0, 1)
    (entry,) = world.state.quarantine_list("inventory")
    assert entry.key == (item,) and "already exists" in entry.reason
    assert world.counts() == before
    world.http.post(f"/admin/products/{made}", json={"external_id": item}).raise_for_status()

    adopted = step(world.run("inventory"), "products")

    assert (adopted.created, adopted.updated, adopted.quarantined) == (0, 1, 0)
    assert world.state.quarantine_list("inventory") == []
    assert world.products()[item]["id"] == made
    assert world.products()[item]["title"] == "Hand-made"
    assert world.counts() == before
