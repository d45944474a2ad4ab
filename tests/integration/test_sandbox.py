"""The sandbox store over real uvicorn on loopback: catalogue, orders, idempotency, persistence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.demo.sandbox import create_app, storage
from tests.support.loopback import serve_app

KEY = "test-key-123"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "sandbox.db"


@pytest.fixture
def api(data: Path) -> Iterator[httpx.Client]:
    with (
        serve_app(create_app(str(data), KEY)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as client,
    ):
        yield client


def product(sku: str, price: float = 10.0, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": price, "tax_rate": 0.1, **extra}


def seed_catalogue(api: httpx.Client) -> None:
    api.post("/v1/delivery-modes/batch", json={"records": [
        {"code": "FEDEX-GND", "description": "FedEx Ground", "carrier": "FedEx",
         "service": "Ground"},
    ]}).raise_for_status()  # fmt: skip
    api.post("/v1/products/batch", json={"records": [
        product("A1", 10.0),
        product("B2", 5.5, variants=[{"sku": "B2-S", "size": "S", "price": 6.0},
                                     {"sku": "B2-M", "size": "M"}]),
        product("OFF", 1.0, published=False),
    ]}).raise_for_status()  # fmt: skip


def place(api: httpx.Client, lines: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return api.post(
        "/v1/shop/orders",
        headers=headers,
        json={
            "store_id": "web-us",
            "customer": {"email": "ana@example.com", "name": "Ana Smith"},
            "shipping_address": {"line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US"},
            "delivery_mode": "FEDEX-GND",
            "lines": lines,
        },
    )  # fmt: skip


def test_health_needs_no_key_but_the_api_does(api: httpx.Client) -> None:
    assert api.get("/healthz", headers={"X-API-Key": ""}).json() == {"status": "ok"}
    refused = httpx.get(api.base_url.join("/v1/products"))
    assert refused.status_code == 401
    assert "API key" in refused.json()["error"]
    wrong = httpx.get(api.base_url.join("/v1/products"), headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    bearer = httpx.get(
        api.base_url.join("/v1/products"), headers={"Authorization": f"Bearer {KEY}"}
    )
    assert bearer.status_code == 200


def test_batch_upsert_reports_created_updated_unchanged(api: httpx.Client, data: Path) -> None:
    first = api.post("/v1/products/batch", json={"records": [product("A1"), product("A2")]})
    assert [r["status"] for r in first.json()["data"]] == ["created", "created"]
    ids = [r["id"] for r in first.json()["data"]]
    assert ids == ["prd_000001", "prd_000002"]
    second = api.post(
        "/v1/products/batch", json={"records": [product("A1"), product("A2", price="12.50")]}
    )
    assert [(r["sku"], r["id"], r["status"]) for r in second.json()["data"]] == [
        ("A1", ids[0], "unchanged"),
        ("A2", ids[1], "updated"),
    ]
    stored = storage.product_by_sku(data, "A2")
    assert stored is not None and stored["price"] == 12.5 and stored["id"] == ids[1]
    assert api.get(f"/v1/products/{ids[1]}").json()["updated_at"] == stored["updated_at"]


def test_batch_reports_bad_records_one_by_one(api: httpx.Client) -> None:
    response = api.post("/v1/products/batch", json={"records": [
        product("OK1"),
        {"sku": "BAD1", "title": "No price"},
        product("BAD2", price=-1),
        {"sku": "BAD3", "title": "x", "price": 1, "colour": "red"},
        product("OK2"),
    ]})  # fmt: skip
    assert response.status_code == 200
    results = response.json()["data"]
    assert [r.get("status") for r in results] == ["created", None, None, None, "created"]
    assert results[1] == {"sku": "BAD1", "error": "records[1]: price is required"}
    assert "at least 0" in results[2]["error"]
    assert "unknown field(s) colour" in results[3]["error"]
    assert api.get("/v1/_admin/stats").json()["products"] == 2


def test_pagination_walks_every_product_once(api: httpx.Client) -> None:
    records = [product(f"P{i:04d}") for i in range(257)]
    api.post("/v1/products/batch", json={"records": records}).raise_for_status()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/products", params=params).json()
        seen += [p["sku"] for p in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["sku"] for r in records]
    assert pages == 6
    by_sku = api.get("/v1/products", params={"sku": "P0100"}).json()["data"]
    assert [p["sku"] for p in by_sku] == ["P0100"]
    assert api.get("/v1/products", params={"limit": 0}).status_code == 422


def test_single_product_create_put_delete_unpublish(api: httpx.Client) -> None:
    created = api.post("/v1/products", json=product("S1"))
    assert created.status_code == 201
    ident = created.json()["id"]
    assert api.post("/v1/products", json=product("S1")).status_code == 409
    changed = api.put(f"/v1/products/{ident}", json=product("S1", price=99))
    assert changed.json()["price"] == 99
    assert api.put(f"/v1/products/{ident}", json=product("S2")).status_code == 422
    assert api.post(f"/v1/products/{ident}/unpublish").json()["published"] is False
    many = api.post("/v1/products/unpublish", json={"skus": ["S1", "NOPE"]}).json()["data"]
    assert many[0]["status"] == "unchanged" and "error" in many[1]
    assert api.delete(f"/v1/products/{ident}").status_code == 204
    assert api.get(f"/v1/products/{ident}").status_code == 404


def test_inventory_prices_delivery_modes_and_stores(api: httpx.Client) -> None:
    inv = api.post("/v1/inventory/batch", json={"records": [
        {"sku": "A1", "available": 5}, {"sku": "A1", "available": 2, "warehouse": "WH-WEST"},
        {"sku": "A2", "available": 1.5},
    ]}).json()["data"]  # fmt: skip
    assert [r.get("status") for r in inv] == ["created", "created", None]
    again = api.post("/v1/inventory/batch", json={"records": [{"sku": "A1", "available": 4}]})
    assert again.json()["data"][0]["status"] == "updated"
    listed = api.get("/v1/inventory").json()["data"]
    assert [(r["sku"], r["warehouse"], r["available"]) for r in listed] == [
        ("A1", "", 4), ("A1", "WH-WEST", 2)
    ]  # fmt: skip
    prices = api.post("/v1/prices/batch", json={"records": [
        {"id": 7, "relation": "price", "sku": "A1", "customer_group": "WHOLESALE",
         "quantity_from": 10, "amount": 9.0, "valid_from": "2025-01-01"},
        {"id": "8", "relation": "line_discount", "item_group": "Audio", "percent": 10},
        {"id": "9", "relation": "price", "sku": "A1", "all": True, "amount": 1},
    ]}).json()["data"]  # fmt: skip
    assert [p.get("status") for p in prices] == ["created", "created", None]
    assert "exactly one of" in prices[2]["error"]
    assert api.delete("/v1/prices/8").status_code == 204
    assert [p["id"] for p in api.get("/v1/prices").json()["data"]] == ["7"]
    assert api.delete("/v1/prices/8").status_code == 404
    modes = api.post("/v1/delivery-modes/batch", json={"records": [
        {"code": "UPS", "description": "UPS Ground"}]}).json()["data"]  # fmt: skip
    assert modes == [{"code": "UPS", "status": "created"}]
    stores = {s["id"]: s for s in api.get("/v1/stores").json()["data"]}
    assert stores["web-us"]["name"] == "Contoso Online US"
    assert stores["web-us"]["currency"] == "USD"


def test_order_is_priced_by_the_store_and_listed_by_updated_since(api: httpx.Client) -> None:
    seed_catalogue(api)
    before = api.get("/v1/orders").json()["data"]
    assert before == []
    placed = place(api, [{"sku": "A1", "quantity": 2}, {"sku": "B2-S", "quantity": 1},
                         {"sku": "B2-M", "quantity": 1}])  # fmt: skip
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["id"] == "ord_000001" and order["status"] == "placed"
    assert [line["unit_price"] for line in order["lines"]] == [10.0, 6.0, 5.5]
    assert order["subtotal"] == 31.5 and order["tax"] == 3.15 and order["total"] == 34.65
    second = place(api, [{"sku": "A1", "quantity": 1}]).json()
    listed = api.get("/v1/orders", params={"updated_since": order["updated_at"]}).json()["data"]
    assert [o["id"] for o in listed] == [order["id"], second["id"]]
    later = api.get("/v1/orders", params={"updated_since": second["updated_at"]}).json()["data"]
    assert [o["id"] for o in later] == [second["id"]]
    page = api.get("/v1/orders", params={"limit": 1}).json()
    rest = api.get("/v1/orders", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [o["id"] for o in page["data"] + rest["data"]] == [order["id"], second["id"]]
    assert place(api, [{"sku": "OFF", "quantity": 1}]).status_code == 422
    assert place(api, [{"sku": "NOPE", "quantity": 1}]).status_code == 422


def test_status_machine_and_shipments(api: httpx.Client) -> None:
    seed_catalogue(api)
    order = place(api, [{"sku": "A1", "quantity": 3}]).json()
    url = f"/v1/orders/{order['id']}"
    bad = api.patch(url, json={"status": "delivered"})
    assert bad.status_code == 409
    assert bad.json()["from"] == "placed" and bad.json()["to"] == "delivered"
    accepted = api.patch(url, json={"status": "accepted"}).json()
    assert accepted["status"] == "accepted" and accepted["updated_at"] > order["updated_at"]
    assert api.patch(url, json={"status": "accepted"}).json() == accepted  # no-op
    shipment = api.post(f"{url}/shipments", json={
        "carrier": "FedEx", "tracking_number": "1Z999", "lines": [{"sku": "A1", "quantity": 2}],
    })  # fmt: skip
    assert shipment.status_code == 201, shipment.text
    assert shipment.json()["lines"] == [{"line_number": 1, "sku": "A1", "quantity": 2}]
    shipped = api.get(url).json()
    assert shipped["status"] == "shipped" and shipped["shipment_ids"] == [shipment.json()["id"]]
    assert api.patch(url, json={"status": "cancelled"}).status_code == 409
    assert api.get(f"{url}/shipments").json()["data"] == [shipment.json()]
    assert api.get("/v1/shipments").json()["data"] == [shipment.json()]
    assert api.patch(url, json={"status": "delivered"}).json()["status"] == "delivered"
    late = api.post(f"{url}/shipments", json={"carrier": "FedEx", "tracking_number": "2"})
    assert late.status_code == 409
    assert api.get("/v1/orders/ord_999999").status_code == 404


def test_idempotency_replays_and_refuses_a_different_body(api: httpx.Client) -> None:
    seed_catalogue(api)
    first = place(api, [{"sku": "A1", "quantity": 1}], **{"Idempotency-Key": "k-1"})
    again = place(api, [{"sku": "A1", "quantity": 1}], **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.get("/v1/_admin/stats").json()["orders"] == 1
    other = place(api, [{"sku": "A1", "quantity": 5}], **{"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert "different request" in other.json()["error"]
    assert api.get("/v1/_admin/stats").json()["orders"] == 1


def test_data_and_idempotency_survive_a_restart(data: Path) -> None:
    body = {"records": [product("KEEP")]}
    with serve_app(create_app(str(data), KEY)) as url:
        headers = {"X-API-Key": KEY, "Idempotency-Key": "batch-1"}
        first = httpx.post(f"{url}/v1/products/batch", json=body, headers=headers)
    with serve_app(create_app(str(data), KEY)) as url:
        headers = {"X-API-Key": KEY, "Idempotency-Key": "batch-1"}
        replay = httpx.post(f"{url}/v1/products/batch", json=body, headers=headers)
        listed = httpx.get(f"{url}/v1/products", headers=headers).json()["data"]
    assert (
        replay.json()
        == first.json()
        == {"data": [{"sku": "KEEP", "id": "prd_000001", "status": "created"}]}
    )
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert [p["sku"] for p in listed] == ["KEEP"]
    assert storage.stats(data)["products"] == 1


def test_reset_wipes_everything_but_the_stores(api: httpx.Client, data: Path) -> None:
    seed_catalogue(api)
    assert api.post("/v1/_admin/reset").json() == {"status": "reset"}
    counts = api.get("/v1/_admin/stats").json()
    assert counts["products"] == 0 and counts["delivery-modes"] == 0 and counts["stores"] == 2
    created = api.post("/v1/products/batch", json={"records": [product("NEW")]}).json()
    assert created["data"][0]["id"] == "prd_000001"
