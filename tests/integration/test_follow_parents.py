"""Children follow their parent in incremental runs (issue #15, "the converge flow").

ERP edits (a variant deleted, a product deselected, another selected), then incremental runs
alone: the store must equal what the ERP says, computed with SQL of its own, with no complete
sync. Real parts: the reference ERP in SQLite, the sandbox store over loopback, SQLite state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.demo.erp import set_sell_online
from runner.engine.audit import audit_job
from tests.integration.jobs_harness import (
    JobsWorld,
    expected_catalogue,
    expected_stock,
    jobs_world,
    step,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobsWorld]:
    with jobs_world(tmp_path, products=300) as w:
        w.run("delivery-and-stores")
        w.run("inventory")
        w.run("trade-agreements")
        yield w


def _store_catalogue(world: JobsWorld) -> dict[str, dict[str, object]]:
    return {
        sku: {"title": p["title"], "price": p["price"], "tax_group": p["tax_group"],
              "tax_rate": p["tax_rate"], "dimension_group": p["dimension_group"],
              "variants": {v["sku"]: v["price"] for v in p["variants"]}}
        for sku, p in world.published().items()
    }


def _stock(world: JobsWorld) -> dict[str, int]:
    return {r["sku"]: r["available"] for r in world.all("/v1/inventory")}


def test_incremental_runs_alone_converge_the_store_on_the_erp(world: JobsWorld) -> None:
    [(item, variant)] = world.erp(
        "SELECT item_id, MIN(sku) FROM variants WHERE item_id IN (SELECT item_id FROM products"
        " WHERE sell_online = 1) GROUP BY item_id HAVING COUNT(*) >= 2 ORDER BY item_id LIMIT 1")
    # Products with price lines of their own, so prices follow the selection too.
    priced = ("EXISTS (SELECT 1 FROM trade_agreements t WHERE t.item_code = 'item'"
              " AND t.item_relation = p.item_id)")
    deselected = world.erp(f"SELECT item_id FROM products p WHERE sell_online = 1 AND {priced}"
                           " AND item_id <> ? ORDER BY item_id LIMIT 1", item)[0][0]
    selected = world.erp(f"SELECT item_id FROM products p WHERE sell_online = 0 AND {priced}"
                         " AND EXISTS (SELECT 1 FROM on_hand WHERE sku = item_id)"
                         " ORDER BY item_id LIMIT 1")[0][0]
    stock_before = _stock(world)
    children = {sku for (sku,) in world.erp("SELECT sku FROM variants WHERE item_id = ?",
                                            deselected)} or {deselected}
    assert variant in stock_before and children <= set(stock_before)
    assert _prices(world) == _expected_prices(world)

    # An ERP deletes a variant with its stock; the trigger stamps its product.
    world.erp("DELETE FROM on_hand WHERE sku = ?", variant)
    world.erp("DELETE FROM variants WHERE sku = ?", variant)
    assert set_sell_online(world.erp_path, [deselected], False) == 1
    assert set_sell_online(world.erp_path, [selected], True) == 1

    result = world.run("inventory")  # incremental, as scheduled: no complete sync
    world.run("trade-agreements")

    products, stock = step(result, "products"), step(result, "stock")
    assert products.removed == 1  # the deselected product, unpublished now
    assert stock.removed == 1 + len(children)
    assert world.products()[deselected]["published"] is False
    assert variant not in {v["sku"] for v in world.products()[item]["variants"]}
    assert _store_catalogue(world) == expected_catalogue(world)
    assert _stock(world) == expected_stock(world)
    assert selected in _stock(world)
    prices = _prices(world)
    assert prices == _expected_prices(world)
    assert selected in prices.values() and deselected not in prices.values()

    again = world.run("inventory")
    assert [(s.written, s.removed) for s in again.steps] == [(0, 0), (0, 0)]
    audits = audit_job(world.project.job("inventory"), project=world.project, state=world.state)
    audits += audit_job(world.project.job("trade-agreements"), project=world.project,
                        state=world.state)
    assert [(a.step, a.drift) for a in audits] == [("products", 0), ("stock", 0), ("prices", 0)]


def _prices(world: JobsWorld) -> dict[str, str | None]:
    """Price line id -> the item it is for (None: a group or all-item line), in the store."""
    return {str(r["id"]): r["sku"] for r in world.all("/v1/prices")}


def _expected_prices(world: JobsWorld) -> dict[str, str | None]:
    rows = world.erp(
        "SELECT t.id, CASE WHEN t.item_code = 'item' THEN t.item_relation END FROM"
        " trade_agreements t LEFT JOIN products p ON p.item_id = t.item_relation"
        " WHERE t.item_code <> 'item' OR p.sell_online = 1")
    return {str(i): sku for i, sku in rows}
