"""The sandbox's real-store behaviours over loopback: creates that always create, and business
errors inside HTTP 200. Each is off by default and switched by ``PUT /v1/_admin/faults``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from runner.demo.sandbox import create_app, queries, validation
from runner.demo.sandbox.storage import SandboxStore
from tests.support.loopback import serve_app

KEY = "modes-key-1"
SPEC = Path(__file__).resolve().parents[2] / "schemas" / "sandbox.openapi.yaml"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        serve_app(create_app(str(tmp_path / "s.db"), KEY)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as client,
    ):
        yield client


def modes(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.put("/v1/_admin/faults", json=body)
    response.raise_for_status()
    return dict(response.json())


def product(sku: str, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": 10.0, **extra}


def keys(api: httpx.Client, *asked: str, resource: str = "products") -> dict[str, Any]:
    params = [("resource", resource), *(("key", k) for k in asked)]
    response = api.get("/v1/_admin/keys", params=params)
    response.raise_for_status()
    return dict(response.json())


# -- creates that always create ----------------------------------------------------------------


def test_by_default_a_repeated_create_is_one_product(api: httpx.Client) -> None:
    assert modes(api)["create"] == "upsert"
    headers = {"Idempotency-Key": "k-1"}
    first = api.post("/v1/products", json=product("A"), headers=headers)
    again = api.post("/v1/products", json=product("A"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.post("/v1/products", json=product("A")).status_code == 409
    api.post("/v1/products/batch", json={"records": [product("A")]}).raise_for_status()
    assert keys(api)["counts"] == {"A": 1}


def test_create_always_makes_a_new_product_for_every_post(api: httpx.Client) -> None:
    assert modes(api, create="always")["create"] == "always"
    headers = {"Idempotency-Key": "same-key"}
    made = [api.post("/v1/products", json=product("A"), headers=headers) for _ in range(2)]
    assert [r.status_code for r in made] == [201, 201]
    assert "Idempotent-Replayed" not in made[1].headers
    batch = api.post("/v1/products/batch", headers=headers,
                     json={"records": [product("A"), product("B"), product("B")]})  # fmt: skip
    assert [r["status"] for r in batch.json()["data"]] == ["created"] * 3
    ids = [r.json()["id"] for r in made] + [r["id"] for r in batch.json()["data"]]
    assert len(set(ids)) == 5
    listed = api.get("/v1/products", params={"limit": 100}).json()["data"]
    assert sorted(p["sku"] for p in listed) == ["A", "A", "A", "B", "B"]
    by_sku = api.get("/v1/products", params={"sku": "A"}).json()["data"]
    assert [p["id"] for p in by_sku] == ids[:3]
    several = api.get("/v1/products", params=[("sku", "B"), ("sku", "A"), ("sku", "C")])
    assert [p["id"] for p in several.json()["data"]] == ids
    # Matching many keys pages like any listing.
    paged = api.get("/v1/products", params=[("sku", "B"), ("sku", "A"), ("limit", "2")]).json()
    assert [p["id"] for p in paged["data"]] == ids[:2] and paged["next_cursor"]
    too_many = api.get("/v1/products", params=[("sku", str(i)) for i in range(251)])
    assert too_many.status_code == 422 and "at most 250" in too_many.json()["error"]
    counted = keys(api, "A", "B", "C")
    assert counted["counts"] == {"A": 3, "B": 2, "C": 0}
    assert counted["duplicates"] == {"A": ids[:3], "B": ids[3:]}
    assert counted["missing"] == ["C"]
    assert counted["objects"] == 5


def test_create_always_duplicates_variant_skus_and_updates_by_id(api: httpx.Client) -> None:
    modes(api, create="always")
    record = product("V", variants=[{"sku": "V-1", "size": "S"}])
    first = api.post("/v1/products", json=record).json()
    second = api.post("/v1/products", json=record).json()
    assert keys(api, resource="variants")["duplicates"] == {"V-1": [first["id"], second["id"]]}
    # An update by id changes that product only, although another holds the same skus.
    changed = api.put(f"/v1/products/{second['id']}", json={**record, "title": "Second"})
    assert changed.status_code == 200, changed.text
    assert api.get(f"/v1/products/{first['id']}").json()["title"] == "Product V"
    assert api.get(f"/v1/products/{second['id']}").json()["title"] == "Second"
    assert api.delete(f"/v1/products/{first['id']}").status_code == 204
    assert keys(api, "V")["counts"] == {"V": 1}
    # Back to the default: a create of a sku that exists is refused again.
    modes(api)
    assert api.post("/v1/products", json=record).status_code == 409


def test_create_always_ignores_idempotency_keys_on_orders_too(api: httpx.Client) -> None:
    ups = {"records": [{"code": "UPS", "description": "UPS"}]}
    api.post("/v1/delivery-modes/batch", json=ups).raise_for_status()
    api.post("/v1/products", json=product("O")).raise_for_status()
    modes(api, create="always")
    order = {
        "store_id": "web-us", "customer": {"email": "a@example.com"}, "delivery_mode": "UPS",
        "shipping_address": {"line1": "1 A St", "city": "X", "postal_code": "1", "country": "US"},
        "lines": [{"sku": "O", "quantity": 1}],
    }  # fmt: skip
    placed = [
        api.post("/v1/shop/orders", json=order, headers={"Idempotency-Key": "o-1"})
        for _ in range(2)
    ]
    assert len({r.json()["id"] for r in placed}) == 2
    assert api.get("/v1/_admin/stats").json()["orders"] == 2


def test_a_data_file_with_unique_skus_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "CREATE TABLE products (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
            " content BLOB NOT NULL, body BLOB NOT NULL, updated_at TEXT NOT NULL);"
            "CREATE TABLE variant_skus (sku TEXT PRIMARY KEY, product_n INTEGER NOT NULL);"
            "INSERT INTO products VALUES (7, 'OLD', x'7b7d', x'7b7d', '2026-01-01');"
            "DELETE FROM products; INSERT INTO products VALUES (3, 'OLD', '{}', '{}', 'x');"
        )
        conn.commit()
    store = SandboxStore(path)
    try:
        record = validation.product(product("OLD"))
        made = store.upsert("products", [record, record], always_create=True)
        # The high-water mark 7 survives the rebuild: no id of a deleted product comes back.
        assert [r["id"] for r in made] == ["prd_000008", "prd_000009"]
        held = queries.key_counts(store, "products")["OLD"]
        assert held == ["prd_000003", "prd_000008", "prd_000009"]
    finally:
        store.close()


# -- business errors inside HTTP 200 -----------------------------------------------------------


def test_refusals_are_4xx_by_default_and_refuse_titles_are_accepted(api: httpx.Client) -> None:
    negative = api.post("/v1/products", json=product("N", price=-1))
    assert negative.status_code == 422
    assert api.post("/v1/products", json=product("R", title="REFUSE: no")).status_code == 201


def test_errors_in_200_on_single_writes(api: httpx.Client) -> None:
    assert modes(api, errors_in_200=True)["errors_in_200"] is True
    refused = api.post("/v1/products", json=product("R", title="REFUSE: discontinued range"))
    assert refused.status_code == 200
    assert refused.json() == {
        "errors": [{"field": ["title"], "message": "title: discontinued range"}]
    }
    negative = api.post("/v1/products", json=product("N", price=-5))
    assert negative.status_code == 200
    assert "price must be at least 0" in negative.json()["errors"][0]["message"]
    made = api.post("/v1/products", json=product("OK"))
    assert made.status_code == 201
    conflict = api.post("/v1/products", json=product("OK"))
    assert conflict.status_code == 200
    assert conflict.json()["errors"][0]["id"] == made.json()["id"]
    assert keys(api, "R", "N", "OK")["counts"] == {"R": 0, "N": 0, "OK": 1}
    # Updates are refused the same way, and the product keeps its data.
    update = api.put(f"/v1/products/{made.json()['id']}", json=product("OK", title="REFUSE: x"))
    assert update.status_code == 200 and update.json()["errors"][0]["field"] == ["title"]
    assert api.get(f"/v1/products/{made.json()['id']}").json()["title"] == "Product OK"


def test_errors_in_200_on_the_batch_endpoint_land_the_rest(api: httpx.Client) -> None:
    modes(api, errors_in_200=True)
    batch = api.post("/v1/products/batch", json={"records": [
        product("A"), product("B", title="REFUSE: blocked brand"), product("C", price=-1),
    ]})  # fmt: skip
    assert batch.status_code == 200
    results = batch.json()["data"]
    assert results[0]["status"] == "created"
    assert results[1] == {"sku": "B", "error": "records[1]: title: blocked brand"}
    assert results[2]["sku"] == "C" and "price" in results[2]["error"]
    assert keys(api, "A", "B", "C")["counts"] == {"A": 1, "B": 0, "C": 0}


def test_errors_in_200_on_shipments(api: httpx.Client) -> None:
    ups = {"records": [{"code": "UPS", "description": "UPS"}]}
    api.post("/v1/delivery-modes/batch", json=ups).raise_for_status()
    api.post("/v1/products", json=product("S")).raise_for_status()
    order = api.post("/v1/shop/orders", json={
        "store_id": "web-us", "customer": {"email": "a@example.com"}, "delivery_mode": "UPS",
        "shipping_address": {"line1": "1 A St", "city": "X", "postal_code": "1", "country": "US"},
        "lines": [{"sku": "S", "quantity": 1}],
    }).json()  # fmt: skip
    modes(api, errors_in_200=True)
    ship = f"/v1/orders/{order['id']}/shipments"
    refused = api.post(ship, json={"carrier": "UPS", "tracking_number": "REFUSE: bad label"})
    assert refused.status_code == 200
    assert refused.json()["errors"][0]["field"] == ["tracking_number"]
    assert api.get(ship).json()["data"] == []
    missing = api.post(ship, json={"carrier": "UPS"})
    assert missing.status_code == 200
    assert "tracking_number" in missing.json()["errors"][0]["message"]
    modes(api)
    assert api.post(ship, json={"carrier": "UPS"}).status_code == 422


def test_mode_responses_match_the_openapi_file(api: httpx.Client) -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))

    def check(body: Any, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        jsonschema.validate(body, schema)

    settings = modes(api, create="always", errors_in_200=True,
                     rate={"leaky": {"limit": 100, "leak_per_s": 10}})  # fmt: skip
    check(settings, "Faults")
    assert settings["rate"]["leaky"] == {"limit": 100, "leak_per_s": 10}
    # What GET answers can be PUT back unchanged.
    assert modes(api, **settings) == settings
    api.post("/v1/products", json=product("A")).raise_for_status()
    api.post("/v1/products", json=product("A")).raise_for_status()
    check(keys(api, "A", "Z"), "KeyCounts")
    check(api.post("/v1/products", json=product("R", title="REFUSE: x")).json(), "BusinessErrors")
    check(api.get("/v1/_admin/rate").json()["leaky"], "RateUsage")
    api.put("/v1/_admin/faults", json={"rate": {"cost": {"maximum": 6, "restore_per_s": 1}}})
    query = {"query": "{ products(first: 3) { nodes { sku } } }"}
    check(api.post("/graphql", json=query).json(), "GraphQLResponse")
    throttled = api.post("/graphql", json=query).json()
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    check(throttled, "GraphQLResponse")


def test_bad_mode_settings_are_refused(api: httpx.Client) -> None:
    wrong = api.put("/v1/_admin/faults", json={"create": "sometimes"})
    assert wrong.status_code == 422 and "create must be" in wrong.json()["error"]
    wrong = api.get("/v1/_admin/keys", params={"resource": "orders"})
    assert wrong.status_code == 422
