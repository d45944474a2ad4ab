"""A record nested from rows read as tuples is read in place (NestedRow, issue 16): it equals,
reads, iterates and serialises as the dict nest makes, and a step maps it, keys it and sets it
aside exactly as that dict: the same records, keys, reasons and quarantined sources."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings

from connectors.api import Rows
from runner.engine.batch import source_json
from runner.spec import FieldMap, LookupRef, NestSpec
from runner.transforms import Rejected, Transformed, compile_step
from runner.transforms.nested_row import NestedRow, nested_row_type
from runner.transforms.shape import nest, nest_rows
from tests.unit.test_engine import make_step
from tests.unit.test_engine_prehash import VARIANTS
from tests.unit.test_read_rows import COLUMNS, _blocks, _dicts, _rows


@settings(max_examples=150, deadline=None)
@given(_rows())
def test_a_nested_row_is_the_dict_nest_makes(
        case: tuple[list[tuple[Any, ...]], list[int]]) -> None:
    rows, cuts = case
    kind = nested_row_type(COLUMNS, VARIANTS)
    views = list(nest_rows(_blocks(rows, cuts), VARIANTS, kind))
    dicts = list(nest(_dicts(rows), VARIANTS))
    assert views == dicts
    for view, want in zip(views, dicts, strict=True):
        assert type(view) is kind
        assert list(view) == list(want) and len(view) == len(want)
        assert repr(dict(view)) == repr(want)
        assert source_json(view) == source_json(want)
        for name in (*want, "vsku", "size", "absent"):
            assert (name in view) == (name in want)
            assert view.get(name, "default") == want.get(name, "default")
            if name in want:
                assert view[name] == want[name]
            else:
                with pytest.raises(KeyError):
                    view[name]


def test_items_named_like_a_column_take_its_place() -> None:
    columns = ("item_id", "variants", "vsku", "size")
    rows = [("A1", "a column", "A1-S", "S"), ("A1", "a column", "A1-M", "M")]
    [view] = nest_rows([Rows(columns, rows)], VARIANTS, nested_row_type(columns, VARIANTS))
    [want] = nest(_dicts(rows, columns), VARIANTS)
    assert list(view.items()) == list(want.items())
    assert view["variants"] == [{"vsku": "A1-S", "size": "S"}, {"vsku": "A1-M", "size": "M"}]
    assert isinstance(view, NestedRow)


PRODUCT_COLUMNS = ("item_id", "name", "price", "tax_group", "vsku", "size")
PRODUCTS = [
    ("A1", "Chair", Decimal("10.5"), "STD", "A1-S", "S"),
    ("A1", "Chair", Decimal("10.5"), "STD", "A1-M", None),
    ("A2", "", Decimal("3"), "STD", None, None),  # no title: refused by `required`
    ("A3", "Desk", "abc", "RED", "A3-L", "L"),  # not a price: refused by the conversion
    ("A4", "Lamp", None, "NONE", None, None),  # no tax group: refused by the lookup
    ("A5", "Shelf", Decimal("7.25"), None, "A5-S", "S"),
    (None, "Nothing", Decimal("1"), "STD", None, None),  # no key: refused, no key to quote
]


def _products_step() -> Any:
    mappings = (
        FieldMap("sku", field="item_id"),
        FieldMap("title", field="name", required=True, max_length=20),
        FieldMap("price", field="price", type="decimal", scale=2),
        FieldMap("rate", lookup=LookupRef("taxes", on="tax_group", take="rate",
                                          missing="quarantine")),
        FieldMap("tax_code", field="tax_group"),  # a plain copy from the fourth column
        FieldMap("absent", field="not_read"),  # a field the read lacks: null
        FieldMap("published", const=True, has_const=True),
        FieldMap("variants", field="variants",
                 each=(FieldMap("sku", field="vsku"), FieldMap("size", field="size"))),
    )
    return make_step(mappings=mappings, nest=NestSpec(("item_id",), "variants",
                                                      ("vsku", "size")))


def _described(items: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in items:
        if isinstance(item, Transformed):
            out.append(("ok", repr(item.record), item.key, source_json(item.source)))
        else:
            assert isinstance(item, Rejected)
            out.append(("refused", item.reason, item.key, source_json(item.source)))
    return out


@pytest.mark.parametrize("cut", [1, 3, 7])
def test_a_step_maps_and_sets_aside_nested_rows_as_their_dicts(cut: int) -> None:
    taxes = {"STD": {"code": "STD", "rate": 0.2}, "RED": {"code": "RED", "rate": 0.05}}
    compiled = compile_step(_products_step(), lookups={"taxes": taxes})
    assert compiled.takes_rows
    blocks = [Rows(PRODUCT_COLUMNS, PRODUCTS[:cut]), Rows(PRODUCT_COLUMNS, PRODUCTS[cut:])]
    as_views = list(compiled.apply_rows(blocks))
    as_dicts = list(compiled.apply(_dicts(PRODUCTS, PRODUCT_COLUMNS)))
    assert _described(as_views) == _described(as_dicts)
    assert all(isinstance(i.source, NestedRow) for i in as_views)
    assert all(type(i.source) is dict for i in as_dicts)
    kinds = [d[0] for d in _described(as_views)]
    assert kinds == ["ok", "refused", "refused", "refused", "ok", "refused"]
    first = as_views[0]
    assert isinstance(first, Transformed)
    assert first.record["variants"] == [{"sku": "A1-S", "size": "S"},
                                        {"sku": "A1-M", "size": None}]
    assert first.record["absent"] is None and first.record["price"] == Decimal("10.50")
    assert first.record["tax_code"] == "STD" and first.record["rate"] == 0.2


def test_a_read_with_repeated_column_names_nests_dicts_and_maps_them() -> None:
    columns = ("item_id", "name", "name", "price", "tax_group", "vsku", "size")
    rows = [("A1", "first", "Chair", Decimal("2"), "STD", "A1-S", "S")]
    compiled = compile_step(_products_step(),
                            lookups={"taxes": {"STD": {"code": "STD", "rate": 0.2}}})
    [item] = compiled.apply_rows([Rows(columns, rows)])
    assert isinstance(item, Transformed) and type(item.source) is dict
    assert item.record["title"] == "Chair"  # a dict keeps the last of a repeated name


def test_the_mapping_of_a_nested_row_refuses_as_the_dicts_does() -> None:
    """One refusal, the same message, whichever row form the step read."""
    compiled = compile_step(_products_step(), lookups={"taxes": {}})
    [view_item] = compiled.apply_rows([Rows(PRODUCT_COLUMNS, PRODUCTS[:1])])
    [dict_item] = compiled.apply(_dicts(PRODUCTS[:1], PRODUCT_COLUMNS))
    assert isinstance(view_item, Rejected) and isinstance(dict_item, Rejected)
    assert view_item.reason == dict_item.reason
    assert "no row in lookup 'taxes'" in view_item.reason
