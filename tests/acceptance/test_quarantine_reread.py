"""``quarantine retry`` re-reads the source for the quarantined keys (issue 11, item 2).

A product with a bad value was quarantined; fixed in the ERP, ``quarantine retry --all``
answered "released 0, still quarantined 1": it re-sent the stored, broken row. A fix at the
source that does not move the incremental cursor is seen by a re-read only.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.acceptance.engine_env import make_shop

JSONL = """\
version: 1
name: copy
steps:
  - name: items
    source: {{connector: jsonl, path: {src}}}
    map:
      sku: sku
      qty: {{field: qty, type: int}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
"""


def test_retry_reads_the_fixed_record_from_the_source(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=3)
    shop.erp_exec("UPDATE items SET name = NULL WHERE item_id = 'I001'")  # title is required
    done = shop.cli("run", "products")
    assert "quarantined 1" in done.stdout, done.stderr
    shop.erp_exec("UPDATE items SET name = 'Fixed' WHERE item_id = 'I001'")  # cursor unmoved

    retry = shop.cli("quarantine", "retry", "--all")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert "released 1, still quarantined 0" in retry.stdout
    assert "re-read 1 from the source" in retry.stdout
    assert ("I001", "Fixed", 11.25) in shop.products()
    assert "quarantine is empty" in shop.cli("quarantine", "list").stdout


def test_a_record_gone_from_the_source_is_not_resent(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, items=3)
    shop.erp_exec("UPDATE items SET name = NULL WHERE item_id = 'I002'")
    shop.cli("run", "products")
    shop.erp_exec("UPDATE items SET sell_online = 0 WHERE item_id = 'I002'")  # deselected
    retry = shop.cli("quarantine", "retry", "--all")
    assert retry.returncode == 1
    assert "released 0, still quarantined 1" in retry.stdout
    assert "1 no longer at the source (or no longer selected)" in retry.stdout
    assert "quarantine drop" in retry.stdout
    assert all(sku != "I002" for sku, _, _ in shop.products())


def test_a_source_that_cannot_filter_by_key_resends_the_stored_record_and_says_so(
    tmp_path: Path,
) -> None:
    src, dst = tmp_path / "src.jsonl", tmp_path / "dst.jsonl"
    src.write_text(json.dumps({"sku": "A", "qty": "x"}) + "\n" + json.dumps({"sku": "B",
                                                                            "qty": 2}) + "\n")
    (tmp_path / "pipes").mkdir()
    (tmp_path / "pipes" / "copy.yaml").write_text(JSONL.format(src=src, dst=dst))
    shop = make_shop(tmp_path, items=0)
    env = {"COMMERCE_SYNC_PIPELINES": str(tmp_path / "pipes")}
    shop.cli("run", "copy", **env)
    retry = shop.cli("quarantine", "retry", "--all", **env)
    assert "released 0, still quarantined 1" in retry.stdout
    assert ("copy/items: the source cannot filter by key, so the stored record was sent "
            "again") in retry.stdout
