"""Field paths in a real run: an http source over loopback whose objects hold a key ending with
a dot (``carrier_product.``) and a list, mapped by ``map`` into a SQLite table. A record whose
path is absent is quarantined with its reason while the rest of the batch is written; a present
null stays null."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from runner.engine import run_job
from runner.project import load_project
from runner.state import open_state
from tests.support.loopback import serve_app
from tests.support.paging_testapp import PagingState, make_paging_app

PIPELINE = """version: 2
name: carriers
steps:
  - name: carriers
    source:
      connector: http
      base_url: {base}
      request: {{path: /offset}}
      records: data
      pagination: {{type: offset, limit: 100}}
    key: sku
    map:
      sku: sku
      carrier: 'carrier_product["carrier_product."]'
      first_qty: lines.0.qty
      first_qty_again: "lines[0].qty"
      note: {{field: extra.note, missing: null}}
    destination: {{connector: sql, url: "sqlite:///{erp}", table: carriers, write: upsert}}
"""


def _item(i: int) -> dict[str, Any]:
    return {"id": f"gid://p/{i}", "sku": f"SKU-{i:02d}",
            "carrier_product": {"carrier_product.": f"C{i}"}, "lines": [{"qty": i}, {"qty": 0}],
            "extra": {"note": f"n{i}"} if i % 2 else {}}


def test_map_reads_a_trailing_dot_key_and_quarantines_a_missing_path(tmp_path: Path) -> None:
    items = [_item(i) for i in range(1, 31)]
    items[2]["carrier_product"] = {"carrier": "UPS"}  # SKU-03: the quoted key is absent
    items[4]["lines"] = []  # SKU-05: no first line
    items[7]["carrier_product"] = None  # SKU-08: a present null stays null
    erp = tmp_path / "erp.db"
    with closing(sqlite3.connect(erp)) as conn, conn:
        conn.execute("CREATE TABLE carriers (sku TEXT PRIMARY KEY, carrier TEXT, first_qty "
                     "INTEGER, first_qty_again INTEGER, note TEXT)")
    with serve_app(make_paging_app(PagingState(items))) as base:
        (tmp_path / "pipelines").mkdir()
        (tmp_path / "pipelines" / "carriers.yaml").write_text(
            PIPELINE.format(base=base, erp=erp), encoding="utf-8")
        project = load_project([tmp_path / "pipelines"], env={})
        project.raise_for_errors()
        state = open_state(f"sqlite:///{tmp_path / 'state.db'}")
        try:
            result = run_job(project.job("carriers"), project=project, state=state)
            quarantined = {q.key: q.reason for q in state.quarantine_list("carriers")}
        finally:
            state.close()
    assert result.status == "partial"
    assert quarantined == {
        ("SKU-03",): "carrier: no key 'carrier_product.' in carrier_product (keys: carrier)",
        ("SKU-05",): "first_qty: no item 0 in lines (a list of 0)",
    }
    with closing(sqlite3.connect(erp)) as conn:
        rows = {r[0]: r[1:] for r in conn.execute("SELECT * FROM carriers")}
    assert len(rows) == 28 and "SKU-03" not in rows and "SKU-05" not in rows
    assert rows["SKU-01"] == ("C1", 1, 1, "n1")
    assert rows["SKU-02"] == ("C2", 2, 2, None)  # missing: null
    assert rows["SKU-08"] == (None, 8, 8, None)
