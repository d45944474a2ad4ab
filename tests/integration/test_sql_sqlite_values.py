"""SQLite's typed columns hold anything (a NUMERIC column takes 'abc'): the sql source reads a
`table:` source's values as SQLAlchemy would (Decimal for NUMERIC, datetime for DATETIME...),
and a value that cannot be read as its column's type sets that one record aside, with its
reason, while the rest of the batch goes on. PostgreSQL and MariaDB refuse such a value when it
is written, so this is SQLite's alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.api import BadRecord, ConnectorContext, ReadRequest, Rows
from connectors.sql import SqlConnector
from runner.engine import run_job
from runner.spec import ConnectorRef, FieldMap, Job, Step
from runner.state import open_state

ROWS: list[tuple[Any, ...]] = [
    ("A1", "1.5", "2024-05-01 10:00:00", 1),
    ("A2", "abc", "2024-05-01 10:00:01", 0),  # text in a NUMERIC column
    ("A3", 2, "2024-05-01 10:00:02", 1),
    ("A4", None, None, None),
    ("A5", 7.125, "2024-05-01 10:00:04", 1),
]


def _erp(path: Path) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, price NUMERIC(10, 2), "
                "modified_at DATETIME, sell_online BOOLEAN)")
    con.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", ROWS)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _read(url: str) -> list[dict[str, Any] | BadRecord]:
    source = SqlConnector().open_source({"url": url, "table": "items"},
                                        ConnectorContext(job="j", step="s"))
    try:
        return list(source.read(ReadRequest()))
    finally:
        source.close()


def test_a_value_its_column_type_cannot_read_is_a_bad_record_and_the_rest_read(
        tmp_path: Path) -> None:
    url = _erp(tmp_path / "erp.db")
    got = _read(url)
    assert [type(r) for r in got] == [dict, BadRecord, dict, dict, dict]
    bad = got[1]
    assert isinstance(bad, BadRecord)
    assert "price" in bad.reason and "'abc'" in bad.reason
    assert bad.raw["item_id"] == "A2"

    # Every other row reads exactly as SQLAlchemy's own result processing reads it.
    engine = sa.create_engine(url)
    table = sa.Table("items", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        expected = [dict(r._mapping) for r in conn.execute(
            sa.select(table).where(table.c.item_id != "A2").order_by(table.c.item_id))]
    engine.dispose()
    assert [r for r in got if isinstance(r, dict)] == expected
    assert [type(v).__name__ for v in expected[0].values()] == [
        "str", "Decimal", "datetime", "bool"]


def test_read_as_tuples_gives_the_same_records_and_the_bad_one_in_its_place(
        tmp_path: Path) -> None:
    url = _erp(tmp_path / "erp.db")
    source = SqlConnector().open_source({"url": url, "table": "items", "chunk_size": 2},
                                        ConnectorContext(job="j", step="s"))
    try:
        blocks = list(source.read_rows(ReadRequest()))  # type: ignore[attr-defined]
    finally:
        source.close()
    # Chunks of two: [A1, A2] splits around A2, which comes out where it was read.
    assert [type(b).__name__ for b in blocks] == ["Rows", "BadRecord", "Rows", "Rows"]
    columns = blocks[0].columns
    assert columns == ("item_id", "price", "modified_at", "sell_online")
    as_records: list[dict[str, Any] | BadRecord] = []
    for block in blocks:
        if isinstance(block, Rows):
            assert block.columns == columns
            as_records.extend(dict(zip(columns, values, strict=True)) for values in block.values)
        else:
            as_records.append(block)
    assert as_records == _read(url)  # converted values, the bad record's raw row and reason


def test_a_run_quarantines_the_unreadable_record_and_writes_the_others(tmp_path: Path) -> None:
    url = _erp(tmp_path / "erp.db")
    shop = tmp_path / "shop.db"
    con = sqlite3.connect(shop)
    con.execute("CREATE TABLE shop (sku TEXT PRIMARY KEY, price NUMERIC(10, 2))")
    con.close()
    step = Step(
        name="items",
        source=ConnectorRef("sql", {"url": url, "table": "items"}),
        destination=ConnectorRef("sql", {"url": f"sqlite:///{shop}", "table": "shop"}),
        key=("sku",),
        mode="changes",
        mappings=(FieldMap("sku", field="item_id"),
                  FieldMap("price", field="price", type="decimal", scale=2)),
        batch_size=2,
    )
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        result = run_job(Job(name="values", source_file="values.yaml", steps=(step,)),
                         project=None, state=state)
        assert result.status == "partial", result.error  # succeeded, with a record set aside
        s = result.steps[0]
        assert (s.read, s.written, s.quarantined) == (5, 4, 1)
        [entry] = state.quarantine_list("values")
        assert "price" in entry.reason and "'abc'" in entry.reason
        assert entry.record["item_id"] == "A2"
    finally:
        state.close()
    with sqlite3.connect(shop) as con:
        written = con.execute("SELECT sku, price FROM shop ORDER BY sku").fetchall()
    # 7.125 reads as Decimal('7.12'): SQLAlchemy formats a NUMERIC(10, 2) float with '%.2f'.
    assert written == [("A1", 1.5), ("A3", 2), ("A4", None), ("A5", 7.12)]


def test_a_table_sources_field_names_are_plain_str(tmp_path: Path) -> None:
    # SQLAlchemy names a table's columns with a str subclass; a record's keys must be plain
    # str, which JSON encoders (orjson, without its slower option) take as keys.
    got = _read(_erp(tmp_path / "erp.db"))
    records = [r for r in got if isinstance(r, dict)]
    assert records and all(type(name) is str for r in records for name in r)
