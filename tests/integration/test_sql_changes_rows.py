"""A changes run of a nested step reads the sql source as tuples on every database (issue 16):
the second run over the same rows maps nothing and writes nothing, and a changed variant
row sends its product alone. On PostgreSQL and MariaDB the driver's rows must arrive as
plain tuples for their group to hash at all (a Row object did not serialise)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import orjson
import sqlalchemy as sa

from runner.engine import run_job
from runner.spec import ConnectorRef, FieldMap, Job, NestSpec, Step
from runner.state import open_state
from tests.integration.test_conformance_connectors import sql_url
from tests.support.mapping_spy import mapped

__all__ = ["mapped", "sql_url"]  # the fixtures (sql_url: sqlite, postgres, mariadb)


def _tables(url: str) -> tuple[sa.Engine, sa.Table, sa.Table]:
    engine = sa.create_engine(url)
    tag = uuid.uuid4().hex[:8]
    meta = sa.MetaData()
    products = sa.Table(f"p_{tag}", meta, sa.Column("item_id", sa.String(20), primary_key=True),
                        sa.Column("name", sa.String(40)), sa.Column("price", sa.Numeric(10, 2)))
    variants = sa.Table(f"v_{tag}", meta, sa.Column("sku", sa.String(20), primary_key=True),
                        sa.Column("item_id", sa.String(20)), sa.Column("size", sa.String(5)))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(products.insert(), [
            {"item_id": f"A{i}", "name": f"item {i}", "price": Decimal(i) + Decimal("0.5")}
            for i in range(5)])
        conn.execute(variants.insert(), [
            {"sku": f"A{i}-{s}", "item_id": f"A{i}", "size": s}
            for i in range(4) for s in ("M", "S")])  # A4 has no variant
    return engine, products, variants


def test_an_unchanged_nested_product_is_neither_mapped_nor_written_again(
        sql_url: str, tmp_path: Path, mapped: list[str]) -> None:
    engine, products, variants = _tables(sql_url)
    out = tmp_path / "out.jsonl"
    query = (f"SELECT p.item_id, p.name, p.price, v.sku, v.size FROM {products.name} p "
             f"LEFT JOIN {variants.name} v ON v.item_id = p.item_id")
    step = Step(
        name="products",
        source=ConnectorRef("sql", {"url": sql_url, "query": query,
                                    "fields": ["item_id", "name", "price", "sku", "size"],
                                    "order_by": ["item_id", "sku"], "chunk_size": 3}),
        destination=ConnectorRef("jsonl", {"path": str(out)}),
        key=("sku",), mode="changes",
        nest=NestSpec(by=("item_id",), into="variants", fields=("sku", "size")),
        mappings=(FieldMap("sku", field="item_id"), FieldMap("title", field="name"),
                  FieldMap("price", field="price", type="decimal", scale=2),
                  FieldMap("variants", field="variants",
                           each=(FieldMap("sku", field="sku"), FieldMap("size", field="size")))),
    )
    job = Job(name="inventory", source_file="test.yaml", steps=(step,))
    state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        first = run_job(job, project=None, state=state).steps[0]
        assert (first.status, first.written, sorted(mapped)) == (
            "succeeded", 5, ["A0", "A1", "A2", "A3", "A4"])
        written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert written[0]["variants"] == [{"sku": "A0-M", "size": "M"},
                                          {"sku": "A0-S", "size": "S"}]
        assert written[4]["variants"] == []

        mapped.clear()
        second = run_job(job, project=None, state=state).steps[0]
        assert (second.unchanged, second.written, mapped) == (5, 0, [])

        with engine.begin() as conn:
            conn.execute(variants.update().where(variants.c.sku == "A2-S").values(size="XS"))
        third = run_job(job, project=None, state=state).steps[0]
        assert (third.unchanged, third.written, mapped) == (4, 1, ["A2"])
        last = orjson.loads(out.read_bytes().splitlines()[-1])
        assert last["variants"][1] == {"sku": "A2-S", "size": "XS"}
    finally:
        state.close()
        with engine.begin() as conn:
            variants.drop(conn)
            products.drop(conn)
        engine.dispose()
