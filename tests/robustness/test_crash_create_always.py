"""Nothing written twice on a store whose creates are not idempotent (issue 13).

The sandbox store runs in create-always mode: every create makes a new product with a new id,
SKUs are not unique and ``Idempotency-Key`` is ignored, as on many real stores. The runner
writes products through single-record creates, over REST and over GraphQL, with a declared
``match`` request. It is killed (SIGKILL) again and again right after the store acknowledged a
batch of creates and before that batch was committed, with new products arriving between runs.
Then it runs to the end, and the store must hold every ERP product exactly once. The same after
the state store is deleted and the complete (full) run re-learns the store from its listing.

The store is read through its own admin API (``/v1/_admin/keys``), never through the runner.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.demo.sandbox import FaultConfig, create_app
from tests.support.loopback import serve_app

pytestmark = pytest.mark.slow

LAUNCHER = Path(__file__).resolve().parents[1] / "support" / "crashing_cli.py"
KILL_ENV = "COMMERCE_SYNC_TEST_KILL_AFTER_WRITES"
API_KEY = "create-always-key-5a1f"
KILLS = int(os.environ.get("COMMERCE_SYNC_CRASH_KILLS", "20"))

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
def rig(tmp: Path, pipeline: str) -> Iterator[Rig]:
    app = create_app(str(tmp / "sandbox.db"), API_KEY, faults=FaultConfig(create="always"))
    folder = tmp / "pipelines"
    folder.mkdir()
    (folder / "products.yaml").write_text(pipeline, encoding="utf-8")
    erp = tmp / "erp.db"
    with sqlite3.connect(erp) as conn:
        conn.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, name TEXT, "
                     "list_price TEXT, modified_at TEXT)")
    with serve_app(app) as url:
        yield Rig(tmp, url, erp, tmp / "state.db", folder)


def ids_per_sku(keys: dict[str, Any]) -> dict[str, int]:
    """``{sku: number of products holding it}`` from the admin read."""
    return {sku: int(n) for sku, n in keys["counts"].items()}


def crash_and_converge(r: Rig, rng: random.Random) -> dict[str, int]:
    r.add_items(0, 10)
    assert r.run("validate").returncode == 0
    killed = 0
    next_item = 10
    while killed < KILLS:
        done = r.run("run", "products", **{KILL_ENV: str(rng.randint(1, 3))})
        if done.returncode == -signal.SIGKILL:
            killed += 1
        else:
            assert done.returncode == 0, done.stdout + done.stderr  # ran out of work
        # New products keep arriving, so every run has creates in flight to be killed in.
        r.add_items(next_item, rng.randint(3, 9))
        next_item += 9
    final = r.run("run", "products")
    assert final.returncode == 0, final.stdout + final.stderr
    again = r.run("run", "products")
    assert again.returncode == 0 and "written 0" in again.stdout, again.stdout
    return {"kills": killed, "products": len(r.erp_skus())}


def assert_exactly_once(r: Rig) -> None:
    counts = ids_per_sku(r.store_keys())
    twice = {sku: n for sku, n in counts.items() if n > 1}
    assert twice == {}, f"duplicated at the store: {twice}"
    assert set(counts) == r.erp_skus(), "missing or extra products at the store"


@pytest.mark.parametrize("pipeline", [REST, GRAPHQL], ids=["rest", "graphql"])
def test_sigkills_between_create_and_commit_leave_no_duplicate(
    tmp_path: Path, pipeline: str
) -> None:
    rng = random.Random(13)
    with rig(tmp_path, pipeline) as r:
        figures = crash_and_converge(r, rng)
        assert figures["kills"] >= KILLS
        assert_exactly_once(r)
        # The state store is lost: the complete run re-learns the ids from the listing and
        # updates what exists instead of creating it again.
        r.state.unlink()
        full = r.run("run", "products", "--full")
        assert full.returncode == 0, full.stdout + full.stderr
        assert "created 0" in full.stdout, full.stdout
        assert_exactly_once(r)
        print(f"{figures['kills']} SIGKILLs after acknowledged creates, "
              f"{figures['products']} products, 0 duplicates, 0 missing")
