"""runner.transforms.source_keys gives the keys the full transform path gives (issue 16).

The incremental run finds deselected records by the keys of its window read with the filter
negated (runner.engine.follow). Where source_keys answers, it must give exactly the keys of
``compile_step(...).apply(rows)`` (records and rows set aside with a key) but the empty ones,
which are never written; everywhere else it must decline, and the rows are mapped as before.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.spec import (
    All,
    Compare,
    ConnectorRef,
    CursorSpec,
    Expr,
    FieldMap,
    Filter,
    FlattenSpec,
    KeymapRef,
    LookupRef,
    NestSpec,
    Not,
    PluginRef,
    Step,
)
from runner.transforms import compile_step, source_keys

SELL = Compare("sell_online", "equals", True)
LOOKUPS = {"tax": {"T1": {"code": "T1", "rate": 0.2}}}


def make_step(
    mappings: tuple[FieldMap, ...] | None, key: tuple[str, ...] = ("sku",), **kwargs: Any
) -> Step:
    return Step(
        name="products",
        source=ConnectorRef("sql"),
        destination=ConnectorRef("http"),
        key=key,
        mappings=mappings,
        mode="incremental",
        cursor=CursorSpec("changed_at"),
        filter=SELL,
        delete="unpublish",
        **kwargs,
    )


def mapped_keys(step: Step, residual: Filter | None, rows: list[dict[str, Any]]) -> set[Any]:
    compiled = compile_step(
        step, lookups=LOOKUPS, keymap=lambda job, entity, key: None, residual_filter=residual
    )
    keys = {tuple(i.key) for i in compiled.apply(rows) if i.key is not None}
    return {k for k in keys if any(k)}


INVENTORY = make_step(
    (
        FieldMap("sku", field="item_id"),
        FieldMap("title", field="name", required=True, max_length=5),
        FieldMap("price", field="list_price", type="decimal", scale=2),
        FieldMap("tax_rate", lookup=LookupRef("tax", "tax_group", "rate", missing="null")),
        FieldMap("code", lookup=LookupRef("tax", "tax_group", "code", missing="quarantine")),
        FieldMap(
            "variants",
            field="variants",
            each=(FieldMap("sku", field="variant_sku"), FieldMap("size", field="size")),
        ),
    ),
    nest=NestSpec(by=("item_id",), into="variants", fields=("variant_sku", "size")),
)

ROWS: list[dict[str, Any]] = [
    # a product and its variants; a title too long (set aside, key kept); no title
    {
        "item_id": "P1",
        "name": "One",
        "list_price": "1.5",
        "tax_group": "T1",
        "variant_sku": "V1",
        "size": "S",
        "sell_online": False,
        "changed_at": 1,
    },
    {
        "item_id": "P1",
        "name": "One",
        "list_price": "1.5",
        "tax_group": "T1",
        "variant_sku": "V2",
        "size": "M",
        "sell_online": False,
        "changed_at": 1,
    },
    {
        "item_id": "P2",
        "name": "Too long",
        "list_price": "2",
        "tax_group": "T1",
        "variant_sku": None,
        "size": None,
        "sell_online": None,
        "changed_at": 1,
    },
    {
        "item_id": 3,
        "name": None,
        "list_price": "x",
        "tax_group": "T9",
        "variant_sku": None,
        "size": None,
        "sell_online": False,
        "changed_at": 1,
    },
    # no key: never written, never deselected
    {
        "item_id": None,
        "name": "Four",
        "list_price": "4",
        "tax_group": "T1",
        "variant_sku": None,
        "size": None,
        "sell_online": False,
        "changed_at": 1,
    },
    {
        "item_id": "",
        "name": "Five",
        "list_price": "5",
        "tax_group": "T1",
        "variant_sku": None,
        "size": None,
        "sell_online": False,
        "changed_at": 1,
    },
]


def test_the_inventory_steps_keys_without_mapping() -> None:
    reader = source_keys(INVENTORY, Not(SELL))
    assert reader is not None
    assert reader.fields == {"item_id", "sell_online", "changed_at"}
    assert (
        reader.keys(ROWS) == mapped_keys(INVENTORY, Not(SELL), ROWS) == {("P1",), ("P2",), ("3",)}
    )
    # The filter pushed down to the source: no residual to apply here.
    pushed = source_keys(INVENTORY, None)
    assert pushed is not None
    assert pushed.keys(ROWS) == mapped_keys(INVENTORY, None, ROWS)


def test_a_row_the_filter_cannot_judge_keeps_its_key() -> None:
    # The full path sets such a row aside with its source key: it is deselected all the same.
    residual = Expr("sell_online + 1 > 1")
    rows: list[dict[str, Any]] = [
        {"item_id": "P1", "sell_online": "yes"},
        {"item_id": "P2", "sell_online": 1},
        {"item_id": "P3", "sell_online": 0},
    ]
    step = make_step((FieldMap("sku", field="item_id"),))
    reader = source_keys(step, residual)
    assert reader is not None
    assert reader.keys(rows) == mapped_keys(step, residual, rows) == {("P1",), ("P2",)}


def test_composite_keys_and_absent_fields() -> None:
    step = make_step(
        (FieldMap("a", field="x"), FieldMap("b", field="y"), FieldMap("n", field="z", type="int")),
        key=("a", "b"),
    )
    rows: list[dict[str, Any]] = [
        {"x": "1", "y": 2, "z": "bad"},
        {"x": None, "y": "B"},
        {"y": "C", "z": 1},
        {"x": None, "y": None, "z": 1},
        {"x": b"raw", "y": 1.5, "z": 2},
    ]
    reader = source_keys(step, None)
    assert reader is not None
    assert (
        reader.keys(rows)
        == mapped_keys(step, None, rows)
        == {("1", "2"), ("", "B"), ("", "C"), ("b'raw'", "1.5")}
    )


def test_it_declines_where_only_mapping_gives_the_key() -> None:
    plain = (FieldMap("sku", field="item_id"),)
    declined = [
        make_step((FieldMap("sku", field="item_id", type="int"),)),
        make_step((FieldMap("sku", field="item_id", default="X", has_default=True),)),
        make_step((FieldMap("sku", field="item_id", required=True),)),
        make_step((FieldMap("sku", field="item_id", max_length=3),)),
        make_step((FieldMap("sku", field="item_id", expect=("A",)),)),
        make_step((FieldMap("sku", expr="item_id + 'x'"),)),
        make_step((FieldMap("sku", coalesce=("a", "b")),)),
        make_step((FieldMap("sku", field="item.id"),)),
        make_step((FieldMap("sku", lookup=LookupRef("tax", "code", "code", missing="null")),)),
        make_step((FieldMap("sku", keymap=KeymapRef("products", "item_id")),)),
        make_step((FieldMap("title", field="name"),)),  # the key is not mapped
        make_step(None),  # no map: every source field passes through
        make_step(plain, keep=Compare("sku", "not_null", True)),
        make_step(plain, flatten=FlattenSpec(field="lines")),
        make_step(plain, transforms=(PluginRef("split_name", {}),)),
        make_step(plain, nest=NestSpec(by=("order",), into="lines", fields=("x",))),
        make_step(plain, nest=NestSpec(by=("item_id",), into="lines", fields=("item_id",))),
        make_step((*plain, FieldMap("t", lookup=LookupRef("tax", "g", "rate")))),  # fail
        make_step((*plain, FieldMap("p", keymap=KeymapRef("products", "g"), missing="fail"))),
        make_step((*plain, FieldMap("c", field="customer.city", missing="fail"))),
        make_step(
            (*plain, FieldMap("v", field="v", each=(FieldMap("c", field="a.b", missing="fail"),)))
        ),
    ]
    for step in declined:
        assert source_keys(step, Not(SELL)) is None, step.mappings


VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "A", "B", "1"]),
    st.integers(0, 3),
    st.booleans(),
    st.sampled_from([1.0, b"A"]),
)
ROW = st.fixed_dictionaries(
    {
        "item_id": VALUES,
        "group": st.sampled_from(["g1", "g2"]),
        "name": VALUES,
        "variant_sku": VALUES,
        "sell_online": VALUES,
        "tax_group": VALUES,
    },
    optional={"price": VALUES},
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(ROW, max_size=8),
    nested=st.booleans(),
    residual=st.sampled_from(
        [None, Not(SELL), All((Not(SELL), Compare("name", "in", ("A", 1)))), Expr("name + 1 > 1")]
    ),
)
def test_same_keys_as_the_mapped_rows(
    rows: list[dict[str, Any]], nested: bool, residual: Filter | None
) -> None:
    step = make_step(
        (
            FieldMap("sku", field="item_id"),
            FieldMap("title", field="name", required=True),
            FieldMap("price", field="price", type="decimal"),
            FieldMap("rate", lookup=LookupRef("tax", "tax_group", "rate", missing="quarantine")),
            FieldMap("variants", field="variants", each=(FieldMap("sku", field="variant_sku"),)),
        ),
        nest=NestSpec(by=("item_id", "group"), into="variants", fields=("variant_sku",))
        if nested
        else None,
    )
    reader = source_keys(step, residual)
    assert reader is not None
    assert {"item_id", "changed_at"} <= reader.fields
    assert ("group" in reader.fields) is nested
    assert reader.keys(rows) == mapped_keys(step, residual, rows)
