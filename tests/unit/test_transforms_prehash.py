"""Hashing source records before the mapping (issue 16): what it skips, and when it refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from runner.errors import ConfigError
from runner.spec import (
    ConnectorRef,
    Expr,
    FieldMap,
    FlattenSpec,
    KeymapRef,
    LookupRef,
    NestSpec,
    PluginRef,
    Step,
)
from runner.transforms import (
    Rejected,
    Transformed,
    Unchanged,
    compile_step,
    source_hasher,
)

TAX = {"T1": {"code": "T1", "rate": Decimal("0.20")}, "T2": {"code": "T2", "rate": Decimal("0")}}
MAPPINGS = (
    FieldMap("sku", field="item_id"),
    FieldMap("title", field="name", required=True),
    FieldMap("price", field="price", type="decimal", scale=2),
    FieldMap("tax_rate", lookup=LookupRef("tax", "tax_group", "rate", "null"), type="float"),
    FieldMap("variants", field="variants", each=(FieldMap("sku", field="variant_sku"),)),
)
NEST = NestSpec(by=("item_id",), into="variants", fields=("variant_sku",))
ROWS = [
    {"item_id": "A", "name": "Chair", "price": "10", "tax_group": "T1", "variant_sku": "A-1"},
    {"item_id": "A", "name": "Chair", "price": "10", "tax_group": "T1", "variant_sku": "A-2"},
    {"item_id": "B", "name": "Desk", "price": "99.5", "tax_group": "T2", "variant_sku": None},
    {"item_id": "C", "name": "", "price": "1", "tax_group": "T1", "variant_sku": "C-1"},
]


def make_step(mappings: tuple[FieldMap, ...] = MAPPINGS, **kwargs: Any) -> Step:
    return Step(name="products", source=ConnectorRef("sql"), destination=ConnectorRef("http"),
                key=("sku",), mappings=mappings, nest=kwargs.pop("nest", NEST), **kwargs)


class Stored:
    """The state's stored hashes, as ``get_hashes`` answers them; records every question."""

    def __init__(self, hashes: Mapping[tuple[str, ...], str] | None = None) -> None:
        self.hashes = dict(hashes or {})
        self.asked: list[list[tuple[str, ...]]] = []

    def __call__(self, keys: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
        self.asked.append(list(keys))
        return {k: self.hashes[k] for k in keys if k in self.hashes}


def changed_run(step: Step, rows: list[dict[str, Any]], stored: Stored,
                lookups: Mapping[str, Any] | None = None, lookahead: int = 500) -> list[Any]:
    lookups = TAX_LOOKUPS if lookups is None else lookups
    hasher = source_hasher(step, lookups)
    assert hasher is not None
    compiled = compile_step(step, lookups=lookups)
    return list(compiled.apply_changed(rows, hasher, stored, lookahead=lookahead))


TAX_LOOKUPS = {"tax": TAX}


def remember(items: list[Any]) -> dict[tuple[str, ...], str]:
    """What the engine would store after writing the Transformed records."""
    return {i.key: i.source_hash for i in items if isinstance(i, Transformed)}


def test_first_run_maps_everything_as_apply_does_and_carries_source_hashes() -> None:
    step = make_step()
    plain = list(compile_step(step, lookups=TAX_LOOKUPS).apply(ROWS))
    items = changed_run(step, ROWS, Stored())
    assert [type(i) for i in items] == [type(i) for i in plain] == [
        Transformed, Transformed, Rejected]
    assert [i.record for i in items[:2]] == [i.record for i in plain[:2]]
    assert items[0].record["variants"] == [{"sku": "A-1"}, {"sku": "A-2"}]
    assert items[2].reason == plain[2].reason == "title: a value is required"
    hashes = [i.source_hash for i in items[:2]]
    assert all(isinstance(h, str) and len(h) == 32 for h in hashes) and hashes[0] != hashes[1]


def _keys(item: Any) -> list[tuple[str, ...]]:
    return list(item.keys) if isinstance(item, Unchanged) else [item.key]


def test_unchanged_records_are_not_mapped_and_a_changed_one_is() -> None:
    step = make_step()
    stored = Stored(remember(changed_run(step, ROWS, Stored())))
    again = changed_run(step, ROWS, stored)
    # Consecutive unchanged records come out as one item holding their keys in read order.
    assert [(type(i).__name__, _keys(i)) for i in again] == [
        ("Unchanged", [("A",), ("B",)]), ("Rejected", [("C",)])]
    assert isinstance(again[0], Unchanged)
    edited = [dict(r) for r in ROWS]
    edited[1]["variant_sku"] = "A-3"  # a line of A changed: A's nested record changed
    third = changed_run(step, edited, stored)
    assert [(type(i).__name__, _keys(i)) for i in third][:2] == [
        ("Transformed", [("A",)]), ("Unchanged", [("B",)])]
    assert third[0].record["variants"] == [{"sku": "A-1"}, {"sku": "A-3"}]


@pytest.mark.parametrize("change", ["lookup row", "mapping", "nest", "key"])
def test_a_changed_lookup_or_configuration_gives_every_record_a_new_hash(change: str) -> None:
    step, lookups = make_step(), TAX_LOOKUPS
    stored = Stored(remember(changed_run(step, ROWS, Stored())))
    if change == "lookup row":
        lookups = {"tax": {**TAX, "T2": {"code": "T2", "rate": Decimal("0.05")}}}
    elif change == "mapping":
        step = make_step((*MAPPINGS[:2], FieldMap("price", field="price", type="decimal",
                                                  scale=3), *MAPPINGS[3:]))
    elif change == "nest":
        step = make_step(nest=NestSpec(by=("item_id",), into="variants",
                                       fields=("variant_sku", "size")))
    else:
        step = make_step((FieldMap("sku", field="item_id"), *MAPPINGS[1:]), dedupe=False)
    items = changed_run(step, ROWS, stored, lookups)
    assert [type(i).__name__ for i in items] == ["Transformed", "Transformed", "Rejected"]


def test_stored_hashes_are_asked_once_per_lookahead_chunk() -> None:
    step = make_step(nest=None, mappings=MAPPINGS[:4])
    rows = [{"item_id": f"I{n}", "name": "x", "price": "1", "tax_group": "T1"}
            for n in range(7)]
    stored = Stored()
    items = changed_run(step, rows, stored, lookahead=3)
    assert [len(keys) for keys in stored.asked] == [3, 3, 1]
    assert [i.key for i in items] == [(f"I{n}",) for n in range(7)]


def test_residual_filter_rejections_still_reach_quarantine() -> None:
    step = make_step(nest=None, mappings=MAPPINGS[:4])
    rows = [{"item_id": "A", "name": "x", "price": "1", "tax_group": "T1", "qty": "many"},
            {"item_id": "B", "name": "y", "price": "2", "tax_group": "T1", "qty": 3}]
    hasher = source_hasher(step, TAX_LOOKUPS)
    assert hasher is not None
    compiled = compile_step(step, lookups=TAX_LOOKUPS,
                            residual_filter=Expr("qty > 1"))
    items = list(compiled.apply_changed(rows, hasher, Stored()))
    assert [type(i) for i in items] == [Rejected, Transformed]
    assert items[0].key == ("A",)


@pytest.mark.parametrize("reason", ["keymap", "keymap in each", "plugin", "flatten",
                                    "typed key", "no mappings"])
def test_refused_where_the_output_depends_on_more_than_the_record(reason: str) -> None:
    mappings: tuple[FieldMap, ...] | None = MAPPINGS
    kwargs: dict[str, Any] = {}
    if reason == "keymap":
        mappings = (*MAPPINGS, FieldMap("brand_id", keymap=KeymapRef("brands", "brand")))
    elif reason == "keymap in each":
        mappings = (*MAPPINGS[:4], FieldMap("variants", field="variants", each=(
            FieldMap("product", keymap=KeymapRef("products", "item_id")),)))
    elif reason == "plugin":
        kwargs["transforms"] = (PluginRef("split_name"),)
    elif reason == "flatten":
        kwargs.update(nest=None, flatten=FlattenSpec("variants"))
    elif reason == "typed key":
        mappings = (FieldMap("sku", field="item_id", type="int"), *MAPPINGS[1:])
    else:
        mappings = None
    step = Step(name="products", source=ConnectorRef("sql"), destination=ConnectorRef("http"),
                key=("sku",), mappings=mappings, **kwargs)
    assert source_hasher(step, TAX_LOOKUPS) is None
    if reason in ("plugin", "flatten"):
        fake = source_hasher(make_step(), TAX_LOOKUPS)
        assert fake is not None
        with pytest.raises(ConfigError, match="cannot hash its source records"):
            list(compile_step(step, lookups=TAX_LOOKUPS).apply_changed([], fake, Stored()))
