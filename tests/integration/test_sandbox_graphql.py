"""The sandbox's GraphQL admin API over loopback: the served schema is the documented one,
both pagination styles return every object exactly once, the SKU-list filter, mutations with
userErrors and typed error results in HTTP 200, the shared storage with REST, the store's
modes, and the Shopify-style cost budget on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import build_client_schema, build_schema, get_introspection_query, print_schema

from runner.demo.sandbox.graphql_resolvers import Root
from tests.support.sandbox_api import ManualClock, sandbox_client

KEY = "graphql-key-1"
SDL = Path(__file__).resolve().parents[2] / "schemas" / "sandbox.graphql"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(50.0)


@pytest.fixture
def api(tmp_path: Path, clock: ManualClock) -> Iterator[httpx.Client]:
    with sandbox_client(tmp_path, KEY, clock, timeout=30) as client:
        yield client


def gql(api: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = api.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return dict(response.json())


def data(api: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    body = gql(api, query, **variables)
    assert "errors" not in body, body["errors"]
    return dict(body["data"])


def modes(api: httpx.Client, **body: Any) -> None:
    api.put("/v1/_admin/faults", json=body).raise_for_status()


def seed(api: httpx.Client, count: int, *, variants: bool = False) -> None:
    records = [
        {
            "sku": f"P{i:05d}",
            "title": f"Product {i}",
            "price": 1 + i % 50,
            "variants": [{"sku": f"P{i:05d}-V"}] if variants else [],
        }
        for i in range(count)
    ]
    api.post("/v1/products/batch", json={"records": records}).raise_for_status()


PRODUCT_CREATE = """
mutation ($input: ProductInput!) {
  productCreate(input: $input) { product { id sku title } userErrors { field message code } }
}"""


# -- the schema ----------------------------------------------------------------------------------


def test_the_served_schema_is_the_file(api: httpx.Client) -> None:
    introspected = data(api, get_introspection_query(descriptions=True, schema_description=True))
    served = build_client_schema(introspected)  # type: ignore[arg-type]
    documented = build_schema(SDL.read_text(encoding="utf-8"))
    assert print_schema(served) == print_schema(documented)


def test_every_root_field_of_the_file_has_a_resolver() -> None:
    documented = build_schema(SDL.read_text(encoding="utf-8"))
    assert documented.query_type and documented.mutation_type
    fields = [*documented.query_type.fields, *documented.mutation_type.fields]
    missing = [name for name in fields if not callable(getattr(Root, name, None))]
    assert missing == []


def test_graphql_needs_the_api_key(api: httpx.Client) -> None:
    refused = httpx.post(api.base_url.join("/graphql"), json={"query": '{ order(id: "x") { id } }'})
    assert refused.status_code == 401
    bad = api.post("/graphql", content=b"{nope")
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["errors"][0]["message"]
    unknown = gql(api, "{ nope }")
    assert "Cannot query field 'nope'" in unknown["errors"][0]["message"]


# -- reading: pagination and filters -------------------------------------------------------------


@pytest.mark.parametrize("size", [1000, 333])
def test_relay_pagination_returns_each_product_exactly_once(api: httpx.Client, size: int) -> None:
    seed(api, 2500)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = data(api, """query ($first: Int, $after: String) {
            products(first: $first, after: $after) {
              edges { cursor node { id sku } }
              pageInfo { hasNextPage endCursor }
              totalCount
            } }""", first=size, after=after)["products"]  # fmt: skip
        pages += 1
        assert page["totalCount"] == 2500
        seen += [edge["node"]["sku"] for edge in page["edges"]]
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == -(-2500 // size)
    assert len(seen) == 2500 and set(seen) == {f"P{i:05d}" for i in range(2500)}


@pytest.mark.parametrize("size", [1000, 400])
def test_offset_pagination_returns_each_product_exactly_once(api: httpx.Client, size: int) -> None:
    seed(api, 2500)
    seen: list[str] = []
    skip = 0
    while True:
        page = data(api, """query ($skip: Int, $take: Int) {
            products(skip: $skip, take: $take) { nodes { sku } pageInfo { hasNextPage } } }""",
            skip=skip, take=size)["products"]  # fmt: skip
        seen += [node["sku"] for node in page["nodes"]]
        skip += size
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert len(seen) == 2500 and set(seen) == {f"P{i:05d}" for i in range(2500)}


def test_page_limits_and_mixed_styles_are_errors(api: httpx.Client) -> None:
    seed(api, 3)
    too_big = gql(api, "{ products(first: 1001) { nodes { sku } } }")
    assert "1 to 1000" in too_big["errors"][0]["message"]
    mixed = gql(api, "{ products(first: 2, skip: 1) { nodes { sku } } }")
    assert "not both" in mixed["errors"][0]["message"]
    foreign = data(api, "{ inventoryLevels(first: 1) { pageInfo { endCursor } } }")
    assert foreign["inventoryLevels"]["pageInfo"]["endCursor"] is None
    wrong = gql(api, '{ products(after: "bm90LWEtY3Vyc29y") { nodes { sku } } }')
    assert "not a cursor" in wrong["errors"][0]["message"]


def test_sku_list_filter_says_which_skus_exist(api: httpx.Client) -> None:
    seed(api, 60, variants=True)
    asked = [f"P{i:05d}" for i in range(0, 40, 2)] + [f"P{i:05d}-V" for i in range(1, 20, 2)]
    asked += [f"ABSENT{i}" for i in range(20)]
    found = data(api, """query ($skus: [String!]) {
        products(skus: $skus, first: 100) { nodes { sku variants { sku } } totalCount } }""",
        skus=asked)["products"]  # fmt: skip
    held = {n["sku"] for n in found["nodes"]} | {
        v["sku"] for n in found["nodes"] for v in n["variants"]
    }
    assert sorted(set(asked) & held) == sorted(a for a in asked if not a.startswith("ABSENT"))
    assert found["totalCount"] == 30 and len(asked) == 50
    too_many = gql(api, "query ($s: [String!]) { products(skus: $s) { totalCount } }",
                   s=[str(i) for i in range(1001)])  # fmt: skip
    assert "at most 1000" in too_many["errors"][0]["message"]


# -- writing: mutations, errors in 200, shared storage, modes ------------------------------------


def test_product_mutations_share_storage_with_rest(api: httpx.Client) -> None:
    made = data(api, PRODUCT_CREATE, input={
        "sku": "G1", "title": "Made by GraphQL", "price": 9.5, "taxRate": 0.1,
        "variants": [{"sku": "G1-S", "size": "S", "price": 10}],
    })["productCreate"]  # fmt: skip
    assert made["userErrors"] == []
    rest = api.get(f"/v1/products/{made['product']['id']}").json()
    assert rest["tax_rate"] == 0.1 and rest["variants"][0]["size"] == "S"
    api.post("/v1/products", json={"sku": "R1", "title": "Made by REST", "price": 1})
    listed = data(api, "{ products { nodes { sku taxRate variants { sku size } } } }")
    assert [p["sku"] for p in listed["products"]["nodes"]] == ["G1", "R1"]
    updated = data(api, """mutation ($id: ID!) {
        productUpdate(id: $id, input: {title: "New"}) {
          product { title price } userErrors { message } } }""",
        id=made["product"]["id"])  # fmt: skip
    assert updated["productUpdate"]["product"] == {"title": "New", "price": 9.5}
    assert api.get(f"/v1/products/{made['product']['id']}").json()["title"] == "New"
    deleted = data(api, """mutation ($id: ID!) { productDelete(id: $id) { deletedProductId
        userErrors { message code } } }""", id=made["product"]["id"])  # fmt: skip
    assert deleted["productDelete"]["deletedProductId"] == made["product"]["id"]
    again = data(api, """mutation ($id: ID!) { productDelete(id: $id) { deletedProductId
        userErrors { field code } } }""", id=made["product"]["id"])  # fmt: skip
    assert again["productDelete"]["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
    assert api.get("/v1/_admin/stats").json()["products"] == 1


def test_user_errors_in_200_and_nothing_created(api: httpx.Client) -> None:
    invalid = data(api, PRODUCT_CREATE, input={"sku": "N", "title": "Neg", "price": -1})
    assert invalid["productCreate"]["product"] is None
    assert invalid["productCreate"]["userErrors"] == [{
        "field": ["input", "price"], "message": "price must be at least 0, got -1",
        "code": "INVALID",
    }]  # fmt: skip
    missing = data(api, PRODUCT_CREATE, input={"sku": "M", "price": 1})
    assert missing["productCreate"]["userErrors"][0]["field"] == ["input", "title"]
    # REFUSE: is an ordinary title until the errors-in-200 mode is on.
    accepted = data(api, PRODUCT_CREATE, input={"sku": "R0", "title": "REFUSE: x", "price": 1})
    assert accepted["productCreate"]["userErrors"] == []
    modes(api, errors_in_200=True)
    refused = data(api, PRODUCT_CREATE,
                   input={"sku": "R1", "title": "REFUSE: blocked brand", "price": 1})  # fmt: skip
    error = {"field": ["input", "title"], "message": "title: blocked brand", "code": "REFUSED"}
    assert refused["productCreate"] == {"product": None, "userErrors": [error]}
    counts = api.get("/v1/_admin/keys", params=[("key", k) for k in ("N", "M", "R0", "R1")])
    assert counts.json()["counts"] == {"N": 0, "M": 0, "R0": 1, "R1": 0}


def test_create_always_applies_to_graphql(api: httpx.Client) -> None:
    record = {"sku": "DUP", "title": "Duplicate", "price": 2, "variants": [{"sku": "DUP-1"}]}
    first = data(api, PRODUCT_CREATE, input=record)["productCreate"]
    taken = data(api, PRODUCT_CREATE, input=record)["productCreate"]
    assert taken["userErrors"][0]["code"] == "TAKEN"
    modes(api, create="always")
    second = data(api, PRODUCT_CREATE, input=record)["productCreate"]
    assert second["userErrors"] == [] and second["product"]["id"] != first["product"]["id"]
    both = data(api, '{ products(skus: ["DUP"]) { nodes { id } totalCount } }')["products"]
    assert both["totalCount"] == 2
    assert api.get("/v1/_admin/keys", params={"key": "DUP"}).json()["duplicates"] == {
        "DUP": [first["product"]["id"], second["product"]["id"]]
    }
    ambiguous = data(api, """mutation { priceSet(input: {sku: "DUP-1", price: 3}) {
        __typename ... on ErrorResult { errorCode message }
        ... on AmbiguousSkuError { productIds } } }""")["priceSet"]  # fmt: skip
    assert ambiguous["__typename"] == "AmbiguousSkuError"
    assert ambiguous["errorCode"] == "AMBIGUOUS_SKU"
    assert ambiguous["productIds"] == [first["product"]["id"], second["product"]["id"]]


PRICE_SET = """mutation ($sku: String!, $price: Float!) {
  priceSet(input: {sku: $sku, price: $price}) {
  __typename
  ... on PriceSet { sku price product { id price variants { sku price } } }
  ... on ErrorResult { errorCode message } } }"""
INVENTORY_SET = """mutation ($sku: String!, $at: String!, $n: Int!) {
  inventorySet(input: {sku: $sku, location: $at, available: $n}) {
  __typename ... on InventoryLevel { sku location available }
  ... on ErrorResult { errorCode message } } }"""


def test_stock_and_prices_with_typed_error_results(api: httpx.Client) -> None:
    seed(api, 2, variants=True)
    priced = data(api, PRICE_SET, sku="P00001-V", price=7.25)["priceSet"]
    assert priced["__typename"] == "PriceSet"
    assert priced["product"]["variants"] == [{"sku": "P00001-V", "price": 7.25}]
    data(api, PRICE_SET, sku="P00000", price=4)
    assert api.get("/v1/products/prd_000001").json()["price"] == 4
    negative = data(api, PRICE_SET, sku="P00000", price=-1)["priceSet"]
    assert negative == {"__typename": "InvalidPriceError", "errorCode": "INVALID_PRICE",
                        "message": "price must not be negative, got -1"}  # fmt: skip
    unknown = data(api, PRICE_SET, sku="NOPE", price=1)["priceSet"]
    assert unknown["__typename"] == "SkuNotFoundError"
    assert api.get("/v1/products/prd_000001").json()["price"] == 4
    stocked = data(api, INVENTORY_SET, sku="P00001-V", at="WH-1", n=12)["inventorySet"]
    assert stocked == {"__typename": "InventoryLevel", "sku": "P00001-V", "location": "WH-1",
                       "available": 12}  # fmt: skip
    data(api, INVENTORY_SET, sku="P00000", at="WH-2", n=3)
    assert data(api, INVENTORY_SET, sku="NOPE", at="WH-1", n=1)["inventorySet"]["errorCode"] == (
        "SKU_NOT_FOUND"
    )
    rest = api.get("/v1/inventory").json()["data"]
    assert [(r["sku"], r["warehouse"], r["available"]) for r in rest] == [
        ("P00001-V", "WH-1", 12), ("P00000", "WH-2", 3)]  # fmt: skip
    levels = data(api, '{ inventoryLevels(skus: ["P00000"]) { nodes { location available } } }')
    assert levels["inventoryLevels"]["nodes"] == [{"location": "WH-2", "available": 3}]


FULFIL = """mutation ($input: FulfillmentInput!) { fulfillmentCreate(input: $input) {
  __typename ... on Fulfillment { id orderId carrier trackingNumber lines { lineNumber quantity } }
  ... on ErrorResult { errorCode message } } }"""


def test_orders_and_fulfilments(api: httpx.Client) -> None:
    seed(api, 2)
    ups = {"records": [{"code": "UPS", "description": "UPS"}]}
    api.post("/v1/delivery-modes/batch", json=ups).raise_for_status()
    order = api.post("/v1/shop/orders", json={
        "store_id": "web-us", "customer": {"email": "a@example.com", "name": "Ana"},
        "delivery_mode": "UPS", "lines": [{"sku": "P00000", "quantity": 2}],
        "shipping_address": {"line1": "1 A St", "city": "X", "postal_code": "1", "country": "US"},
    }).json()  # fmt: skip
    modes(api, errors_in_200=True)
    refused = data(api, FULFIL, input={"orderId": order["id"], "carrier": "UPS",
                                       "trackingNumber": "REFUSE: label unreadable"})  # fmt: skip
    assert refused["fulfillmentCreate"]["__typename"] == "RefusedError"
    made = data(api, FULFIL, input={"orderId": order["id"], "carrier": "UPS",
                                    "trackingNumber": "1Z999",
                                    "lines": [{"lineNumber": 1, "quantity": 1}]})  # fmt: skip
    fulfilment = made["fulfillmentCreate"]
    assert fulfilment["__typename"] == "Fulfillment" and fulfilment["orderId"] == order["id"]
    assert fulfilment["lines"] == [{"lineNumber": 1, "quantity": 1}]
    read = data(api, """query ($id: ID!) { order(id: $id) { status customer { email }
        shippingAddress { postalCode } lines { sku quantity unitPrice }
        fulfillments { trackingNumber } } }""", id=order["id"])["order"]  # fmt: skip
    assert read["status"] == "shipped" and read["fulfillments"] == [{"trackingNumber": "1Z999"}]
    assert read["shippingAddress"] == {"postalCode": "1"}
    assert (
        api.get(f"/v1/orders/{order['id']}/shipments").json()["data"][0]["id"] == fulfilment["id"]
    )
    wrong = {"orderId": order["id"], "carrier": "UPS", "trackingNumber": "T"}
    wrong["lines"] = [{"lineNumber": 9}]  # the order has one line
    bad_line = data(api, FULFIL, input=wrong)
    assert bad_line["fulfillmentCreate"]["errorCode"] == "INVALID_FULFILLMENT"
    api.patch(f"/v1/orders/{order['id']}", json={"status": "delivered"}).raise_for_status()
    late = data(
        api, FULFIL, input={"orderId": order["id"], "carrier": "UPS", "trackingNumber": "T"}
    )
    assert late["fulfillmentCreate"]["__typename"] == "OrderStateError"
    missing = data(
        api, FULFIL, input={"orderId": "ord_999999", "carrier": "U", "trackingNumber": "T"}
    )
    assert missing["fulfillmentCreate"]["errorCode"] == "ORDER_NOT_FOUND"
    listed = data(api, "{ orders(skip: 0, take: 10) { nodes { id } } fulfillments { totalCount } }")
    assert listed["orders"]["nodes"] == [{"id": order["id"]}]
    assert listed["fulfillments"]["totalCount"] == 1


# -- the cost budget -----------------------------------------------------------------------------


def test_cost_is_reported_and_a_short_page_refunds(api: httpx.Client) -> None:
    seed(api, 3)
    body = gql(api, "{ products(first: 10) { nodes { id variants { sku } } } }")
    # 2 + 10 items x (1 node + 1 variants list); 3 items came back.
    assert body["extensions"]["cost"] == {"requestedQueryCost": 22, "actualQueryCost": 8}


def test_cost_budget_throttles_and_restores(api: httpx.Client, clock: ManualClock) -> None:
    seed(api, 300)
    modes(api, rate={"cost": {"maximum": 100, "restore_per_s": 10}})
    query = "{ products(first: 40) { nodes { sku } } }"  # costs 42, all 40 come back
    first = gql(api, query)
    assert first["extensions"]["cost"] == {
        "requestedQueryCost": 42, "actualQueryCost": 42,
        "throttleStatus": {"maximumAvailable": 100.0, "currentlyAvailable": 58,
                           "restoreRate": 10.0},
    }  # fmt: skip
    gql(api, query)
    throttled = gql(api, query)
    assert "data" not in throttled
    assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert throttled["extensions"]["cost"]["actualQueryCost"] is None
    assert throttled["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 16
    clock.now += 2.6  # 16 + 26 = 42 points
    assert "errors" not in gql(api, query)
    # A page that comes back short gives the unused points back.
    clock.now += 10
    short = gql(api, '{ products(first: 40, skus: ["P00001"]) { nodes { sku } } }')
    assert short["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 100 - 3
    too_big = gql(api, "{ products(first: 1000) { nodes { sku } } }")
    assert too_big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    usage = api.get("/v1/_admin/rate").json()["cost"]
    assert (usage["served"], usage["throttled"]) == (4, 2)
    assert usage["used"] == 42 * 3 + 3
    assert usage["budget"] == pytest.approx(100 + 10 * 12.6)
    # REST requests are not charged to the GraphQL budget.
    assert api.get("/v1/products").status_code == 200
    assert api.get("/v1/_admin/rate").json()["cost"]["served"] == 4


BULK = """mutation ($inputs: [ProductInput!]!) { productsCreate(inputs: $inputs) {
  __typename ... on Product { id sku }
  ... on ErrorResult { errorCode message }
  ... on InvalidProductError { field }
  ... on RefusedError { field } } }"""


def test_bulk_create_answers_typed_errors_per_input(api: httpx.Client) -> None:
    holder = {"sku": "HOLDER", "title": "H", "price": 1, "variants": [{"sku": "TAKEN-1"}]}
    api.post("/v1/products", json=holder).raise_for_status()
    modes(api, errors_in_200=True)
    inputs = [
        {"sku": "B1", "title": "Fine", "price": 1},
        {"sku": "B2", "title": "Negative", "price": -2},
        {"sku": "B3", "title": "REFUSE: embargoed", "price": 1},
        {"sku": "B4", "title": "Steals a variant", "price": 1, "variants": [{"sku": "TAKEN-1"}]},
        {"sku": "B5", "title": "Also fine", "price": 1},
    ]
    results = data(api, BULK, inputs=inputs)["productsCreate"]
    assert [r["__typename"] for r in results] == [
        "Product", "InvalidProductError", "RefusedError", "SkuTakenError", "Product"]  # fmt: skip
    assert results[1] == {
        "__typename": "InvalidProductError", "errorCode": "INVALID_PRODUCT",
        "message": "price must be at least 0, got -2", "field": "price",
    }  # fmt: skip
    assert results[2]["field"] == "title" and results[2]["message"] == "title: embargoed"
    assert "TAKEN-1 already belongs to product prd_000001" in results[3]["message"]
    counted = api.get("/v1/_admin/keys", params=[("key", f"B{i}") for i in range(1, 6)]).json()
    assert counted["counts"] == {"B1": 1, "B2": 0, "B3": 0, "B4": 0, "B5": 1}


def test_bulk_create_upserts_by_default_and_duplicates_when_creates_always_create(
    api: httpx.Client,
) -> None:
    inputs = [{"sku": f"U{i}", "title": f"U{i}", "price": 1} for i in range(3)]
    first = [r["id"] for r in data(api, BULK, inputs=inputs)["productsCreate"]]
    again = [r["id"] for r in data(api, BULK, inputs=inputs)["productsCreate"]]
    assert first == again
    modes(api, create="always")
    third = [r["id"] for r in data(api, BULK, inputs=inputs)["productsCreate"]]
    assert not set(third) & set(first)
    assert api.get("/v1/_admin/keys").json()["duplicates"] == {
        f"U{i}": [first[i], third[i]] for i in range(3)
    }
    too_many = gql(api, BULK, inputs=[inputs[0]] * 251)
    assert "at most 250 inputs" in too_many["errors"][0]["message"]
