"""The engine on real servers: state in PostgreSQL, the ERP in MariaDB, the shop in PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from runner.engine import run_job
from runner.spec import Compare, ConnectorRef, CursorSpec, FieldMap, Job, Step
from runner.state import open_state


@pytest.mark.postgres
@pytest.mark.mariadb
def test_incremental_then_full_across_postgres_and_mariadb(pg_url: str, mariadb_url: str) -> None:
    erp = sa.create_engine(mariadb_url)
    shop = sa.create_engine(pg_url)
    with erp.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS eng_items"))
        conn.execute(sa.text(
            "CREATE TABLE eng_items (item_id VARCHAR(20) PRIMARY KEY, name VARCHAR(50), "
            "list_price DECIMAL(10,3), sell_online BOOLEAN, modified_at DATETIME)"))
        conn.execute(sa.text(
            "INSERT INTO eng_items VALUES (:i, :n, :p, :s, :m)"),
            [{"i": f"M{i}", "n": f"Item {i}", "p": Decimal(f"{i}.125"), "s": i != 3,
              "m": f"2024-05-01 10:00:{i:02d}"} for i in range(7)])
    with shop.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS eng_shop"))
        conn.execute(sa.text(
            "CREATE TABLE eng_shop (sku TEXT PRIMARY KEY, title TEXT, price NUMERIC(10,2))"))
    step = Step(
        name="items",
        source=ConnectorRef("sql", {"url": mariadb_url, "table": "eng_items"}),
        destination=ConnectorRef("sql", {"url": pg_url, "table": "eng_shop"}),
        key=("sku",),
        mode="incremental",
        cursor=CursorSpec("modified_at", lookback_s=30),
        filter=Compare("sell_online", "equals", True),
        mappings=(FieldMap("sku", field="item_id"), FieldMap("title", field="name"),
                  FieldMap("price", field="list_price", type="decimal", scale=2)),
        delete="delete",
        batch_size=2,
    )
    job = Job(name="servers", source_file="servers.yaml", steps=(step,))
    state = open_state(pg_url)
    try:
        first = run_job(job, project=None, state=state)
        assert first.status == "succeeded", first.error
        assert first.steps[0].written == 6
        with erp.begin() as conn:
            conn.execute(sa.text("UPDATE eng_items SET name = 'New', "
                                 "modified_at = '2024-05-02 00:00:00' WHERE item_id = 'M1'"))
            conn.execute(sa.text("UPDATE eng_items SET sell_online = FALSE WHERE item_id = 'M2'"))
        second = run_job(job, project=None, state=state)
        # Every row is inside the 30 s lookback of the stored cursor: all are read again, only
        # the changed one is written.
        s = second.steps[0]
        assert (s.read, s.written, s.unchanged) == (5, 1, 4)
        # M2, deselected inside the read window, is removed by this incremental run.
        assert s.removed == 1
        full = run_job(job, project=None, state=state, mode="full")
        assert full.status == "succeeded", full.error
        assert (full.steps[0].written, full.steps[0].removed) == (5, 0)
        with shop.connect() as conn:
            rows = conn.execute(sa.text("SELECT sku, title, price FROM eng_shop ORDER BY sku"))
            got = [tuple(r) for r in rows]
        assert got == [("M0", "Item 0", Decimal("0.13")), ("M1", "New", Decimal("1.13")),
                       ("M4", "Item 4", Decimal("4.13")), ("M5", "Item 5", Decimal("5.13")),
                       ("M6", "Item 6", Decimal("6.13"))]
        assert [r.status for r in state.runs("servers") if r.step == "items"] == ["succeeded"] * 3
    finally:
        state.close()
        erp.dispose()
        shop.dispose()
