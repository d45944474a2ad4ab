"""Throughput of the sql connector against a plain driver loop. Prints figures; never fails on
time. Run: /work/venv/bin/pytest -m benchmark -s tests/integration/test_sql_benchmark.py
(``BENCH_SQLITE_ROWS`` / ``BENCH_PG_ROWS`` / ``BENCH_UPSERT_ROWS`` change the sizes)."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from connectors.api import ConnectorContext, ReadRequest, WriteOp
from connectors.sql import SqlConnector

pytestmark = pytest.mark.benchmark

SQLITE_ROWS = int(os.environ.get("BENCH_SQLITE_ROWS", "1000000"))
PG_ROWS = int(os.environ.get("BENCH_PG_ROWS", "100000"))
UPSERT_ROWS = int(os.environ.get("BENCH_UPSERT_ROWS", "20000"))
BATCH = 500
CTX = ConnectorContext(job="bench", step="bench", key_fields=("item_id",))


def _table(meta: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name, meta,
        sa.Column("item_id", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(60)),
        sa.Column("list_price", sa.Float),
        sa.Column("sell_online", sa.Integer),
        sa.Column("modified_at", sa.String(30)),
    )


def _row(i: int) -> dict[str, object]:
    return {"item_id": f"I{i:08}", "name": f"product {i}", "list_price": i * 0.01,
            "sell_online": i % 2, "modified_at": f"2024-01-01T00:00:{i % 60:02}Z"}


def _fill(engine: sa.Engine, table: sa.Table, n: int) -> None:
    with engine.begin() as conn:
        for start in range(0, n, 50000):
            conn.execute(table.insert(), [_row(i) for i in range(start, min(n, start + 50000))])


def _connector_read(url: str, table: str) -> tuple[int, float]:
    src = SqlConnector().open_source({"url": url, "table": table}, CTX)
    t0 = time.perf_counter()
    n = sum(1 for _ in src.read(ReadRequest()))
    took = time.perf_counter() - t0
    src.close()
    return n, took


def _report(what: str, n: int, ours: float, plain: float) -> None:
    print(f"\n{what}: connector {n / ours:,.0f} rows/s, plain driver loop {n / plain:,.0f} rows/s,"
          f" ratio {plain / ours:.2f} (connector takes {ours / plain:.2f}x the time)")


def test_sqlite_read_throughput(tmp_path: Path) -> None:
    path = tmp_path / "bench.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    meta = sa.MetaData()
    table = _table(meta, "products")
    meta.create_all(engine)
    _fill(engine, table, SQLITE_ROWS)
    engine.dispose()
    n, ours = _connector_read(f"sqlite:///{path}", "products")
    conn = sqlite3.connect(path)
    t0 = time.perf_counter()
    # The same statement the connector sends (it orders by the primary key for stable reads).
    cur = conn.execute("SELECT item_id, name, list_price, sell_online, modified_at FROM products"
                       " ORDER BY item_id")
    cols = [d[0] for d in cur.description]
    plain_n = sum(1 for row in cur if dict(zip(cols, row, strict=True)))
    plain = time.perf_counter() - t0
    conn.close()
    assert n == plain_n == SQLITE_ROWS
    _report(f"SQLite read {n:,} rows", n, ours, plain)


def test_postgres_read_throughput(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    meta = sa.MetaData()
    name = f"bench_{uuid.uuid4().hex[:8]}"
    table = _table(meta, name)
    meta.create_all(engine)
    try:
        _fill(engine, table, PG_ROWS)
        n, ours = _connector_read(pg_url, name)
        raw = sa.make_url(pg_url)
        with psycopg.connect(host=raw.host, port=raw.port, user=raw.username,
                             dbname=raw.database) as conn:
            t0 = time.perf_counter()
            with conn.cursor(name="plain") as cur:  # server-side, like the connector
                cur.itersize = 5000
                cur.execute(f"SELECT * FROM {name} ORDER BY item_id")
                cols: list[str] | None = None
                plain_n = 0
                for row in cur:
                    if cols is None:
                        cols = [d.name for d in cur.description or []]
                    plain_n += bool(dict(zip(cols, row, strict=True)))
            plain = time.perf_counter() - t0
        assert n == plain_n == PG_ROWS
        _report(f"PostgreSQL read {n:,} rows", n, ours, plain)
    finally:
        meta.drop_all(engine)
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mariadb"])
def test_upsert_throughput(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = (f"sqlite:///{tmp_path / 'up.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_url" if backend == "postgres" else "mariadb_url"))
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    name = f"up_{uuid.uuid4().hex[:8]}"
    _table(meta, name)
    meta.create_all(engine)
    try:
        sink = SqlConnector().open_sink({"url": url, "table": name}, CTX)
        ops = [WriteOp("upsert", (f"I{i:08}",), _row(i)) for i in range(UPSERT_ROWS)]
        figures = []
        for label in ("insert", "update"):  # the second pass hits existing keys
            t0 = time.perf_counter()
            for start in range(0, len(ops), BATCH):
                outcomes = sink.write(ops[start:start + BATCH])
                assert all(o.ok for o in outcomes)
            figures.append(f"{label} {UPSERT_ROWS / (time.perf_counter() - t0):,.0f} rows/s")
        sink.close()
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar() == UPSERT_ROWS
        print(f"\n{backend} upsert, batches of {BATCH}: " + ", ".join(figures))
    finally:
        meta.drop_all(engine)
        engine.dispose()
