"""Ids found by a natural key of several columns on SQLite (connectors.sql._keys): one index
search per key whatever the table holds, the same ids as SQLAlchemy's tuple IN, and that
statement kept for keys whose values SQLite would not compare as written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.api import ConnectorContext, WriteOp
from connectors.sql import SqlConnector


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    sa.Table("orders", meta,
             sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("store", sa.Text, nullable=False),
             sa.Column("number", sa.Text, nullable=False),
             sa.Column("placed", sa.Date),
             sa.Column("total", sa.Numeric(10, 2)),
             sa.UniqueConstraint("store", "number"))
    sa.Table("stamped", meta,
             sa.Column("stamp_id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("store", sa.Text, nullable=False),
             sa.Column("day", sa.Date, nullable=False),
             sa.UniqueConstraint("store", "day"))
    meta.create_all(engine)
    with engine.begin() as conn:  # rows already there, other keys: found by nobody
        conn.execute(sa.text("INSERT INTO orders (store, number) VALUES (:s, :n)"),
                     [{"s": "old", "n": f"o{i}"} for i in range(500)])
    engine.dispose()
    return url


def _sink(url: str, table: str, key: list[str]) -> object:
    return SqlConnector().open_sink({"url": url, "table": table, "key": key},
                                    ConnectorContext(job="j", step="s", key_fields=tuple(key)))


def _ids(url: str, table: str, idcol: str, key: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = {tuple(str(v) for v in row[1:]): str(row[0]) for row in conn.execute(
            sa.text(f"SELECT {idcol}, {', '.join(key)} FROM {table}"))}
    engine.dispose()
    return found


def test_text_and_integer_keys_get_the_ids_their_rows_hold(url: str) -> None:
    sink = _sink(url, "orders", ["store", "number"])
    ops = [WriteOp("upsert", ("web", f"n{i}"), {"store": "web", "number": f"n{i}"})
           for i in range(30)]
    # an integer key value, stored by the column's affinity as text, and a quote in a key
    ops += [WriteOp("upsert", ("web", 7), {"store": "web", "number": 7}),
            WriteOp("upsert", ("we'b", 'x"y'), {"store": "we'b", "number": 'x"y'})]
    first = sink.write(ops)  # type: ignore[attr-defined]
    again = sink.write(ops[::-1])  # type: ignore[attr-defined]  (updates: the same rows)
    assert sink._sqlite_json is True  # type: ignore[attr-defined]
    sink.close()  # type: ignore[attr-defined]
    stored = _ids(url, "orders", "order_id", ("store", "number"))
    expected = [stored[(str(op.key[0]), str(op.key[1]))] for op in ops]
    assert [o.dest_id for o in first] == expected
    assert [o.dest_id for o in again] == expected[::-1]
    assert len(stored) == 500 + len(ops)


def test_the_look_up_searches_the_key_index_and_does_not_scan_the_table(url: str) -> None:
    sink = _sink(url, "orders", ["store", "number"])
    sink.write([WriteOp("upsert", ("web", "n1"),  # type: ignore[attr-defined]
                        {"store": "web", "number": "n1"})])
    sql = sink._ids_sql  # type: ignore[attr-defined]
    sink.close()  # type: ignore[attr-defined]
    assert sql is not None
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}", ('[["web", "n1"], ["web", "n2"]]',))]
    engine.dispose()
    on_orders = [step for step in plan if " t " in f" {step} " or step.endswith(" t")]
    assert on_orders and all(step.startswith("SEARCH") for step in on_orders), plan


def test_a_date_key_keeps_sqlalchemys_statement_and_finds_its_rows(url: str) -> None:
    sink = _sink(url, "stamped", ["store", "day"])
    days = [dt.date(2024, 5, d) for d in (1, 2, 3)]
    ops = [WriteOp("upsert", ("web", d), {"store": "web", "day": d}) for d in days]
    out = sink.write(ops)  # type: ignore[attr-defined]
    sink.close()  # type: ignore[attr-defined]
    stored = _ids(url, "stamped", "stamp_id", ("store", "day"))
    assert [o.dest_id for o in out] == [stored[("web", d.isoformat())] for d in days]
