"""schemas/sandbox.openapi.yaml is a valid OpenAPI 3.1 document that covers every route, and the
sandbox's real responses match the schemas it declares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate
from starlette.routing import Route

from runner.demo.sandbox import create_app
from tests.support.loopback import serve_app

SPEC_PATH = Path(__file__).resolve().parents[2] / "schemas" / "sandbox.openapi.yaml"
KEY = "spec-key-1"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def test_the_file_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_route_is_documented_and_nothing_else(spec: dict[str, Any], tmp_path: Path) -> None:
    app = create_app(str(tmp_path / "s.db"), KEY).app
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert served == documented


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    # A JSON Schema 2020-12 document that resolves the spec's #/components refs.
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


def test_real_responses_match_their_schemas(spec: dict[str, Any], tmp_path: Path) -> None:
    headers = {"X-API-Key": KEY}
    with serve_app(create_app(str(tmp_path / "s.db"), KEY)) as url:
        httpx.post(f"{url}/v1/delivery-modes/batch", headers=headers,
                   json={"records": [{"code": "UPS", "description": "UPS"}]})  # fmt: skip
        httpx.post(f"{url}/v1/products/batch", headers=headers, json={"records": [
            {"sku": "A", "title": "A", "price": 3, "variants": [{"sku": "A-1", "size": "S"}]},
        ]})  # fmt: skip
        product = httpx.get(f"{url}/v1/products", headers=headers).json()["data"][0]
        order = httpx.post(f"{url}/v1/shop/orders", headers=headers, json={
            "store_id": "web-us", "customer": {"email": "a@example.com"},
            "shipping_address": {"line1": "1 A St", "city": "X", "postal_code": "1",
                                 "country": "US"},
            "delivery_mode": "UPS", "lines": [{"sku": "A-1", "quantity": 2}],
        }).json()  # fmt: skip
        shipment = httpx.post(f"{url}/v1/orders/{order['id']}/shipments", headers=headers,
                              json={"carrier": "UPS", "tracking_number": "T1"}).json()  # fmt: skip
        faults = httpx.get(f"{url}/v1/_admin/faults", headers=headers).json()
    jsonschema.validate(product, _schema(spec, "Product"))
    jsonschema.validate(order, _schema(spec, "Order"))
    jsonschema.validate(shipment, _schema(spec, "Shipment"))
    jsonschema.validate(faults, _schema(spec, "Faults"))
