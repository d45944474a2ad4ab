"""Every example of docs/pipeline-language.md is a file under tests/fixtures/docs/, shown
verbatim, and the folder validates as one project (its project.yaml shared by the others)."""

from __future__ import annotations

import re
from pathlib import Path

from runner.project import load_project

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "pipeline-language.md"
EXAMPLES = ROOT / "tests" / "fixtures" / "docs"
BLOCK = re.compile(r"<!-- example: (\S+) -->\n```yaml\n(.*?)```", re.S)


def test_each_example_in_the_doc_is_its_fixture_file() -> None:
    shown = dict(BLOCK.findall(DOC.read_text()))
    assert set(shown) == {f"tests/fixtures/docs/{p.name}" for p in EXAMPLES.glob("*.yaml")}
    for name, text in shown.items():
        assert text == (ROOT / name).read_text(), name


def test_the_examples_validate_as_one_project() -> None:
    project = load_project([EXAMPLES], env={})
    assert [str(p) for p in project.problems] == []
    assert sorted(project.jobs) == ["complete-sync", "inventory", "order-status", "orders",
                                    "prices", "tracking"]
    status = project.job("order-status")
    # Each direction's writer remembers the guarded field for the other's guard.
    assert [s.echo_fields for s in status.steps] == [("status",), ("status",)]
    carrier = next(m for m in project.job("tracking").steps[0].mappings or ()
                   if m.target == "carrier")
    assert carrier.lookup is not None and carrier.lookup.mapped
    prices = project.job("prices").steps[0]
    # From project.yaml: the shared connection, batch and retry defaults (500ms).
    assert prices.destination.options["url"] == "sqlite:///var/prices.db"
    assert prices.batch_size == 500 and prices.errors.retry.backoff_s == 0.5
    assert project.job("inventory").schedule.timezone == "America/Chicago"
    assert project.job("complete-sync").mode == "full"
    orders = {fm.target: fm for fm in project.job("orders").steps[0].mappings or ()}
    assert orders["carrier_product"].field == 'carrier["carrier_product."]'
    assert orders["region"].missing == "null"
    since = project.job("inventory").steps[0].source.options["since_query"]
    assert since.rstrip().endswith("FROM products p WHERE (p.modified_at >= :since)")
