"""The sql connector against real databases: SQLite files, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa

from connectors.api import ConnectorContext, CursorWindow, ReadRequest, WriteOp
from connectors.sql import SqlConnector, SqlSink, SqlSource
from runner.errors import ConfigError, FatalError, RetryableError
from runner.spec import All, AnyOf, Compare, Expr, Not

INJECTIONS = ["'; DROP TABLE products; --", 'quo"te\'s', "back\\slash\\", "x') OR ('1'='1"]


@dataclass
class Db:
    url: str
    engine: sa.Engine
    products: str
    orders: str
    lines: str

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]


@dataclass
class Schema:
    url: str
    engine: sa.Engine
    meta: sa.MetaData


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mariadb"])
def schema(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Schema]:
    """The tables, created once per backend (DDL is the slow part on MariaDB)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sql') / 'erp.db'}"
    elif request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("mariadb_url")
    suffix = uuid.uuid4().hex[:8]
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    orders = sa.Table(
        f"orders_{suffix}", meta,
        sa.Column("sales_order_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.String(20), nullable=False),
        sa.Column("store_order_number", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20)),
        sa.UniqueConstraint("store_id", "store_order_number"),
    )
    sa.Table(
        f"order_lines_{suffix}", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sales_order_id", sa.Integer, sa.ForeignKey(orders.c.sales_order_id),
                  nullable=False),
        sa.Column("line_number", sa.Integer, nullable=False),
        sa.Column("sku", sa.String(40)),
        sa.Column("quantity", sa.Integer),
        sa.UniqueConstraint("sales_order_id", "line_number"),
    )
    products_table(meta, f"products_{suffix}")
    meta.create_all(engine)
    yield Schema(url, engine, meta)
    meta.drop_all(engine)
    engine.dispose()


def products_table(meta: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name, meta,
        sa.Column("item_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("list_price", sa.Numeric(12, 2)),
        sa.Column("sell_online", sa.Integer),
        sa.Column("modified_at", sa.String(32)),
    )


PRODUCTS = [
    {"item_id": f"I{i:03}", "name": f"item {i}", "list_price": Decimal(i) + Decimal("0.5"),
     "sell_online": i % 2, "modified_at": f"2024-01-{i:02}T00:00:00Z"}
    for i in range(1, 21)
] + [{"item_id": "I999", "name": "no flag", "list_price": None, "sell_online": None,
      "modified_at": None}]


@pytest.fixture
def db(schema: Schema) -> Db:
    """The tables emptied and the 21 products back in place."""
    tables = schema.meta.sorted_tables
    products, orders, lines = (next(t for t in tables if t.name.startswith(p))
                               for p in ("products_", "orders_", "order_lines_"))
    with schema.engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(table.delete())
        conn.execute(products.insert(), PRODUCTS)
    return Db(schema.url, schema.engine, products.name, orders.name, lines.name)


def ctx(*key: str) -> ConnectorContext:
    return ConnectorContext(job="test", step="step", key_fields=key)


def source(db: Db, **options: Any) -> SqlSource:
    src = SqlConnector().open_source({"url": db.url, **options}, ctx("item_id"))
    assert isinstance(src, SqlSource)
    return src


def sink(db: Db, key: tuple[str, ...] = ("item_id",), **options: Any) -> SqlSink:
    out = SqlConnector().open_sink({"url": db.url, **options}, ctx(*key))
    assert isinstance(out, SqlSink)
    return out


def product(i: int | str, **extra: Any) -> dict[str, Any]:
    return {"item_id": str(i), "name": f"n{i}"[:20], "list_price": Decimal("9.99"),
            "sell_online": 1, "modified_at": "2025-01-01T00:00:00Z", **extra}


# -- source ---------------------------------------------------------------------------------


def test_read_streams_every_row_as_plain_dicts(db: Db) -> None:
    src = source(db, table=db.products)
    rows = src.read(ReadRequest())
    first = next(rows)
    assert type(first) is dict and set(first) == {
        "item_id", "name", "list_price", "sell_online", "modified_at"}
    assert 1 + sum(1 for _ in rows) == 21
    src.close()
    src.close()


def test_incremental_read_is_bound_and_ordered_by_the_cursor(db: Db) -> None:
    src = source(db, table=db.products, fields=["item_id", "modified_at"])
    rows = list(src.read(ReadRequest(cursor=CursorWindow("modified_at", "2024-01-15T00:00:00Z"))))
    assert [r["item_id"] for r in rows] == [f"I{i:03}" for i in range(15, 21)]
    assert set(rows[0]) == {"item_id", "modified_at"}
    # A since value that would be SQL if pasted is just a value.
    evil = list(src.read(ReadRequest(cursor=CursorWindow("modified_at", INJECTIONS[3]))))
    assert evil == []
    src.close()
    assert db.rows(f"SELECT COUNT(*) FROM {db.products}") == [(21,)]


def test_query_source_with_params_is_wrapped_for_cursor_and_filter(db: Db) -> None:
    src = source(
        db, query=f"SELECT item_id, list_price, modified_at FROM {db.products} "
                  "WHERE list_price > :floor",
        params={"floor": 10}, fields=["item_id", "list_price", "modified_at"])
    flt = Compare("item_id", "not_in", ("I012", "I013"))
    assert src.pushdown(flt) is None
    rows = list(src.read(ReadRequest(
        cursor=CursorWindow("modified_at", "2024-01-11T00:00:00Z"), filter=flt)))
    assert [r["item_id"] for r in rows] == ["I011"] + [f"I{i:03}" for i in range(14, 21)]
    src.close()


def test_since_query_serves_reads_with_a_window_and_binds_since(db: Db) -> None:
    cols = "item_id, list_price, modified_at"
    src = source(
        db, query=f"SELECT {cols} FROM {db.products} WHERE list_price > :floor",
        # Returns one row older than the window too: the window still applies to the result.
        since_query=f"SELECT {cols} FROM {db.products} WHERE list_price > :floor "
                    "AND (modified_at >= :since OR item_id = 'I012')",
        params={"floor": 10}, fields=["item_id", "list_price", "modified_at"])
    first = list(src.read(ReadRequest(cursor=CursorWindow("modified_at", None))))
    assert [r["item_id"] for r in first] == [f"I{i:03}" for i in range(10, 21)]
    flt = Compare("item_id", "not_equals", "I016")
    assert src.pushdown(flt) is None
    rows = list(src.read(ReadRequest(
        cursor=CursorWindow("modified_at", "2024-01-15T00:00:00Z"), filter=flt)))
    assert [r["item_id"] for r in rows] == ["I015", "I017", "I018", "I019", "I020"]
    evil = list(src.read(ReadRequest(cursor=CursorWindow("modified_at", INJECTIONS[3]))))
    assert evil == []
    src.close()
    assert db.rows(f"SELECT COUNT(*) FROM {db.products}") == [(21,)]


def test_since_query_needs_a_query() -> None:
    schema = SqlConnector.source_options
    assert schema is not None
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(
        {"url": "sqlite:///x.db", "table": "products", "since_query": "SELECT 1"}))
    assert any("query" in e.message for e in errors)


def test_pushdown_keeps_python_semantics(db: Db) -> None:
    src = source(db, table=db.products)
    expr = Expr("list_price > 3")
    mixed = All((Compare("sell_online", "equals", True), expr, Compare("nope", "equals", 1)))
    assert src.pushdown(mixed) == All((expr, Compare("nope", "equals", 1)))
    assert src.pushdown(AnyOf((Compare("sell_online", "equals", 1), expr))) == AnyOf(
        (Compare("sell_online", "equals", 1), expr))
    assert src.pushdown(expr) == expr

    def ids(flt: Any) -> set[str]:
        assert src.pushdown(flt) is None
        return {r["item_id"] for r in src.read(ReadRequest(filter=flt))
                if isinstance(r, dict)}

    odd = {f"I{i:03}" for i in range(1, 21, 2)}
    even = {f"I{i:03}" for i in range(2, 21, 2)}
    assert ids(Compare("sell_online", "equals", True)) == odd
    # None != 1 is true in Python, so the NULL row stays; NOT keeps two-valued logic.
    assert ids(Compare("sell_online", "not_equals", 1)) == even | {"I999"}
    assert ids(Not(Compare("sell_online", "equals", 1))) == even | {"I999"}
    assert ids(Compare("sell_online", "null", True)) == {"I999"}
    assert ids(Compare("list_price", "gte", 19)) == {"I019", "I020"}
    assert ids(AnyOf((Compare("item_id", "in", ("I001", "I002")),
                      Compare("list_price", "lt", 2)))) == {"I001", "I002"}
    assert ids(Compare("item_id", "equals", INJECTIONS[0])) == set()
    src.close()


def test_unknown_table_is_fatal_and_names_it(db: Db) -> None:
    with pytest.raises(FatalError, match="no_such_table"):
        source(db, table="no_such_table")


def test_connection_errors_are_retryable_and_hide_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://erp:hunter2-secret@127.0.0.1:1/erp"
    with pytest.raises(RetryableError) as info:
        SqlConnector().open_source({"url": url, "table": "products"}, ctx("item_id"))
    assert "hunter2-secret" not in str(info.value)
    assert "erp:***@127.0.0.1:1" in str(info.value)


# -- sink -----------------------------------------------------------------------------------


def test_upsert_inserts_then_updates_and_reports_ids(db: Db) -> None:
    out = sink(db, table=db.products)
    ops = [WriteOp("upsert", (f"N{i}",), product(f"N{i}", extra_field="ignored"))
           for i in range(3)]
    assert [o.dest_id for o in out.write(ops)] == ["N0", "N1", "N2"]
    changed = [WriteOp("create", ("N1",), product("N1", name="renamed"))]
    assert out.write(changed)[0].ok
    assert db.rows(f"SELECT name FROM {db.products} WHERE item_id = 'N1'") == [("renamed",)]
    assert db.rows(f"SELECT COUNT(*) FROM {db.products} WHERE item_id LIKE 'N%'") == [(3,)]
    out.close()


def test_insert_mode_refuses_a_duplicate_and_commits_the_rest(db: Db) -> None:
    out = sink(db, table=db.products, mode="insert")
    res = out.write([WriteOp("upsert", ("A1",), product("A1")),
                     WriteOp("upsert", ("I001",), product("I001")),
                     WriteOp("upsert", ("A2",), product("A2"))])
    assert [o.ok for o in res] == [True, False, True]
    assert res[1].error
    assert db.rows(f"SELECT item_id FROM {db.products} WHERE item_id LIKE 'A%' ORDER BY 1") == [
        ("A1",), ("A2",)]
    out.close()


def test_update_delete_and_unpublish(db: Db) -> None:
    out = sink(db, table=db.products, mode="update", unpublish={"set": {"sell_online": False}})
    res = out.write([
        WriteOp("upsert", ("I001",), {"item_id": "I001", "name": "updated"}),
        WriteOp("upsert", ("ZZZ",), {"item_id": "ZZZ", "name": "missing"}),
        WriteOp("unpublish", ("I003",), {}),
        WriteOp("delete", ("I005",), {}),
    ])
    assert [o.ok for o in res] == [True, False, True, True]
    assert "ZZZ" in (res[1].error or "")
    assert db.rows(f"SELECT name FROM {db.products} WHERE item_id = 'I001'") == [("updated",)]
    assert db.rows(f"SELECT sell_online FROM {db.products} WHERE item_id = 'I003'") == [(0,)]
    assert db.rows(f"SELECT COUNT(*) FROM {db.products} WHERE item_id = 'I005'") == [(0,)]
    assert db.rows(f"SELECT COUNT(*) FROM {db.products} WHERE item_id = 'ZZZ'") == [(0,)]
    out.close()
    deleter = sink(db, table=db.products, mode="delete")
    assert deleter.write([WriteOp("upsert", ("I002",), product("I002"))])[0].ok
    assert db.rows(f"SELECT COUNT(*) FROM {db.products} WHERE item_id = 'I002'") == [(0,)]
    deleter.close()


def test_unpublish_without_option_is_fatal(db: Db) -> None:
    out = sink(db, table=db.products)
    with pytest.raises(FatalError, match="unpublish"):
        out.write([WriteOp("unpublish", ("I001",), {})])
    out.close()


def test_bad_rows_are_refused_while_the_rest_commit(db: Db) -> None:
    out = sink(db, table=db.products)
    bad = [product("B1", name=None), product("B2", tags=["x"]) | {"name": ["x"]}]
    if db.engine.dialect.name != "sqlite":  # SQLite does not enforce lengths or types
        bad += [product("B3", name="x" * 50), product("B4", list_price="not a number")]
    ops = [WriteOp("upsert", ("G1",), product("G1"))]
    ops += [WriteOp("upsert", (r["item_id"],), r) for r in bad]
    ops += [WriteOp("upsert", ("G2",), product("G2"))]
    res = out.write(ops)
    assert res[0].ok and res[-1].ok
    assert all(not o.ok and o.error for o in res[1:-1]), res
    assert db.rows(f"SELECT item_id FROM {db.products} WHERE item_id LIKE 'G%' ORDER BY 1") == [
        ("G1",), ("G2",)]
    assert db.rows(f"SELECT COUNT(*) FROM {db.products} WHERE item_id LIKE 'B%'") == [(0,)]
    out.close()


def test_a_fatal_error_mid_batch_rolls_the_whole_batch_back(db: Db) -> None:
    meta = sa.MetaData()
    table = products_table(meta, f"shrinking_{uuid.uuid4().hex[:8]}")
    meta.create_all(db.engine)
    try:
        out = sink(db, table=table.name)
        # The table loses a column after the sink reflected it: the second statement of the
        # batch fails as a programming error after the first one ran.
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {table.name} DROP COLUMN modified_at"))
        ops = [WriteOp("upsert", ("F1",), {"item_id": "F1", "name": "first"}),
               WriteOp("upsert", ("F2",), product("F2"))]
        with pytest.raises(FatalError) as info:
            out.write(ops)
        assert "modified_at" in str(info.value)
        assert db.rows(f"SELECT COUNT(*) FROM {table.name}") == [(0,)]
        out.close()
    finally:
        meta.drop_all(db.engine)


def test_injection_strings_land_as_data(db: Db) -> None:
    out = sink(db, table=db.products)
    ops = [WriteOp("upsert", (s[:40],), product(s[:40], name=s[:20])) for s in INJECTIONS]
    assert all(o.ok for o in out.write(ops))
    assert all(o.ok for o in out.write(ops))  # again: upsert by the same odd keys
    got = sorted(db.rows(f"SELECT item_id, name FROM {db.products} WHERE item_id NOT LIKE 'I%'"))
    assert got == sorted((s[:40], s[:20]) for s in INJECTIONS)
    assert db.rows(f"SELECT COUNT(*) FROM {db.products}") == [(21 + len(INJECTIONS),)]
    deleted = out.write([WriteOp("delete", (INJECTIONS[0],), {})])
    assert deleted[0].ok
    assert db.rows(f"SELECT COUNT(*) FROM {db.products}") == [(20 + len(INJECTIONS),)]
    out.close()


def test_header_and_lines_in_one_write_and_rerun_adds_no_lines(db: Db) -> None:
    out = sink(db, key=("store_id", "store_order_number"), table=db.orders,
               lines={"table": db.lines, "field": "lines", "parent_key": "sales_order_id",
                      "key": ["line_number"]})

    def order(number: str, skus: list[str], status: str = "open") -> WriteOp:
        lines = [{"line_number": n, "sku": s, "quantity": 1} for n, s in enumerate(skus, 1)]
        return WriteOp("upsert", ("web", number), {
            "store_id": "web", "store_order_number": number, "status": status, "lines": lines})

    first = out.write([order("1001", ["A", "B"]), order("1002", ["C"])])
    assert all(o.ok and o.dest_id for o in first)
    again = out.write([order("1001", ["A", "B", "D"], "delivered"), order("1002", ["C"])])
    assert [o.dest_id for o in again] == [o.dest_id for o in first]
    one = first[0].dest_id
    assert db.rows(f"SELECT line_number, sku FROM {db.lines} WHERE sales_order_id = {one} "
                   "ORDER BY line_number") == [(1, "A"), (2, "B"), (3, "D")]
    assert db.rows(f"SELECT COUNT(*) FROM {db.lines}") == [(4,)]
    assert db.rows(f"SELECT status FROM {db.orders} WHERE sales_order_id = {one}") == [
        ("delivered",)]
    # A header without a lines field (a status change) keeps its lines.
    status_only = WriteOp("update", ("web", "1001"), {
        "store_id": "web", "store_order_number": "1001", "status": "invoiced"})
    assert out.write([status_only])[0].dest_id == one
    assert db.rows(f"SELECT COUNT(*) FROM {db.lines} WHERE sales_order_id = {one}") == [(3,)]
    # A bad line (NULL line_number) refuses its whole order, header included.
    res = out.write([order("1003", ["E"]), WriteOp("upsert", ("web", "1004"), {
        "store_id": "web", "store_order_number": "1004",
        "lines": [{"line_number": None, "sku": "X"}]})])
    assert [o.ok for o in res] == [True, False]
    assert db.rows(f"SELECT COUNT(*) FROM {db.orders} WHERE store_order_number = '1004'") == [
        (0,)]
    assert sorted(out.list_keys()) == sorted(
        [(("web", "1001"), one), (("web", "1002"), first[1].dest_id),
         (("web", "1003"), res[0].dest_id)])
    assert out.write([WriteOp("delete", ("web", "1001"), {})])[0].ok
    assert db.rows(f"SELECT COUNT(*) FROM {db.lines} WHERE sales_order_id = {one}") == [(0,)]
    out.close()


def test_upsert_needs_a_unique_key_and_columns_must_exist(db: Db) -> None:
    with pytest.raises(ConfigError, match="unique"):
        sink(db, key=("name",), table=db.products)
    with pytest.raises(ConfigError, match="colour"):
        sink(db, table=db.products, columns=["item_id", "colour"])
    with pytest.raises(FatalError, match="nope_table"):
        sink(db, table="nope_table")


def test_list_keys_maps_natural_keys_to_primary_keys(db: Db) -> None:
    out = sink(db, table=db.products)
    keys = dict(out.list_keys())
    assert len(keys) == 21 and keys[("I007",)] == "I007"
    out.close()


def test_numbers_for_text_columns_are_written_and_matched_as_text(db: Db) -> None:
    out = sink(db, table=db.products, mode="upsert")
    res = out.write([WriteOp("upsert", (12345,), product("x") | {"item_id": 12345, "name": 7})])
    assert res[0].ok and res[0].dest_id == "12345"
    res = out.write([WriteOp("update", (12345,), {"item_id": 12345, "name": "seven"})])
    assert res[0].ok and res[0].dest_id == "12345"
    assert db.rows(f"SELECT name FROM {db.products} WHERE item_id = '12345'") == [("seven",)]
    out.close()


def test_reads_come_in_a_stable_primary_key_order(db: Db) -> None:
    # On PostgreSQL an updated row moves to the end of the heap: only ORDER BY keeps order.
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {db.products} SET name = 'moved' WHERE item_id = 'I001'"))
    src = source(db, table=db.products)
    ids = [r["item_id"] for r in src.read(ReadRequest()) if isinstance(r, dict)]
    assert ids == sorted(ids) and ids[0] == "I001"
    by_price = source(db, table=db.products, order_by=["sell_online"])
    rows = [r for r in by_price.read(ReadRequest()) if isinstance(r, dict)]
    flags = [(r["sell_online"] is not None, r["sell_online"] or 0) for r in rows]
    assert [r["item_id"] for r in rows if r["sell_online"] == 1] == [
        f"I{i:03}" for i in range(1, 21, 2)]
    assert len(flags) == 21
    src.close()
    by_price.close()


def test_logs_and_errors_show_the_url_without_its_password(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # The test server trusts local connections, so any password gets in.
    url = sa.make_url(pg_url).set(password="pw-Vq83-secret").render_as_string(
        hide_password=False)
    caplog.set_level("INFO", logger="connectors")
    src = SqlConnector().open_source(
        {"url": url, "query": "SELECT 1 AS one", "fields": ["one"]}, ctx())
    assert list(src.read(ReadRequest())) == [{"one": 1}]
    src.close()
    with pytest.raises(FatalError) as info:
        SqlConnector().open_sink({"url": url, "table": "missing_table"}, ctx("id"))
    opened = [r for r in caplog.records if r.getMessage() == "sql.source.opened"]
    assert opened and "postgres:***@127.0.0.1" in opened[0].__dict__["url"]
    assert "missing_table" in str(info.value) and "***@" in str(info.value)
    everything = str(info.value) + "".join(str(r.__dict__) for r in caplog.records)
    assert "pw-Vq83-secret" not in everything
