"""The conformance suite (connectors.testing) run against the built-in sql, csv and jsonl
connectors, and shown to catch a connector that breaks the contract."""

from __future__ import annotations

import csv
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import sqlalchemy as sa

from connectors.api import (
    Connector,
    ConnectorContext,
    ReadRequest,
    Sink,
    Source,
    WriteOp,
    WriteOutcome,
)
from connectors.files import CsvConnector, JsonlConnector
from connectors.sql import SqlConnector
from connectors.testing import (
    SinkConformance,
    SourceConformance,
    check_connector_schemas,
    check_options_schema,
)
from runner.spec import Filter

ROWS = [{"sku": f"S{i:02}", "colour": "red" if i % 3 == 0 else "blue",
         "modified_at": f"2024-02-{i:02}T10:00:00Z"} for i in range(1, 13)]


def sku_ops(n: int = 6) -> list[WriteOp]:
    return [WriteOp("upsert", (f"W{i}",), {"sku": f"W{i}", "colour": "green",
                                           "modified_at": "2025-01-01T00:00:00Z"})
            for i in range(n)]


@pytest.mark.parametrize("connector", [SqlConnector, CsvConnector, JsonlConnector])
def test_option_schemas_conform(connector: type[Connector]) -> None:
    check_connector_schemas(connector, secret=["url"] if connector is SqlConnector else [])


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'conf.db'}"
    return str(request.getfixturevalue("pg_url" if request.param == "postgres"
                                       else "mariadb_url"))


def test_sql_conforms(sql_url: str) -> None:
    engine = sa.create_engine(sql_url)
    table = sa.Table(
        f"conf_{uuid.uuid4().hex[:8]}", sa.MetaData(),
        sa.Column("sku", sa.String(20), primary_key=True),
        sa.Column("colour", sa.String(10), nullable=False),
        sa.Column("modified_at", sa.String(30)),
    )
    table.create(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), ROWS)
        options = {"url": sql_url, "table": table.name}
        SourceConformance(SqlConnector, options, cursor_field="modified_at",
                          since="2024-02-07T00:00:00Z", equals=("colour", "red")).run()

        def read_back() -> list[dict[str, Any]]:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(
                    sa.select(table).where(table.c.sku.like("W%")).order_by(table.c.sku))]

        def reset() -> None:
            with engine.begin() as conn:
                conn.execute(table.delete().where(table.c.sku.like("W%")))

        bad = WriteOp("upsert", ("WBAD",), {"sku": "WBAD", "colour": None})
        checks = SinkConformance(SqlConnector, options, ops=sku_ops(), read_back=read_back,
                                 key_fields=("sku",), reset=reset, bad_op=bad).run()
        assert checks == ["check_outcomes", "check_idempotent", "check_close"]
    finally:
        table.drop(engine)
        engine.dispose()


def write_csv(path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)


def test_csv_conforms(tmp_path: Path) -> None:
    write_csv(tmp_path / "in.csv")
    SourceConformance(CsvConnector, {"path": str(tmp_path / "in.csv")},
                      cursor_field="modified_at", since="2024-02-07T00:00:00Z",
                      equals=("colour", "red")).run()
    out = tmp_path / "out.csv"

    def read_back() -> list[dict[str, Any]]:
        if not out.exists():
            return []
        with open(out, newline="") as fh:
            return list(csv.DictReader(fh))

    SinkConformance(CsvConnector, {"path": str(out)}, ops=sku_ops(), read_back=read_back,
                    key_fields=("sku",), reset=lambda: out.unlink(missing_ok=True),
                    bad_op=WriteOp("delete", ("W1",), {"sku": "W1"}), idempotent=False).run()


def test_jsonl_conforms(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    SourceConformance(JsonlConnector, {"path": str(tmp_path / "in.jsonl")},
                      cursor_field="modified_at", since="2024-02-07T00:00:00Z",
                      equals=("colour", "red")).run()
    out = tmp_path / "out.jsonl"

    def read_back() -> list[dict[str, Any]]:
        if not out.exists():
            return []
        return [orjson.loads(line) for line in out.read_bytes().splitlines()]

    SinkConformance(JsonlConnector, {"path": str(out), "mode": "append"}, ops=sku_ops(),
                    read_back=read_back, key_fields=("sku",),
                    reset=lambda: out.unlink(missing_ok=True),
                    bad_op=WriteOp("unpublish", ("W1",), {"sku": "W1"}), idempotent=False).run()


# -- the suite has teeth --------------------------------------------------------------------


class _EagerSource:
    """Breaks the contract: builds a list, ignores the cursor, swallows expressions."""

    def pushdown(self, flt: Filter) -> Filter | None:
        return None

    def read(self, request: ReadRequest) -> Any:
        return [dict(r) for r in ROWS]

    def close(self) -> None:
        pass


class _ForgetfulSink:
    """Breaks the contract: drops the last outcome and writes everything twice."""

    store: ClassVar[list[dict[str, Any]]] = []

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        self.store.extend(op.record for op in ops)
        return [WriteOutcome(ok=True) for _ in ops[:-1]]

    def close(self) -> None:
        pass


class _Broken(Connector):
    name = "broken"
    description = "a connector that breaks every rule"
    source_options: ClassVar[Mapping[str, Any] | None] = {
        "type": "object",
        "properties": {"api_key": {"type": "string", "description": "key"},
                       "page": {"type": "integer", "examples": ["ten"]}},
    }

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        return _EagerSource()

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        return _ForgetfulSink()


def test_the_suite_catches_a_broken_connector() -> None:
    with pytest.raises(AssertionError) as info:
        check_connector_schemas(_Broken)
    text = str(info.value)
    assert "api_key: holds a credential" in text
    assert "page: no description" in text and "example 'ten' is invalid" in text
    with pytest.raises(AssertionError, match="not a valid JSON Schema"):
        check_options_schema({"type": "object", "properties": {"x": {"type": "nope"}}})
    conf = SourceConformance(_Broken, {}, cursor_field="modified_at",
                             since="2024-02-07T00:00:00Z", equals=("colour", "red"))
    with pytest.raises(AssertionError, match="stream"):
        conf.check_streams()
    with pytest.raises(AssertionError, match="cursor"):
        conf.check_cursor()
    with pytest.raises(AssertionError, match="Expr"):
        conf.check_pushdown()
    sink = SinkConformance(_Broken, {}, ops=sku_ops(), key_fields=("sku",),
                           read_back=lambda: list(_ForgetfulSink.store),
                           reset=_ForgetfulSink.store.clear)
    with pytest.raises(AssertionError, match="6 ops but 5 outcomes"):
        sink.check_outcomes()


class _ThreadBoundSource:
    """Declares read_ahead, but its sqlite3 connection refuses any thread but its opener's."""

    read_ahead = True

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE t (sku TEXT, colour TEXT, modified_at TEXT)")
        self.conn.executemany("INSERT INTO t VALUES (:sku, :colour, :modified_at)", ROWS)

    def pushdown(self, flt: Filter) -> Filter | None:
        return flt

    def read(self, request: ReadRequest) -> Any:
        rows = self.conn.execute("SELECT sku, colour, modified_at FROM t ORDER BY sku")
        for sku, colour, modified_at in rows:
            yield {"sku": sku, "colour": colour, "modified_at": modified_at}

    def close(self) -> None:
        self.conn.close()


class _ThreadBound(Connector):
    name = "thread-bound"
    description = "a source that cannot be read ahead"
    declares = True

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        source = _ThreadBoundSource()
        source.read_ahead = self.declares
        return source


def test_the_suite_catches_a_source_that_cannot_be_read_ahead() -> None:
    with pytest.raises(AssertionError, match="started on another thread failed"):
        SourceConformance(_ThreadBound, {}).check_read_ahead()
    undeclared = _ThreadBound()
    undeclared.declares = False
    SourceConformance(undeclared, {}).check_read_ahead()  # nothing declared, nothing to check
