"""Against the sandbox store behaving as real stores do (issue 13): objects made outside the
runner are adopted by ``match: {when: always}``, and errors a store reports inside HTTP 200 are
quarantined with the store's own message while the rest lands, then sent again by a later run
once the cause is fixed. The CLI runs as a subprocess; the store is read through its admin API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx

from runner.demo.sandbox import FaultConfig
from tests.support.create_always import API_KEY, GRAPHQL, REST, ids_per_sku, rig


def _always(pipeline: str) -> str:
    return pipeline.replace("      match:\n", "      match:\n        when: always\n", 1)


def test_a_first_sync_adopts_what_the_store_already_holds(tmp_path: Path) -> None:
    with rig(tmp_path, _always(REST)) as r:
        r.add_items(0, 6)
        headers = {"X-API-Key": API_KEY}
        made = {}
        for sku in ("P0001", "P0004"):  # created by hand in the store's admin, say
            answer = httpx.post(f"{r.url}/v1/products", headers=headers, json={
                "sku": sku, "title": "typed by hand", "price": 1.0}, timeout=10)
            answer.raise_for_status()
            made[sku] = answer.json()["id"]
        done = r.run("run", "products")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "created 4, updated 2" in done.stdout, done.stdout
        assert ids_per_sku(r.store_keys()) == dict.fromkeys(r.erp_skus(), 1)
        adopted = httpx.get(f"{r.url}/v1/products/{made['P0001']}", headers=headers, timeout=10)
        assert adopted.json()["title"] == "product 1"  # the ERP's data, on the same object


def test_errors_inside_200_are_quarantined_and_sent_again_once_fixed(tmp_path: Path) -> None:
    for pipeline in (REST, GRAPHQL):
        base = tmp_path / ("graphql" if pipeline is GRAPHQL else "rest")
        base.mkdir()
        faults = FaultConfig(create="always", errors_in_200=True)
        with rig(base, pipeline, faults) as r:
            r.add_items(0, 5)
            with sqlite3.connect(r.erp) as conn:  # the store refuses this title in a 200
                conn.execute("UPDATE items SET name = 'REFUSE: on hold' WHERE item_id = 'P0002'")
            first = r.run("run", "products")
            assert first.returncode == 3, first.stdout + first.stderr  # partial
            assert set(ids_per_sku(r.store_keys())) == r.erp_skus() - {"P0002"}
            held = json.loads(r.run("quarantine", "list", "--format", "json").stdout)
            assert [h["key"] for h in held] == [["P0002"]]
            assert "on hold" in held[0]["reason"]  # the store's own words, not a status line
            with sqlite3.connect(r.erp) as conn:
                conn.execute("UPDATE items SET name = 'on sale' WHERE item_id = 'P0002'")
            second = r.run("run", "products")  # no hash was stored: the record is sent again
            assert second.returncode == 0, second.stdout + second.stderr
            assert ids_per_sku(r.store_keys()) == dict.fromkeys(r.erp_skus(), 1)
            assert json.loads(r.run("quarantine", "list", "--format", "json").stdout) == []


CUSTOMERS = """version: 1
name: web-customers
steps:
  - name: customers
    source:
      connector: http
      base_url: "${COMMERCE_URL}"
      auth: {type: api_key, key: "${COMMERCE_API_KEY}", header: X-API-Key}
      request: {path: /v1/orders, params: {limit: 200}}
      records: data
      pagination: {type: cursor, param: cursor, next_path: next_cursor}
    key: email
    map:
      email: {field: customer.email, required: true}
      name: customer.name
    destination:
      connector: sql
      url: "${ERP_DATABASE_URL}"
      table: web_customers
      mode: upsert
"""


def test_the_erp_adopts_customers_it_already_holds(tmp_path: Path) -> None:
    """The ERP side of a first sync: a customer the ERP already has (by email, from its own
    shop counter) is updated in place, not added again: the SQL destination upserts by the
    natural key its table declares unique."""
    from runner.demo.erp import create_erp
    from runner.demo.sandbox import create_app
    from runner.engine import run_job
    from runner.project import load_project
    from runner.state import open_state
    from tests.integration.jobs_harness import PIPELINES, JobsWorld
    from tests.support.loopback import serve_app

    erp = tmp_path / "erp.db"
    create_erp(erp, products=40)
    with sqlite3.connect(erp) as conn:
        conn.execute("CREATE TABLE web_customers (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "email TEXT NOT NULL UNIQUE, name TEXT)")
        conn.execute("INSERT INTO web_customers (email, name) VALUES ('e2e@example.com', "
                     "'E. Tester (counter)')")
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "customers.yaml").write_text(CUSTOMERS, encoding="utf-8")
    with serve_app(create_app(str(tmp_path / "sandbox.db"), API_KEY)) as url:
        env = {"ERP_DATABASE_URL": f"sqlite:///{erp}", "COMMERCE_URL": url,
               "COMMERCE_API_KEY": API_KEY}
        inventory = load_project([PIPELINES], env=env)
        project = load_project([folder], env=env)
        project.raise_for_errors()
        state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
        with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30) as http:
            shop = JobsWorld(tmp_path, erp, tmp_path / "state.db", inventory, state, url, http)
            shop.run("delivery-and-stores")
            shop.run("inventory")
            sku = next(iter(shop.published()))
            shop.place_order([sku])  # by e2e@example.com, the customer the ERP already has
        result = run_job(project.job("web-customers"), project=project, state=state)
        assert result.status == "succeeded", result.error
        state.close()
    with sqlite3.connect(erp) as conn:
        rows = conn.execute("SELECT id, email, name FROM web_customers").fetchall()
    assert rows == [(1, "e2e@example.com", "Edda Tester")]  # the same row, the store's name
