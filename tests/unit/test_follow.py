"""Children follow their parent in incremental runs (``parent:``), on in-memory doubles and a
real SQLite state store: a parent selected again brings its children though their own cursor
did not move; a parent deselected takes its children with it. The same against the ERP and
the sandbox store is tests/integration/test_follow_parents.py."""

from __future__ import annotations

from runner.engine import run_job
from runner.spec import Compare, ConnectorRef, CursorSpec, FieldMap, Job, ParentRef, Step
from runner.state.base import StateStore
from tests.support.doubles import World

SELECTED = Compare("selected", "equals", True)


def _job() -> Job:
    products = Step(
        name="products", source=ConnectorRef("memory", {"name": "items"}),
        destination=ConnectorRef("memory", {"name": "shop-products"}), key=("sku",),
        mode="incremental", cursor=CursorSpec("modified"), filter=SELECTED,
        mappings=(FieldMap("sku", field="item_id"), FieldMap("title", field="name")),
        delete="unpublish")
    prices = Step(
        name="prices", source=ConnectorRef("memory", {"name": "lines"}),
        destination=ConnectorRef("memory", {"name": "shop-prices"}), key=("id",),
        mode="incremental", cursor=CursorSpec("modified"), filter=SELECTED,
        mappings=(FieldMap("id", field="id"), FieldMap("amount", field="amount")),
        parent=ParentRef("products", ("item_id",)), delete="delete")
    return Job(name="catalogue", source_file="catalogue.yaml", steps=(products, prices))


def test_children_follow_selection_and_deselection_of_their_parent(
        world: World, state: StateStore) -> None:
    world.rows["items"] = [
        {"item_id": "P1", "name": "One", "selected": True, "modified": 1},
        {"item_id": "P2", "name": "Two", "selected": False, "modified": 1},
    ]
    world.rows["lines"] = [
        {"id": "X1", "item_id": "P1", "amount": 10, "selected": True, "modified": 1},
        # Older than the cursor the first run leaves: only the parent can bring it.
        {"id": "X2", "item_id": "P2", "amount": 20, "selected": False, "modified": 0},
    ]
    job = _job()
    run_job(job, project=None, state=state)
    prices = world.sink("shop-prices")
    assert set(prices.records) == {("X1",)}

    world.rows["items"][1].update(selected=True, modified=2)  # P2 selected
    world.rows["lines"][1]["selected"] = True  # the line's own stamp does not move
    second = run_job(job, project=None, state=state)
    assert second.status == "succeeded", second.error
    assert set(prices.records) == {("X1",), ("X2",)}
    assert [s.written for s in second.steps] == [1, 1]

    world.rows["items"][0].update(selected=False, modified=3)  # P1 deselected
    world.rows["lines"][0]["selected"] = False
    third = run_job(job, project=None, state=state)
    assert [s.removed for s in third.steps] == [1, 1]
    assert world.sink("shop-products").published[("P1",)] is False
    assert set(prices.records) == {("X2",)}

    fourth = run_job(job, project=None, state=state)  # nothing left to follow
    assert [(s.written, s.removed) for s in fourth.steps] == [(0, 0), (0, 0)]


def test_a_first_incremental_run_reads_its_window_once(world: World, state: StateStore) -> None:
    """A first run's window is the whole source and nothing was written before it, so there is
    nothing to find deselected: no second read with the filter negated (it cost 40% of a
    200,000-product first sync's CPU). A later run reads its window again, negated, which is
    how a deselection is found."""
    world.rows["items"] = [
        {"item_id": "P1", "name": "One", "selected": True, "modified": 1},
        {"item_id": "P2", "name": "Two", "selected": False, "modified": 1},
    ]
    world.rows["lines"] = [
        {"id": "X1", "item_id": "P1", "amount": 10, "selected": True, "modified": 1}]
    job = _job()
    first = run_job(job, project=None, state=state)
    assert [s.written for s in first.steps] == [1, 1]
    assert len(world.requests) == 2  # products and prices, one read each

    world.requests.clear()
    world.rows["items"][0].update(selected=False, modified=2)
    world.rows["lines"][0].update(selected=False, modified=2)
    second = run_job(job, project=None, state=state)
    assert [s.removed for s in second.steps] == [1, 1]
    assert len(world.requests) == 4  # each window, then again for what left the filter


def test_deselection_reads_only_the_key_fields(world: World, state: StateStore) -> None:
    """The negated read only finds keys: with the key a plain copy of a source field, it asks
    for the fields that give it (and the filter's, and the cursor's), not the mapped ones, and
    the deselected product is unpublished as before."""
    world.rows["items"] = [
        {"item_id": "P1", "name": "One", "selected": True, "modified": 1},
        {"item_id": "P2", "name": "Two", "selected": True, "modified": 1},
    ]
    world.rows["lines"] = []
    job = _job()
    run_job(job, project=None, state=state)
    world.requests.clear()
    world.rows["items"][0].update(selected=False, modified=2)
    second = run_job(job, project=None, state=state)
    assert second.steps[0].removed == 1
    assert world.sink("shop-products").published[("P1",)] is False
    window, negated = world.requests[:2]
    assert set(window.fields or ()) == {"item_id", "name", "modified", "selected"}
    assert set(negated.fields or ()) == {"item_id", "modified", "selected"}
