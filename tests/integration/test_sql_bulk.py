"""BulkWriter: many rows through one statement on SQLite without SQLAlchemy's per-row
parameter work, holding exactly what ``conn.execute(stmt, rows)`` holds, and raising what it
raises when a value cannot be bound."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from connectors.sql._bulk import BulkWriter

ROWS: list[dict[str, Any]] = [
    {"sku": "A1", "price": Decimal("9.95"), "at": dt.datetime(2024, 5, 1, 10, 30),
     "on": True, "day": dt.date(2024, 5, 1), "doc": {"a": [1, 2]}},
    {"sku": "A2", "price": None, "at": None, "on": None, "day": None, "doc": None},
    {"sku": "A3", "price": Decimal("0.10"), "at": dt.datetime(2024, 5, 2), "on": False,
     "day": dt.date(2024, 12, 31), "doc": []},
]


def _table(meta: sa.MetaData) -> sa.Table:
    return sa.Table("items", meta, sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("sku", sa.String, unique=True), sa.Column("price", sa.Numeric(10, 2)),
                    sa.Column("at", sa.DateTime), sa.Column("on", sa.Boolean),
                    sa.Column("day", sa.Date), sa.Column("doc", sa.JSON))


PLANS: list[Any] = []  # what the last fast write compiled (None: it went through SQLAlchemy)


def _written(tmp_path: Path, name: str, fast: bool, rows: list[dict[str, Any]],
             upsert: bool = False) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / name}")
    table = _table(sa.MetaData())
    table.metadata.create_all(engine)
    stmt: Any = table.insert()
    if upsert:
        ins = sqlite.insert(table)
        stmt = ins.on_conflict_do_update(index_elements=[table.c.sku],
                                         set_={"price": ins.excluded.price})
    bulk = BulkWriter(engine.dialect)
    with engine.begin() as conn:
        for batch in (rows, rows) if upsert else (rows,):
            if fast:
                bulk.execute(conn, "items", stmt, batch)
            else:
                conn.execute(stmt, batch)
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            'SELECT id, sku, price, at, "on", day, doc FROM items ORDER BY id').all()
    engine.dispose()
    PLANS[:] = list(bulk._plans.values())
    return [tuple(r) for r in raw]


@pytest.mark.parametrize("upsert", [False, True])
def test_the_fast_path_stores_what_sqlalchemy_stores(tmp_path: Path, upsert: bool) -> None:
    slow = _written(tmp_path, "slow.db", False, ROWS, upsert)
    fast = _written(tmp_path, "fast.db", True, ROWS, upsert)
    assert fast == slow and len(fast) == 3
    assert PLANS and all(plan is not None for plan in PLANS)  # the fast path did the writing


def test_a_value_a_column_cannot_bind_raises_what_sqlalchemy_raises(tmp_path: Path) -> None:
    bad = [dict(ROWS[0]), {**ROWS[2], "at": "2024-05-02 10:00"}]  # text in a DateTime column
    with pytest.raises(sa.exc.StatementError) as slow:
        _written(tmp_path, "slow.db", False, bad)
    with pytest.raises(sa.exc.StatementError) as fast:
        _written(tmp_path, "fast.db", True, bad)
    assert type(fast.value) is type(slow.value) and str(fast.value) == str(slow.value)


def test_rows_of_different_shapes_go_through_sqlalchemy(tmp_path: Path) -> None:
    mixed = [{"sku": "A1", "price": Decimal("1.00")}, {"sku": "A2"}]
    with pytest.raises(sa.exc.StatementError) as slow:  # SQLAlchemy refuses a missing value
        _written(tmp_path, "slow.db", False, mixed)
    with pytest.raises(sa.exc.StatementError) as fast:
        _written(tmp_path, "fast.db", True, mixed)
    assert str(fast.value) == str(slow.value)
