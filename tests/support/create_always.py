"""A store whose creates always create, and an ERP table of items: the rig of the tests of
issue 13 ("nothing written twice on real stores"). The sandbox runs in create-always mode on
loopback in this process; the CLI runs as a subprocess (through the crash tests' launcher), so
a test can SIGKILL it; the store is read through its own admin API, never through the runner."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.demo.sandbox import FaultConfig
from tests.support.store_rig import GRAPHQL_MATCH, KILL_ENV, StoreRig, serve_store

__all__ = ["API_KEY", "GRAPHQL", "KILL_ENV", "REST", "Rig", "ids_per_sku", "rig"]

API_KEY = "create-always-key-5a1f"

COMMON = """version: 1
name: products
connections:
  erp: {connector: sql, url: "sqlite:///${ERP_DB}"}
  store:
    connector: http
    base_url: "${COMMERCE_URL}"
    auth: {type: api_key, key: "${COMMERCE_API_KEY}", header: X-API-Key}
    max_in_flight: 2
steps:
  - name: products
    source: {connection: erp, table: items, fields: [item_id, name, list_price, modified_at]}
    mode: changes
    key: sku
    batch_size: 4
    delete: ignore
    map:
      sku: item_id
      title: name
      price: {field: list_price, type: decimal, scale: 2}
    errors: {retry: {attempts: 3, backoff: 0.01}}
    destination:
      connection: store
"""

REST = COMMON + """\
      create: {path: /v1/products, body: "{record}", id_path: id}
      update: {method: PUT, path: "/v1/products/{dest_id}", body: "{record}", id_path: id}
      match:
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
"""

GRAPHQL = COMMON + """\
      create:
        graphql:
          document: |
            mutation Create($input: ProductInput!) {
              productCreate(input: $input) { product { id sku } userErrors { field message } }
            }
          variables: {input: {sku: "{sku}", title: "{title}", price: "{price}"}}
        id_path: data.productCreate.product.id
      update:
        graphql:
          document: |
            mutation Update($id: ID!, $input: ProductInput!) {
              productUpdate(id: $id, input: $input) { product { id } userErrors { field message } }
            }
          variables: {id: "{dest_id}", input: {sku: "{sku}", title: "{title}", price: "{price}"}}
        id_path: data.productUpdate.product.id
""" + GRAPHQL_MATCH + """\
      list:
        path: /v1/products
        params: {limit: 1000}
        records: data
        key_fields: [sku]
        id_path: id
        pagination: {type: cursor, param: cursor, next_path: next_cursor}
"""


@dataclass
class Rig(StoreRig):
    erp: Path = Path()

    def erp_env(self) -> dict[str, str]:
        return {"ERP_DB": str(self.erp)}

    def add_items(self, start: int, count: int) -> None:
        with sqlite3.connect(self.erp) as conn:
            conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?)",
                             [(f"P{i:04d}", f"product {i}", f"{i % 90 + 1}.25",
                               "2026-01-01") for i in range(start, start + count)])

    def erp_skus(self) -> set[str]:
        with sqlite3.connect(self.erp) as conn:
            return {row[0] for row in conn.execute("SELECT item_id FROM items")}

    def store_keys(self) -> dict[str, Any]:
        return dict(self.get("/v1/_admin/keys"))


@contextmanager
def rig(tmp: Path, pipeline: str, faults: FaultConfig | None = None) -> Iterator[Rig]:
    erp = tmp / "erp.db"
    with sqlite3.connect(erp) as conn:
        conn.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, name TEXT, "
                     "list_price TEXT, modified_at TEXT)")
    with serve_store(tmp, API_KEY, "products.yaml", pipeline, faults) as (url, app, folder):
        yield Rig(tmp, url, API_KEY, tmp / "state.db", folder, app, erp=erp)


def ids_per_sku(keys: dict[str, Any]) -> dict[str, int]:
    """``{sku: number of products holding it}`` from the admin read."""
    return {sku: int(n) for sku, n in keys["counts"].items()}
