"""A three-level entity (product -> variants -> stock) written in one step to the sandbox's
GraphQL API: the pipeline, an ERP export as JSON lines, and reads of the store's own admin view.

Shared by the integration test (``tests/integration/test_http_entity.py``) and the crash test
(``tests/robustness/test_crash_entity.py``). The store runs in create-always mode: a product
create sent twice makes two products, so a duplicate is visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.store_rig import GRAPHQL_MATCH, StoreRig, serve_store

__all__ = ["ACCESSORIES", "API_KEY", "PIPELINE", "Rig", "product", "rig"]

API_KEY = "entity-key-7c2e"

PIPELINE = """version: 1
name: catalog
connections:
  store:
    connector: http
    base_url: "${COMMERCE_URL}"
    auth: {type: api_key, key: "${COMMERCE_API_KEY}", header: X-API-Key}
    max_in_flight: 2
steps:
  - name: products
    source: {connector: jsonl, path: "${ERP_FILE}", fields: [sku, title, price, variants]}
    key: sku
    batch_size: 3
    map:
      sku: sku
      title: title
      price: price
      variants: variants
      variant_input:
        expr: "[{'sku': v['sku'], 'size': v['size'], 'price': v['price']} for v in variants]"
    errors: {retry: {attempts: 3, backoff: 0.01}, max_bad_records: 1000}
    destination:
      connection: store
      create:
        graphql:
          document: |
            mutation Create($input: ProductInput!) {
              productCreate(input: $input) {
                product { id sku variants { sku } }
                userErrors { field message }
              }
            }
          variables:
            input: {sku: "{sku}", title: "{title}", price: "{price}", variants: "{variant_input}"}
        id_path: data.productCreate.product.id
      update:
        graphql:
          document: |
            mutation Update($id: ID!, $input: ProductInput!) {
              productUpdate(id: $id, input: $input) {
                product { id variants { sku } }
                userErrors { field message }
              }
            }
          variables:
            id: "{dest_id}"
            input: {title: "{title}", price: "{price}", variants: "{variant_input}"}
        id_path: data.productUpdate.product.id
""" + GRAPHQL_MATCH + """\
      then:
        - name: variants
          for_each: variants
          key: sku
          fields: [sku, size, price, location, available]
          # The store creates variants inline and answers with them; it addresses them by sku.
          from_parent:
            records:
              create: data.productCreate.product.variants
              update: data.productUpdate.product.variants
            id_path: sku
          then:
            - name: stock
              key: sku
              upsert:
                graphql:
                  document: |
                    mutation Stock($input: InventorySetInput!) {
                      inventorySet(input: $input) {
                        __typename
                        ... on InventoryLevel { sku location available }
                        ... on SkuNotFoundError { errorCode message }
                      }
                    }
                  variables:
                    input: {sku: "{item.sku}", location: "{item.location}",
                            available: "{item.available}"}
                id_path: data.inventorySet.sku
"""

# A product and its accessories, each accessory a product of its own created by a REST call
# with the parent's id: a level whose creates are not idempotent, recovered by its own match.
ACCESSORIES = """version: 1
name: catalog
connections:
  store:
    connector: http
    base_url: "${COMMERCE_URL}"
    auth: {type: api_key, key: "${COMMERCE_API_KEY}", header: X-API-Key}
    max_in_flight: 2
steps:
  - name: products
    source: {connector: jsonl, path: "${ERP_FILE}", fields: [sku, title, price, accessories]}
    key: sku
    batch_size: 3
    map: {sku: sku, title: title, price: price, accessories: accessories}
    errors: {retry: {attempts: 3, backoff: 0.01}, max_bad_records: 1000}
    destination:
      connection: store
      create: {path: /v1/products, body: {sku: "{sku}", title: "{title}", price: "{price}"},
               id_path: id}
      update: {method: PUT, path: "/v1/products/{dest_id}",
               body: {sku: "{sku}", title: "{title}", price: "{price}"}, id_path: id}
      match: &match
        path: /v1/products
        params: {sku: "{keys}", limit: 1000}
        keys_as: repeat
        batch: 50
        records: data
        key_fields: [sku]
        id_path: id
      list:
        path: /v1/products
        params: {limit: 1000}
        records: data
        key_fields: [sku]
        id_path: id
        pagination: {type: cursor, param: cursor, next_path: next_cursor}
      then:
        - name: accessories
          for_each: accessories
          key: sku
          fields: [sku, title, price]
          create:
            path: /v1/products
            body: {sku: "{item.sku}", title: "{item.title} for {parent.id}", price: "{item.price}"}
            id_path: id
          update:
            method: PUT
            path: "/v1/products/{dest_id}"
            body: {sku: "{item.sku}", title: "{item.title} for {parent.id}", price: "{item.price}"}
            id_path: id
          match: *match
"""


def product(n: int, stock: int = 0) -> dict[str, Any]:
    """Product ``P000n`` with three variants, each with stock at one location."""
    sizes = ("S", "M", "L")
    return {"sku": f"P{n:04d}", "title": f"product {n}", "price": n % 50 + 0.5,
            "variants": [{"sku": f"P{n:04d}-{s}", "size": s, "price": n % 50 + 0.5,
                          "location": "main", "available": stock + n + i}
                         for i, s in enumerate(sizes)],
            "accessories": [{"sku": f"A{n:04d}-{i}", "title": f"accessory {i} of {n}",
                             "price": i + 1.5} for i in range(2)]}


@dataclass
class Rig(StoreRig):
    erp: Path = Path()
    products: dict[str, dict[str, Any]] = field(default_factory=dict)

    def erp_env(self) -> dict[str, str]:
        return {"ERP_FILE": str(self.erp)}

    def put(self, *items: dict[str, Any]) -> None:
        """Add or replace products in the ERP export (rewritten whole, in sku order)."""
        for item in items:
            self.products[item["sku"]] = item
        text = "".join(json.dumps(self.products[k]) + "\n" for k in sorted(self.products))
        self.erp.write_text(text, encoding="utf-8")

    def stock(self) -> dict[str, int]:
        """``{variant sku: available}`` at the store (read to the last page)."""
        levels: dict[str, int] = {}
        cursor: str | None = None
        while True:
            page = self.get("/v1/inventory", limit=1000, **({"cursor": cursor} if cursor else {}))
            levels.update({row["sku"]: row["available"] for row in page["data"]})
            cursor = page.get("next_cursor")
            if not cursor:
                return levels

    def expected_skus(self, *, accessories: bool) -> set[str]:
        skus = set(self.products)
        if accessories:
            skus |= {a["sku"] for p in self.products.values() for a in p["accessories"]}
        return skus

    def expected_stock(self) -> dict[str, int]:
        return {v["sku"]: v["available"] for p in self.products.values() for v in p["variants"]}


@contextmanager
def rig(tmp: Path, pipeline: str = PIPELINE) -> Iterator[Rig]:
    with serve_store(tmp, API_KEY, "catalog.yaml", pipeline) as (url, app, folder):
        yield Rig(tmp, url, API_KEY, tmp / "state.db", folder, app, erp=tmp / "erp.jsonl")
