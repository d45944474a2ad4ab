"""Reads stream: memory held while reading does not grow with the number of rows (a
server-side cursor on PostgreSQL and MariaDB, a lazy cursor on SQLite)."""

from __future__ import annotations

import tracemalloc
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.api import ConnectorContext, CursorWindow, ReadRequest
from connectors.sql import SqlConnector

pytestmark = pytest.mark.slow  # ~10 s: tens of thousands of rows per backend

ROWS = 20_000
CHUNK = 250


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stream.db'}"
    return str(request.getfixturevalue("pg_url" if request.param == "postgres"
                                       else "mariadb_url"))


def test_peak_memory_is_flat_in_the_number_of_rows(url: str) -> None:
    engine = sa.create_engine(url)
    table = sa.Table(f"stream_{uuid.uuid4().hex[:8]}", sa.MetaData(),
                     sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("payload", sa.String(200)))
    table.create(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(),
                         [{"id": i, "payload": f"{i:0200d}"} for i in range(1, ROWS + 1)])
        src = SqlConnector().open_source(
            {"url": url, "table": table.name, "chunk_size": CHUNK},
            ConnectorContext(job="j", step="s"))

        def peak_while_reading(since: int) -> tuple[int, int]:
            tracemalloc.start()
            try:
                count = 0
                for _ in src.read(ReadRequest(cursor=CursorWindow("id", since))):
                    count += 1
                return count, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        if engine.dialect.name == "postgresql":
            # libpq memory is invisible to tracemalloc: check the server-side cursor instead.
            rows = src.read(ReadRequest())
            next(rows)
            with engine.connect() as other:
                fetching = other.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query LIKE 'FETCH FORWARD%'")).scalar()
            rows.close()  # type: ignore[attr-defined]
            assert fetching == 1
        few, few_peak = peak_while_reading(ROWS - 2 * CHUNK + 1)
        many, many_peak = peak_while_reading(0)
        src.close()
        assert (few, many) == (2 * CHUNK, ROWS)
        # 20x the rows; a read that buffered them would hold > 5 MB more (200-char payloads).
        assert many_peak < few_peak + 2_000_000, (few_peak, many_peak)
    finally:
        table.drop(engine)
        engine.dispose()
