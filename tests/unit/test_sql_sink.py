"""The sql sink on SQLite files: what counts as one bad record, and what fails the batch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.api import ConnectorContext, WriteOp
from connectors.sql import SqlConnector
from runner.errors import FatalError


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'sink.db'}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    sa.Table("shipments", meta,
             sa.Column("shipment_id", sa.Integer, primary_key=True),
             sa.Column("tracking", sa.String(40), nullable=False),
             sa.Column("shipped_on", sa.Date),
             sa.Column("meta", sa.JSON))
    meta.create_all(engine)
    engine.dispose()
    return url


def rows(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(sa.text(
            "SELECT shipment_id, tracking, shipped_on FROM shipments ORDER BY 1"))]
    engine.dispose()
    return out


def test_values_sqlalchemy_cannot_convert_are_bad_records(url: str) -> None:
    ctx = ConnectorContext(job="j", step="s", key_fields=("shipment_id",))
    sink = SqlConnector().open_sink({"url": url, "table": "shipments"}, ctx)
    res = sink.write([
        WriteOp("upsert", (1,), {"shipment_id": 1, "tracking": "T1",
                                 "shipped_on": dt.date(2024, 5, 1), "meta": {"a": [1]}}),
        WriteOp("upsert", (2,), {"shipment_id": 2, "tracking": "T2", "shipped_on": "May 1st"}),
        WriteOp("upsert", (3,), {"shipment_id": 3, "tracking": ["not", "scalar"]}),
        WriteOp("upsert", (4,), {"shipment_id": 4, "tracking": "T4"}),
    ])
    assert [o.ok for o in res] == [True, False, False, True]
    assert "date" in (res[1].error or "").lower()
    assert "tracking" in (res[2].error or "") and "list" in (res[2].error or "")
    assert [o.dest_id for o in res if o.ok] == ["1", "4"]
    assert rows(url) == [(1, "T1", "2024-05-01"), (4, "T4", None)]
    sink.close()


def test_a_key_missing_from_the_record_and_the_op_is_a_bad_record(url: str) -> None:
    sink = SqlConnector().open_sink({"url": url, "table": "shipments", "key": ["tracking"],
                                     "mode": "update"}, ConnectorContext(job="j", step="s"))
    res = sink.write([WriteOp("upsert", (), {"shipped_on": dt.date(2024, 1, 1)})])
    assert not res[0].ok and "tracking" in (res[0].error or "")
    with pytest.raises(FatalError, match="closed"):
        sink.close()
        sink.write([])


def test_an_upsert_on_sqlite_does_not_import_the_postgresql_dialect(url: str) -> None:
    """SQLAlchemy's postgresql package (asyncpg's dialect, the array types) took 37 ms to
    import into every run on SQLite; a fresh process shows what the sink needs."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from connectors.api import ConnectorContext, WriteOp\n"
        "from connectors.sql import SqlConnector\n"
        f"sink = SqlConnector().open_sink({{'url': {url!r}, 'table': 'shipments'}},\n"
        "    ConnectorContext(job='j', step='s', key_fields=('shipment_id',)))\n"
        "out = sink.write([WriteOp('upsert', (n,), {'shipment_id': n, 'tracking': f'T{n}'})\n"
        "                  for n in (1, 2)])\n"
        "sink.close()\n"
        "assert [o.ok for o in out] == [True, True], out\n"
        "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.dialects.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    assert "sqlalchemy.dialects.sqlite" in done.stdout
    assert "postgresql" not in done.stdout
    assert rows(url) == [(1, "T1", None), (2, "T2", None)]
