"""A store whose creates always create, and an ERP table of items: the rig of the tests of
issue 13 ("nothing written twice on real stores"). The sandbox runs in create-always mode on
loopback in this process; the CLI runs as a subprocess (through the crash tests' launcher), so
a test can SIGKILL it; the store is read through its own admin API, never through the runner."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.demo.sandbox import FaultConfig, create_app
from tests.support.loopback import serve_app

LAUNCHER = Path(__file__).resolve().parent / "crashing_cli.py"
KILL_ENV = "COMMERCE_SYNC_TEST_KILL_AFTER_WRITES"
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
      match:
        records: data.products.nodes
        key_fields: [sku]
        id_path: id
        batch: 50
        graphql:
          document: |
            query Match($skus: [String!], $after: String) {
              products(skus: $skus, first: 250, after: $after) {
                nodes { id sku } pageInfo { hasNextPage endCursor }
              }
            }
          variables: {skus: "{keys}"}
          page_info: data.products.pageInfo
      list:
        path: /v1/products
        params: {limit: 1000}
        records: data
        key_fields: [sku]
        id_path: id
        pagination: {type: cursor, param: cursor, next_path: next_cursor}
"""


@dataclass
class Rig:
    tmp: Path
    url: str
    erp: Path
    state: Path
    pipelines: Path
    gate: Any  # the sandbox's Gate: set_faults at runtime

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMERCE_")}
        env.update(ERP_DB=str(self.erp), COMMERCE_URL=self.url, COMMERCE_API_KEY=API_KEY,
                   COMMERCE_SYNC_STATE=str(self.state),
                   COMMERCE_SYNC_PIPELINES=str(self.pipelines), PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(LAUNCHER), *args], env=self.env(**extra),
                              capture_output=True, text=True, timeout=180, cwd=self.tmp)

    def add_items(self, start: int, count: int) -> None:
        with sqlite3.connect(self.erp) as conn:
            conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?)",
                             [(f"P{i:04d}", f"product {i}", f"{i % 90 + 1}.25",
                               "2026-01-01") for i in range(start, start + count)])

    def erp_skus(self) -> set[str]:
        with sqlite3.connect(self.erp) as conn:
            return {row[0] for row in conn.execute("SELECT item_id FROM items")}

    def store_keys(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/v1/_admin/keys", headers={"X-API-Key": API_KEY},
                           timeout=30)
        answer.raise_for_status()
        return dict(answer.json())


@contextmanager
def rig(tmp: Path, pipeline: str, faults: FaultConfig | None = None) -> Iterator[Rig]:
    app = create_app(str(tmp / "sandbox.db"), API_KEY,
                     faults=faults or FaultConfig(create="always"))
    folder = tmp / "pipelines"
    folder.mkdir()
    (folder / "products.yaml").write_text(pipeline, encoding="utf-8")
    erp = tmp / "erp.db"
    with sqlite3.connect(erp) as conn:
        conn.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, name TEXT, "
                     "list_price TEXT, modified_at TEXT)")
    with serve_app(app) as url:
        yield Rig(tmp, url, erp, tmp / "state.db", folder, app)


def ids_per_sku(keys: dict[str, Any]) -> dict[str, int]:
    """``{sku: number of products holding it}`` from the admin read."""
    return {sku: int(n) for sku, n in keys["counts"].items()}


