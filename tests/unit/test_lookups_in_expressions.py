"""Lookups and the key map seen from expressions; `keep`, a filter after lookups."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import ConfigError, RecordError
from runner.spec import Compare, ConnectorRef, Expr, FieldMap, Step
from runner.transforms import compile_step
from runner.transforms.mapping import compile_mappings

GROUPS = {"group": {"A": {"code": "A", "rate": 0.2}, "7": {"code": "7", "rate": 0.1}}}


def _keymap(job: str | None, entity: str, key: tuple[str, ...]) -> str | None:
    return {("products", ("P1",)): "prod_1"}.get((entity, key))


def test_expressions_see_lookup_rows_and_the_key_map() -> None:
    fn = compile_mappings((
        FieldMap("gross", expr="round(price * (1 + lookup('group', upper(g), 'rate')), 2)"),
        FieldMap("found", expr="lookup('group', g) is not None"),
        FieldMap("numeric", expr="lookup('group', n, 'rate')"),
        FieldMap("product_id", expr="keymap('products', item)"),
    ), lookups=GROUPS, keymap=_keymap)
    assert fn({"price": 10, "g": "a", "n": 7, "item": "P1"}) == {
        "gross": 12.0, "found": False, "numeric": 0.1, "product_id": "prod_1"}
    assert fn({"price": 10, "g": "A", "n": None, "item": "P2"})["product_id"] is None
    with pytest.raises(RecordError, match="no lookup 'nope'"):
        compile_mappings((FieldMap("x", expr="lookup('nope', g)"),), lookups=GROUPS,
                         keymap=None)({"g": "A"})


def test_an_unknown_function_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="unknown function 'lookups'"):
        compile_mappings((FieldMap("x", expr="lookups('group', g)"),), lookups=GROUPS,
                         keymap=None)


def _step(keep: Any) -> Step:
    ref = ConnectorRef("memdb", {})
    return Step(name="s", source=ref, destination=ref, key=("sku",), keep=keep, mappings=(
        FieldMap("sku", field="sku"),
        FieldMap("rate", expr="lookup('group', g, 'rate')"),
    ))


def test_keep_drops_records_by_what_a_lookup_found() -> None:
    compiled = compile_step(_step(Compare("rate", "not_null")), lookups=GROUPS)
    out = list(compiled.apply([{"sku": "1", "g": "A"}, {"sku": "2", "g": "Z"},
                               {"sku": "3", "g": "7"}]))
    assert [(item.record["sku"], item.record["rate"]) for item in out] == [("1", 0.2),
                                                                           ("3", 0.1)]


def test_keep_that_cannot_be_evaluated_quarantines_the_record() -> None:
    compiled = compile_step(_step(Expr("rate > 0.15")), lookups=GROUPS)
    out = list(compiled.apply([{"sku": "1", "g": "A"}, {"sku": "2", "g": "Z"}]))
    assert out[0].record["sku"] == "1"
    assert type(out[1]).__name__ == "Rejected" and "failed" in out[1].reason
