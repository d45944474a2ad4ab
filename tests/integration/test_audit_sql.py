"""The audit against a real SQL destination (a SQLite file): the sql sink's ``list_records``
lists every row with its columns, an edit made with plain SQL behind the runner's back is
found, and ``--repair`` writes it back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from runner.engine import run_job
from runner.engine.audit import audit_job
from runner.spec import CompareField, CompareSpec, ConnectorRef, FieldMap, Job, Step
from runner.state import open_state
from runner.state.base import StateStore
from tests.support.doubles import World, register, unregister


@pytest.fixture()
def world() -> Iterator[World]:
    yield register()
    unregister()


@pytest.fixture()
def state() -> Iterator[StateStore]:
    store = open_state("sqlite://")
    yield store
    store.close()


def test_sql_destination_is_audited_and_repaired(tmp_path: Path, world: World,
                                                 state: StateStore) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "sku TEXT UNIQUE NOT NULL, title TEXT, price NUMERIC(10, 2))"))
    world.rows["erp"] = [{"sku": f"S{i:03d}", "title": f"Item {i}", "price": f"{i}.25"}
                         for i in range(1, 201)]
    step = Step(name="items", source=ConnectorRef("memory", {"name": "erp"}),
                destination=ConnectorRef("sql", {"url": url, "table": "items"}), key=("sku",),
                mappings=(FieldMap("sku", field="sku"), FieldMap("title", field="title"),
                          FieldMap("price", field="price", type="decimal", scale=2)),
                delete="delete",
                compare=CompareSpec(fields=(CompareField("title"), CompareField("price", 0.01))))
    job = Job(name="sqlshop", source_file="sqlshop.yaml", steps=(step,))
    assert run_job(job, project=None, state=state).status == "succeeded"
    [clean] = audit_job(job, project=None, state=state)
    assert (clean.drift, clean.source_records, clean.dest_records) == (0, 200, 200)

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE items SET price = 99 WHERE sku = 'S007'"))
        conn.execute(sa.text("DELETE FROM items WHERE sku = 'S100'"))
        conn.execute(sa.text("INSERT INTO items (sku, title, price) VALUES ('X1', 'Old', 1)"))
    [found] = audit_job(job, project=None, state=state)
    assert {(s.kind, s.key[0]) for s in found.samples} == {
        ("differs", "S007"), ("missing", "S100"), ("unselected", "X1")}

    [fixed] = audit_job(job, project=None, state=state, repair=True)
    assert fixed.status == "repaired"
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT sku, price FROM items")).all())
    assert len(rows) == 200 and "X1" not in rows
    assert float(rows["S007"]) == 7.25 and float(rows["S100"]) == 100.25
    assert audit_job(job, project=None, state=state)[0].drift == 0
    engine.dispose()
