"""The drift audit's comparison and repair on in-memory doubles, and the pipeline language's
``compare:`` and ``parent:`` checks. The same paths against the sandbox store over loopback
are in tests/integration/test_audit_sandbox.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.api import ConnectorContext, Sink, register_connector, unregister_connector
from runner.engine import run_job
from runner.engine.audit import audit_job, same
from runner.project import load_project
from runner.spec import CompareField, CompareSpec, ConnectorRef, FieldMap, Job, Step
from runner.state.base import StateStore
from tests.support.doubles import MemoryConnector, MemorySink, World


class RecordsSink(MemorySink):
    """The memory destination, listed with each object's fields; ``extra`` objects stand for
    copies a store made behind the runner's back (same natural key, another id)."""

    extra: list[tuple[tuple[str, ...], str, dict[str, Any]]] = []

    def list_records(self) -> Iterator[tuple[tuple[Any, ...], str, dict[str, Any]]]:
        for key, record in self.dest.records.items():
            if self.dest.published.get(key, True):
                yield key, self.dest.ids[key], dict(record)
        yield from self.extra


class RecordsConnector(MemoryConnector):
    name = "memory-records"

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        return RecordsSink(MemoryConnector.world, str(options["name"]))


@pytest.fixture()
def listed(world: World) -> Iterator[World]:
    register_connector(RecordsConnector)
    RecordsSink.extra = []
    yield world
    unregister_connector(RecordsConnector.name)


def _job(compare: CompareSpec | None = None, connector: str = "memory-records") -> Job:
    step = Step(name="products", source=ConnectorRef("memory", {"name": "erp"}),
                destination=ConnectorRef(connector, {"name": "store"}), key=("sku",),
                mappings=(FieldMap("sku", field="sku"), FieldMap("title", field="title"),
                          FieldMap("price", field="price", type="decimal", scale=2)),
                delete="delete", compare=compare or CompareSpec())
    return Job(name="shop", source_file="shop.yaml", steps=(step,))


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"sku": f"S{i:03d}", "title": f"Item {i}", "price": f"{i}.50"} for i in range(n)]


def test_same_compares_values_as_a_destination_serves_them() -> None:
    assert same(Decimal("9.90"), 9.9) and same("9.90", 9.9)
    assert same(9.90, 9.904, 0.01) and not same(9.90, 9.92, 0.01)
    assert not same("007", "7")  # texts stay texts
    assert not same(True, 1) and not same(None, 0) and same(None, None)
    assert same({"sku": "A", "price": "1.00"}, {"sku": "A", "price": 1, "id": "v9"})
    assert not same([{"sku": "A"}], [{"sku": "A"}, {"sku": "B"}])
    assert not same({"size": "M"}, {})  # a field the destination lacks is null


def test_audit_finds_each_kind_and_repair_writes_exactly_that(
        listed: World, state: StateStore) -> None:
    listed.rows["erp"] = _rows(50)
    dest = listed.sink("store")
    job = _job(CompareSpec(fields=(CompareField("title"), CompareField("price", 0.01))))
    assert run_job(job, project=None, state=state).status == "succeeded"
    assert [a.drift for a in audit_job(job, project=None, state=state)] == [0]

    del dest.records[("S001",)]                       # deleted in the store
    dest.records[("S002",)]["title"] = "Edited"       # edited in the store
    dest.records[("S003",)]["price"] = Decimal("3.504")  # within the tolerance
    listed.rows["erp"] = [r for r in _rows(50) if r["sku"] != "S004"]  # deselected
    RecordsSink.extra = [(("S005",), "copy-1", {"sku": "S005", "title": "Item 5"})]
    dest.writes.clear()

    [found] = audit_job(job, project=None, state=state)
    kinds = {(s.kind, s.key[0]) for s in found.samples}
    assert kinds == {("missing", "S001"), ("differs", "S002"), ("unselected", "S004"),
                     ("duplicate", "S005")}
    assert found.samples[[s.kind for s in found.samples].index("differs")].fields == {
        "title": ("Item 2", "Edited")}
    assert dest.writes == []  # an audit alone writes nothing

    [fixed] = audit_job(job, project=None, state=state, repair=True)
    sent = sorted((op.action, op.key[0]) for op in dest.ops)
    assert sent == [("create", "S001"), ("delete", "S004"), ("update", "S002")]
    assert fixed.status == "drift"  # the duplicate is reported, never removed
    assert dest.records[("S002",)]["title"] == "Item 2"
    [again] = audit_job(job, project=None, state=state)
    assert again.counts == {"duplicate": 1}


def test_destination_wins_a_field_reported_and_kept_by_a_repair(
        listed: World, state: StateStore) -> None:
    listed.rows["erp"] = _rows(3)
    dest = listed.sink("store")
    job = _job(CompareSpec(fields=(CompareField("title"),
                                   CompareField("price", 0.01, wins="destination"))))
    run_job(job, project=None, state=state)
    dest.records[("S001",)]["price"] = Decimal("99.00")
    dest.records[("S001",)]["title"] = "Edited"
    [found] = audit_job(job, project=None, state=state)
    assert found.counts == {"kept": 1, "differs": 1} and found.drift == 1
    [fixed] = audit_job(job, project=None, state=state, repair=True)
    assert fixed.status == "repaired"
    assert dest.records[("S001",)]["title"] == "Item 1"
    assert dest.records[("S001",)]["price"] == Decimal("99.00")


def test_a_destination_that_cannot_be_listed_is_skipped_with_what_to_add(
        world: World, state: StateStore) -> None:
    world.rows["erp"] = _rows(2)
    [found] = audit_job(_job(connector="memory"), project=None, state=state)
    assert found.status == "skipped" and "destination.list" in (found.error or "")


PIPE = """version: 1
name: shop
steps:
  - name: products
    source: {{connector: sql, url: "sqlite:///x.db", table: products}}
    key: sku
    map: {{sku: item_id, title: name}}
    compare: {{fields: {{{compare}: {{tolerance: 0.01}}}}}}
    destination: {{connector: sql, url: "sqlite:///y.db", table: products}}
  - name: stock
    source: {{connector: sql, url: "sqlite:///x.db", table: stock}}
    key: sku
    parent: {{step: {parent}, key: [item_id]}}
    destination: {{connector: sql, url: "sqlite:///y.db", table: stock}}
"""


def test_compare_and_parent_are_checked_where_they_are_written(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(PIPE.format(compare="title", parent="products"), encoding="utf-8")
    project = load_project([path])
    assert project.errors == []
    step = project.job("shop").steps[1]
    assert step.parent is not None and step.parent.key == ("item_id",)

    path.write_text(PIPE.format(compare="titel", parent="prodcts"), encoding="utf-8")
    errors = [str(e) for e in load_project([path]).errors]
    assert any(":8:" in e and "'titel' is not a mapped field" in e and "'title'" in e
               for e in errors), errors
    assert any("steps[1].parent.step" in e and "did you mean 'products'" in e
               for e in errors), errors
