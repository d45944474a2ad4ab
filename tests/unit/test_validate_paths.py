"""validate and field paths: a declared root covers its paths; `missing:` on a field is built
(the malformed-path and unknown-root messages are golden cases: tests/fixtures/invalid/path_*)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.project import load_project
from tests.unit.test_validate_fakes import register_fakes, unregister_fakes

PIPELINE = """version: 2
name: orders
steps:
  - name: orders
    source: {{connector: memdb, table: orders, fields: [id, customer, lines, "a.b"]}}
    key: id
    filter: {{field: customer.vip, equals: true}}
    map:
{map}
    destination: {{connector: memdb, resource: orders}}
"""


@pytest.fixture(autouse=True)
def _fakes() -> Iterator[None]:
    register_fakes()
    yield
    unregister_fakes()


def load(tmp_path: Path, mapping: str) -> tuple[list[str], object]:
    (tmp_path / "orders.yaml").write_text(PIPELINE.format(map=mapping), encoding="utf-8")
    project = load_project([tmp_path], env={})
    return [f"{p.path}: {p.message}" for p in project.problems], project


def test_a_declared_root_covers_its_dotted_indexed_and_quoted_paths(tmp_path: Path) -> None:
    problems, project = load(tmp_path, """      id: id
      email: customer.email
      carrier: {field: 'customer.carrier["carrier_product."]', missing: null}
      first_sku: lines[0].sku
      second_sku: lines.1.sku
      flat: a.b
      city: {coalesce: [customer.address.city, customer.city], missing: quarantine}""")
    assert problems == []
    (step,) = project.job("orders").steps  # type: ignore[attr-defined]
    by_target = {fm.target: fm for fm in step.mappings}
    assert by_target["carrier"].missing == "null"
    assert by_target["city"].missing == "quarantine"
    assert by_target["email"].missing is None  # the default: quarantine


def test_missing_only_goes_with_a_producer_that_can_miss(tmp_path: Path) -> None:
    problems, _ = load(tmp_path, """      id: id
      origin: {const: web, missing: null}""")
    assert problems == ["steps[0].map.origin.missing: 'missing' only applies with field, "
                        "coalesce, lookup or keymap"]
