"""The five Commerce Services jobs end to end on the embedded default (issue #5, "Done when").

Real parts only: the reference ERP in a SQLite file, the sandbox store on uvicorn over
loopback, a SQLite state file, and the project's own ``pipelines/``. Expected contents are
computed from the ERP with SQL of their own and compared with what the store serves over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.demo.erp import record_shipment, set_sell_online
from tests.integration.jobs_harness import (
    JobsWorld,
    expected_catalogue,
    expected_stock,
    jobs_world,
    step,
    store_snapshot,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobsWorld]:
    with jobs_world(tmp_path, products=300) as w:
        yield w


def _synced(world: JobsWorld) -> None:
    world.run("delivery-and-stores")
    world.run("inventory")


def _a_product_with_variants(world: JobsWorld) -> dict[str, object]:
    return next(p for p in world.published().values() if len(p["variants"]) >= 2)


def test_inventory_puts_exactly_the_sell_online_catalogue_in_the_store(tmp_path: Path) -> None:
    with jobs_world(tmp_path, products=1500) as world:
        _synced(world)
        want = expected_catalogue(world)
        got = world.products()

        assert set(got) == set(want)
        not_selected = {row[0] for row in world.erp(
            "SELECT item_id FROM products WHERE sell_online = 0")}
        assert not_selected and not (not_selected & set(got))
        assert sum(1 for w in want.values() if w["variants"]) > 10  # the data has variants
        for sku, expected in want.items():
            product = got[sku]
            assert product["published"] is True
            assert product["title"] == expected["title"]
            assert product["price"] == expected["price"], sku
            assert product["tax_group"] == expected["tax_group"]
            assert product["tax_rate"] == pytest.approx(expected["tax_rate"])
            assert product["dimension_group"] == expected["dimension_group"]
            variants = {v["sku"]: v["price"] for v in product["variants"]}
            assert variants == expected["variants"], sku

        stock = {r["sku"]: r["available"] for r in world.all("/v1/inventory")}
        assert stock == expected_stock(world)


def test_price_change_reaches_the_store_with_only_that_line_written(world: JobsWorld) -> None:
    _synced(world)
    world.run("trade-agreements")
    line_id, amount = world.erp(
        "SELECT t.id, t.amount FROM trade_agreements t JOIN products p"
        " ON p.item_id = t.item_relation WHERE t.relation = 'price' AND t.item_code = 'item'"
        " AND p.sell_online = 1 ORDER BY t.id LIMIT 1"
    )[0]
    before = {r["id"]: r for r in world.all("/v1/prices")}
    assert before[str(line_id)]["amount"] == pytest.approx(float(amount))

    # No modified_at in the UPDATE: the ERP's trigger stamps it, as a user's edit would.
    world.erp("UPDATE trade_agreements SET amount = ? WHERE id = ?", float(amount) + 7.5, line_id)
    prices = step(world.run("trade-agreements"), "prices")

    # The store's price request is an upsert: counted as such, not guessed as an update.
    assert (prices.written, prices.upserted, prices.created) == (1, 1, 0)
    after = {r["id"]: r for r in world.all("/v1/prices")}
    assert after[str(line_id)]["amount"] == pytest.approx(round(float(amount) + 7.5, 2))
    assert set(after) == set(before)
    for key, record in before.items():
        if key != str(line_id):
            assert after[key]["amount"] == record["amount"]


def test_store_order_becomes_one_sales_order_and_reruns_add_nothing(world: JobsWorld) -> None:
    _synced(world)
    product = _a_product_with_variants(world)
    skus = [v["sku"] for v in product["variants"][:2]]  # type: ignore[index]
    placed = world.place_order(skus, quantity=3)

    first = step(world.run("online-orders"), "download-orders")
    assert first.written == 1
    headers = world.erp("SELECT sales_order_id, store_order_number, total, status, modified_at"
                        " FROM sales_orders WHERE store_order_id = ?", placed["id"])
    assert len(headers) == 1
    order_id, number, total, status, stamped = headers[0]
    assert (number, float(total), status) == (placed["number"], placed["total"], "open")
    lines = world.erp("SELECT line_number, sku, quantity, unit_price FROM sales_order_lines"
                      " WHERE sales_order_id = ? ORDER BY line_number", order_id)
    assert [(n, s, int(q), float(p)) for n, s, q, p in lines] == [
        (ln["line_number"], ln["sku"], ln["quantity"], ln["unit_price"]) for ln in placed["lines"]
    ]

    world.run("online-orders")
    world.run("online-orders")
    assert world.erp("SELECT COUNT(*) FROM sales_orders") == [(1,)]
    assert world.erp("SELECT COUNT(*) FROM sales_order_lines") == [(len(placed["lines"]),)]

    # The shopper cancels in the store: the order comes down again, into the same sales order.
    world.http.patch(f"/v1/orders/{placed['id']}", json={"status": "cancelled"}).raise_for_status()
    again = step(world.run("online-orders"), "download-orders")
    assert again.read >= 1 and again.quarantined == 0
    rows = world.erp("SELECT sales_order_id, status, modified_at FROM sales_orders")
    assert len(rows) == 1 and rows[0][0] == order_id
    assert rows[0][1] == "cancelled"
    assert rows[0][2] > stamped
    assert world.erp("SELECT COUNT(*) FROM sales_order_lines WHERE sales_order_id = ?",
                     order_id) == [(len(placed["lines"]),)]


def test_shipment_reaches_the_store_once_and_status_follows(world: JobsWorld) -> None:
    _synced(world)
    sku = next(iter(world.published()))
    placed = world.place_order([sku])
    assert placed["status"] == "placed"

    world.run("online-orders")
    assert world.order(placed["id"])["status"] == "accepted"
    [(order_id,)] = world.erp("SELECT sales_order_id FROM sales_orders WHERE store_order_id = ?",
                              placed["id"])

    record_shipment(world.erp_path, order_id, "FedEx", "1Z-E2E-0001")
    shipped = step(world.run("online-orders"), "upload-shipments")
    assert shipped.written == 1
    for _ in range(2):
        assert step(world.run("online-orders"), "upload-shipments").written == 0
    shipments = world.http.get(f"/v1/orders/{placed['id']}/shipments").raise_for_status().json()
    assert [(s["carrier"], s["tracking_number"]) for s in shipments["data"]] == [
        ("FedEx", "1Z-E2E-0001")
    ]
    assert world.order(placed["id"])["status"] == "shipped"

    world.erp("UPDATE sales_orders SET status = 'invoiced' WHERE sales_order_id = ?", order_id)
    world.run("online-orders")
    assert world.order(placed["id"])["status"] == "delivered"
    assert len(world.http.get(f"/v1/orders/{placed['id']}/shipments").json()["data"]) == 1


def test_deselected_product_is_unpublished_by_the_complete_sync(world: JobsWorld) -> None:
    _synced(world)
    before = world.published()
    gone = sorted(before)[:2]
    assert set_sell_online(world.erp_path, gone, False) == 2

    world.run("complete-sync")

    after = world.products()
    assert [after[sku]["published"] for sku in gone] == [False, False]
    assert {sku for sku, p in after.items() if p["published"]} == set(before) - set(gone)


def test_complete_sync_restores_the_store_after_losing_store_and_state(world: JobsWorld) -> None:
    _synced(world)
    world.run("trade-agreements")
    world.run("online-orders")
    before = store_snapshot(world)
    assert all(before.values())

    world.http.post("/v1/_admin/reset").raise_for_status()
    assert not world.all("/v1/products")
    world.lose_state()

    world.run("complete-sync")

    assert store_snapshot(world) == before


def test_incremental_inventory_writes_only_what_changed(world: JobsWorld) -> None:
    _synced(world)
    again = world.run("inventory")
    assert [(s.step, s.written) for s in again.steps] == [("products", 0), ("stock", 0)]

    sku = sorted(world.published())[0]
    # A touch that changes nothing but the time is read again and found unchanged.
    world.erp("UPDATE products SET modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
              " WHERE item_id = ?", sku)
    touched = world.run("inventory")
    assert [(s.step, s.written) for s in touched.steps] == [("products", 0), ("stock", 0)]

    world.erp("UPDATE products SET name = name || ' (new)' WHERE item_id = ?", sku)
    changed = world.run("inventory")
    products = step(changed, "products")
    assert (products.written, products.upserted) == (1, 1)
    assert step(changed, "stock").written == 0
    assert world.products()[sku]["title"].endswith(" (new)")


def test_complete_sync_after_store_loss_sets_aside_shipments_of_lost_orders(
    world: JobsWorld,
) -> None:
    _synced(world)
    placed = world.place_order([next(iter(world.published()))])
    world.run("online-orders")
    [(order_id,)] = world.erp("SELECT sales_order_id FROM sales_orders")
    record_shipment(world.erp_path, order_id, "USPS", "9400-E2E")
    world.run("online-orders")

    world.http.post("/v1/_admin/reset").raise_for_status()
    world.lose_state()
    # The store's orders are gone with its data; the ERP's shipment of one cannot go anywhere.
    # That must not stop the catalogue from coming back; the run says it set one aside.
    result = world.run("complete-sync", expect="partial")

    shipments = step(result, "upload-shipments")
    assert (shipments.written, shipments.quarantined) == (0, 1)
    assert world.http.get(f"/v1/orders/{placed['id']}").status_code == 404
    assert set(world.published()) == set(expected_catalogue(world))


def test_new_selection_goes_out_with_the_next_incremental_run(world: JobsWorld) -> None:
    _synced(world)
    [(item,)] = world.erp("SELECT item_id FROM products WHERE sell_online = 0 ORDER BY item_id"
                          " LIMIT 1")
    assert item not in world.products()
    assert set_sell_online(world.erp_path, [item], True) == 1

    result = world.run("inventory")  # incremental: no complete sync needed, unlike AX

    assert step(result, "products").written == 1
    assert world.published()[item]["price"] == expected_catalogue(world)[item]["price"]
    stock = {r["sku"]: r["available"] for r in world.all("/v1/inventory")}
    assert stock == expected_stock(world)
