"""Drift audit and repair against the sandbox store over loopback (issue #15, "Done when").

The store is edited behind the runner's back through its own REST API; the audit must find
each edit exactly (no false positive over the unchanged rest of the catalogue), ``--repair``
must fix exactly those, and a second audit must report no drift. What the store holds after
the repair is read back over HTTP, never taken from the engine's own view.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from runner.demo.erp import set_sell_online
from runner.engine.audit import StepAudit, audit_job
from runner.state.audits import last_audits
from tests.integration.jobs_harness import API_KEY, PIPELINES, JobsWorld, jobs_world


def _keys(audit: StepAudit, kind: str) -> set[str]:
    assert audit.counts.get(kind, 0) <= 20, "samples hold 20 per kind; keep edits fewer"
    return {"/".join(s.key) for s in audit.samples if s.kind == kind}


def _audit(world: JobsWorld, job: str, *, repair: bool = False) -> dict[str, StepAudit]:
    found = audit_job(world.project.job(job), project=world.project, state=world.state,
                      repair=repair)
    return {a.step: a for a in found}


def _put(world: JobsWorld, product: dict[str, Any], **change: Any) -> None:
    body = {k: v for k, v in product.items() if k not in ("id", "updated_at")}
    body.update(change)
    world.http.put(f"/v1/products/{product['id']}", json=body).raise_for_status()


class _Edits:
    """The edits made behind the runner's back, by kind, as natural keys."""

    def __init__(self, world: JobsWorld) -> None:
        world.run("delivery-and-stores")
        world.run("inventory")
        world.run("trade-agreements")
        products = world.published()
        plain = sorted(s for s, p in products.items() if not p["variants"])
        with_variants = sorted(s for s, p in products.items() if len(p["variants"]) >= 2)
        # A product deselected in the ERP and unpublished by a complete run, then published
        # again in the store's admin.
        self.republished = plain[0]
        set_sell_online(world.erp_path, [self.republished], False)
        world.run("inventory", full=True)
        assert world.products()[self.republished]["published"] is False
        products = world.products()
        self.deleted = plain[1]
        world.http.delete(f"/v1/products/{products[self.deleted]['id']}").raise_for_status()
        self.retitled = plain[2]
        _put(world, products[self.retitled], title="Edited in the store")
        self.repriced = plain[3]  # the store's admin wins the price: reported, kept
        self.store_price = round(products[self.repriced]["price"] + 5, 2)
        _put(world, products[self.repriced], price=self.store_price)
        self.variant_removed = with_variants[0]
        p = products[self.variant_removed]
        _put(world, p, variants=p["variants"][1:])
        _put(world, products[self.republished], published=True)
        # A stock row of the deselected product, put back in the store: a stale child.
        self.stale_sku = self.republished
        world.http.post("/v1/inventory/batch", json={"records": [
            {"sku": self.stale_sku, "available": 7}]}).raise_for_status()
        stock = {r["sku"]: r["available"] for r in world.all("/v1/inventory")}
        self.stock_sku = sorted(s for s in stock if s in products and stock[s] > 0
                                and s != self.stale_sku)[5]
        self.stock_was = stock[self.stock_sku]
        world.http.post("/v1/inventory/batch", json={"records": [
            {"sku": self.stock_sku, "available": self.stock_was - 1}]}).raise_for_status()
        prices = {r["id"]: r for r in world.all("/v1/prices")}
        self.agreement = sorted(i for i, r in prices.items() if r["amount"] is not None)[0]
        line = {k: v for k, v in prices[self.agreement].items() if k != "updated_at"}
        self.amount_was = line["amount"]
        line["amount"] = round(line["amount"] * 2 + 1, 2)
        world.http.post("/v1/prices/batch", json={"records": [line]}).raise_for_status()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobsWorld]:
    with jobs_world(tmp_path, products=2000) as w:
        yield w


def _assert_found_exactly(e: _Edits, inv: dict[str, StepAudit],
                          trade: dict[str, StepAudit]) -> None:
    products, stock, prices = inv["products"], inv["stock"], trade["prices"]
    assert products.source_records > 400  # the unchanged catalogue the audit compared
    assert _keys(products, "missing") == {e.deleted}
    assert _keys(products, "unselected") == {e.republished}
    assert _keys(products, "differs") == {e.retitled, e.variant_removed}
    assert _keys(products, "kept") == {e.repriced}
    assert products.drift == 4 and products.status == "drift"
    differs = {"/".join(s.key): s for s in products.samples if s.kind == "differs"}
    assert set(differs[e.retitled].fields) == {"title"}
    assert differs[e.retitled].fields["title"][1] == "Edited in the store"
    assert set(differs[e.variant_removed].fields) == {"variants"}
    kept = next(s for s in products.samples if s.kind == "kept")
    assert kept.fields["price"][1] == e.store_price
    assert _keys(stock, "differs") == {e.stock_sku} and stock.drift == 2
    assert _keys(stock, "stale_child") == {e.stale_sku}
    assert stock.samples[0].fields["available"] == (e.stock_was, e.stock_was - 1)
    assert _keys(prices, "differs") == {e.agreement} and prices.drift == 1


def test_each_edit_behind_the_runners_back_is_found_and_repaired_exactly(
        world: JobsWorld) -> None:
    _found_and_repaired_exactly(world)


@pytest.mark.slow
def test_no_false_positive_over_100000_products(tmp_path: Path) -> None:
    with jobs_world(tmp_path, products=100_000) as w:
        _found_and_repaired_exactly(w)


def _found_and_repaired_exactly(world: JobsWorld) -> None:
    e = _Edits(world)
    before_other = {s: p for s, p in world.products().items()
                    if s not in (e.deleted, e.retitled, e.repriced, e.variant_removed,
                                 e.republished)}

    _assert_found_exactly(e, _audit(world, "inventory"), _audit(world, "trade-agreements"))

    inv = _audit(world, "inventory", repair=True)
    trade = _audit(world, "trade-agreements", repair=True)
    assert inv["products"].status == "repaired"
    assert inv["products"].repaired == {"upserted": 3, "removed": 1}
    assert inv["stock"].repaired == {"upserted": 1, "removed": 1}
    assert trade["prices"].repaired == {"upserted": 1}

    store = world.products()
    assert store[e.deleted]["published"] is True
    assert store[e.retitled]["title"] != "Edited in the store"
    assert store[e.republished]["published"] is False
    assert store[e.repriced]["price"] == e.store_price  # the destination won it
    assert len(store[e.variant_removed]["variants"]) >= 2
    stock = {r["sku"]: r["available"] for r in world.all("/v1/inventory")}
    assert stock[e.stock_sku] == e.stock_was and e.stale_sku not in stock
    assert {r["id"]: r["amount"] for r in world.all("/v1/prices")}[e.agreement] == e.amount_was
    # Nothing else was touched: not even rewritten.
    after_other = {s: p for s, p in store.items() if s in before_other}
    assert after_other == before_other

    again = {**_audit(world, "inventory"), **_audit(world, "trade-agreements")}
    assert {name: a.drift for name, a in again.items()} == {"products": 0, "stock": 0,
                                                            "prices": 0}
    assert _keys(again["products"], "kept") == {e.repriced}
    # The repair committed the hashes: the next incremental run has nothing to write.
    assert sum(s.written for s in world.run("inventory").steps) == 0


def test_audit_command_exit_codes_and_last_audit_in_state(
        world: JobsWorld, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    e = _Edits(world)
    monkeypatch.setenv("ERP_DATABASE_URL", f"sqlite:///{world.erp_path}")
    monkeypatch.setenv("COMMERCE_URL", world.store_url)
    monkeypatch.setenv("COMMERCE_API_KEY", API_KEY)
    common = ["--pipelines", str(PIPELINES), "--state", str(world.state_path)]

    assert main(["audit", "inventory", "--step", "stock", *common]) == 1
    out = capsys.readouterr().out
    assert f"differs    {e.stock_sku} available: source {e.stock_was} destination " \
           f"{e.stock_was - 1}" in out
    [recorded] = last_audits(world.state, "inventory")
    assert (recorded.step, recorded.status, recorded.drift) == ("stock", "drift", 2)

    assert main(["audit", "inventory", "--step", "stock", "--repair", *common]) == 0
    assert main(["audit", "inventory", "--step", "stock", "--format", "json", *common]) == 0
    assert '"drift": 0' in capsys.readouterr().out
    assert main(["audit", "inventory", "--step", "nope", *common]) == 2


def test_a_duplicate_made_in_the_store_is_found_and_reported_not_removed(
        tmp_path: Path) -> None:
    """The store's creates always create (as many real stores'): a second object with a SKU
    the runner already wrote is a duplicate the audit finds, with both ids; the repair keeps
    the object the key map holds and never deletes the other (a person decides)."""
    with jobs_world(tmp_path, products=300) as world:
        world.run("delivery-and-stores")
        world.run("inventory")
        faults = world.http.get("/v1/_admin/faults").raise_for_status().json()
        world.http.put("/v1/_admin/faults", json={**faults, "create": "always"}
                       ).raise_for_status()
        sku, original = sorted(world.published().items())[0]
        body = {k: v for k, v in original.items() if k not in ("id", "updated_at")}
        copy = world.http.post("/v1/products", json=body).raise_for_status().json()
        assert copy["id"] != original["id"]

        products = _audit(world, "inventory")["products"]
        assert _keys(products, "duplicate") == {sku}
        assert products.counts.get("duplicate") == 1
        assert {k for k, n in products.counts.items() if n and k != "duplicate"} <= {"kept"}
        repaired = _audit(world, "inventory", repair=True)["products"]
        assert repaired.counts.get("duplicate") == 1
        ids = {p["id"] for p in world.all("/v1/products", sku=sku)}
        assert ids == {original["id"], copy["id"]}  # reported, neither deleted
        kept = world.state.keymap_get("inventory", "products", [(sku,)])[(sku,)]
        assert kept == str(original["id"])  # the key map still points at the live object
