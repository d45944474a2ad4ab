"""The whole-record mapping (template, copies set one by one, constants held by the template,
lists of dicts copied without a call per item; issue 16) gives exactly what its entries give
one by one through ``compile_field``: the same fields in mapping order, the same values and
types (the same constant object), and a refusal with one of the entries' own messages."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import ConfigError, RecordError
from runner.spec import FieldMap, NestSpec
from runner.transforms.convert import show
from runner.transforms.mapping import compile_field, compile_mappings
from runner.transforms.nested_row import nested_row_type

SOURCES = ("a", "b", "c", "items", "n.x")
SHARED_LIST: list[Any] = [1, {"k": 2}]
CONSTS = (True, None, 0, "", "USD", SHARED_LIST, {"k": [1]})

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    [1.5, -0.0, 0.1, 143.99, "", " 2.5 ", "abc", "x" * 30, Decimal("1.50"), b"\xff", b"ok"]))
_items = st.one_of(
    st.dictionaries(st.sampled_from(["sku", "size", "colour", "extra"]), _scalars, max_size=4),
    _scalars, st.lists(_scalars, max_size=2))
_values = st.one_of(_scalars, st.lists(_items, max_size=4),
                    st.dictionaries(st.sampled_from(["x", "y"]), _scalars, max_size=2))
_rows = st.dictionaries(st.sampled_from((*SOURCES, "n")), _values, max_size=6)

_sub_copies = st.lists(st.sampled_from(["sku", "size", "colour"]), min_size=1, max_size=3,
                       unique=True).map(lambda names: tuple(
                           FieldMap(target=f"t_{n}", field=n) for n in names))
_subs = st.one_of(
    _sub_copies,
    _sub_copies.map(lambda subs: (*subs, FieldMap(target="fixed", const="c", has_const=True))),
    _sub_copies.map(lambda subs: (*subs, FieldMap(target="n", field="size", type="int"))),
)


@st.composite
def _field_maps(draw: st.DrawFn, target: str) -> FieldMap:
    kind = draw(st.sampled_from(["copy", "bare", "typed", "const", "checked", "each"]))
    source = draw(st.sampled_from(SOURCES))
    if kind == "copy":
        return FieldMap(target=target, field=source)
    if kind == "bare":
        return FieldMap(target=source)
    if kind == "typed":
        type_name = draw(st.sampled_from(["decimal", "float", "int", "string"]))
        return FieldMap(target=target, field=source, type=type_name,
                        scale=2 if type_name == "decimal" else None)
    if kind == "const":
        return FieldMap(target=target, const=draw(st.sampled_from(CONSTS)), has_const=True,
                        required=draw(st.booleans()))
    if kind == "checked":
        return FieldMap(target=target, field=source, required=True, max_length=20)
    return FieldMap(target=target, field="items", each=draw(_subs))


@st.composite
def _mappings(draw: st.DrawFn) -> tuple[FieldMap, ...]:
    n = draw(st.integers(1, 6))
    maps = [draw(_field_maps(f"f{i}")) for i in range(n)]
    seen: set[str] = set()
    return tuple(fm for fm in maps if not (fm.target in seen or seen.add(fm.target)))


def _one_by_one(mappings: tuple[FieldMap, ...], row: Any) -> tuple[Any, set[str]]:
    """The record the entries give one by one, or None, and every entry's refusal. ``each``
    is spelled out here (the module's rules), not taken from the code under test."""
    out: dict[str, Any] = {}
    refused: set[str] = set()
    for fm in mappings:
        try:
            out[fm.target] = (_each(fm, row) if fm.each is not None
                              else compile_field(fm, lookups=None, keymap=None)(row))
        except RecordError as exc:
            refused.add(str(exc))
    return (None if refused else out), refused


def _each(fm: FieldMap, row: Any) -> Any:
    assert fm.each is not None and fm.field is not None
    items = row.get(fm.field)
    if items is None:
        return None
    if not isinstance(items, list | tuple):
        raise RecordError(f"{fm.target}: {show(items)} is not a list", field=fm.target)
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise RecordError(f"{fm.target}[{index}]: {show(item)} is not an object",
                              field=fm.target)
        mapped, refused = _one_by_one(fm.each, item)
        if mapped is None:
            first = next(iter(refused)) if len(refused) == 1 else None
            raise RecordError(f"{fm.target}[{index}].{first}", field=fm.target)
        out.append(mapped)
    return out


@settings(max_examples=200, deadline=None)
@given(mappings=_mappings(), rows=st.lists(_rows, min_size=1, max_size=4))
def test_a_record_is_its_entries_one_by_one(mappings: tuple[FieldMap, ...],
                                            rows: list[dict[str, Any]]) -> None:
    try:
        map_row = compile_mappings(mappings, lookups=None, keymap=None)
    except ConfigError:
        return
    for row in rows:
        expected, refused = _one_by_one(mappings, row)
        try:
            got = map_row(row)
        except RecordError as exc:
            assert expected is None, (mappings, row)
            # An item refused by two entries names one of them: compare up to the index.
            assert str(exc) in refused or any(
                r.endswith(".None") and str(exc).startswith(r[:-4]) for r in refused
            ), (mappings, row, refused)
            continue
        assert expected is not None, (mappings, row, refused)
        assert repr(list(got.items())) == repr(list(expected.items()))
        for fm in mappings:
            if fm.has_const and not isinstance(fm.const, bool | int | str | None):
                assert got[fm.target] is fm.const


def test_the_benchmark_shape() -> None:
    """The products mapping of the benchmark, on a product with variants, one missing a
    field, and one without variants."""
    subs = tuple(FieldMap(target=n, field=s) for n, s in
                 (("sku", "variant_sku"), ("size", "size"), ("colour", "colour")))
    mappings = (
        FieldMap(target="sku", field="item_id"),
        FieldMap(target="title", field="name", required=True, max_length=200),
        FieldMap(target="price", field="list_price", type="decimal", scale=2),
        FieldMap(target="currency", field="currency"),
        FieldMap(target="published", const=True, has_const=True),
        FieldMap(target="variants", field="variants", each=subs),
    )
    map_row = compile_mappings(mappings, lookups=None, keymap=None)
    row = {"item_id": "I1", "name": "Lamp", "list_price": 143.99, "currency": "USD",
           "variants": [{"variant_sku": "V1", "size": "S", "colour": "red"},
                        {"variant_sku": "V2", "colour": "blue"}]}
    assert map_row(row) == {
        "sku": "I1", "title": "Lamp", "price": Decimal("143.99"), "currency": "USD",
        "published": True,
        "variants": [{"sku": "V1", "size": "S", "colour": "red"},
                     {"sku": "V2", "size": None, "colour": "blue"}],
    }
    assert list(map_row({"item_id": "I2", "name": "x", "variants": []})) == [
        "sku", "title", "price", "currency", "published", "variants"]
    assert map_row({"item_id": "I2", "name": "x", "variants": []})["currency"] is None


def test_a_checked_text_field_answers_at_its_bounds() -> None:
    """title: {field: name, required: true, max_length: 5}: the one-get path for text and the
    general checks for everything else."""
    title = compile_field(FieldMap(target="title", field="name", required=True, max_length=5),
                          lookups=None, keymap=None)
    optional = compile_field(FieldMap(target="title", field="name", max_length=5),
                             lookups=None, keymap=None)
    for value, expected in [("abcd", "abcd"), ("abcde", "abcde"), (b"ok", "ok"), (7, 7),
                            ("é" * 5, "é" * 5), (1.5, 1.5)]:
        assert title({"name": value}) == expected
        assert type(title({"name": value})) is type(expected)
    for row, message in [({"name": "abcdef"}, "title: 'abcdef' is longer than 5 characters"),
                         ({"name": b"abcdef"}, "title: 'abcdef' is longer than 5 characters"),
                         ({"name": ""}, "title: a value is required"),
                         ({"name": None}, "title: a value is required"),
                         ({}, "title: a value is required"),
                         ({"name": b"\xff"}, "title: b'\\xff' is not valid UTF-8 text")]:
        with pytest.raises(RecordError) as info:
            title(row)
        assert str(info.value) == message
    assert optional({"name": ""}) == "" and optional({}) is None


def _answer(fn: Any, row: Mapping[str, Any]) -> tuple[str, Any]:
    try:
        value = fn(row)
    except RecordError as exc:
        return "refused", str(exc)
    return "value", (type(value), repr(value))


_TYPED_VALUES = (None, True, False, 0, -5, 7, 1.5, -0.0, 0.1, 143.99, "", " ", " 2.5 ", "12",
                 " 7 ", "0", "abc", "true", "no", "2024-05-01", "2024-05-01T10:00:00Z",
                 "2024-13-01", Decimal("1.50"), Decimal("NaN"), b"\xff", b"12", [1], {"a": 1})


@pytest.mark.parametrize("type_name", ["decimal", "float", "int", "string", "bool", "date",
                                       "datetime"])
def test_a_typed_required_field_answers_as_the_general_checks(type_name: str) -> None:
    """{field, type, required: true}: the one-get path (an order's total, a line's quantity)
    gives the general path's value, or its refusal, for every value and for none (a
    max_length no value reaches sends the same entry down the general path)."""
    fm = FieldMap(target="total", field="amount", type=type_name, required=True,
                  scale=2 if type_name == "decimal" else None)
    fast = compile_field(fm, lookups=None, keymap=None)
    general = compile_field(FieldMap(target="total", field="amount", type=type_name,
                                     required=True, max_length=10**9,
                                     scale=2 if type_name == "decimal" else None),
                            lookups=None, keymap=None)
    assert fast.__name__ == "converted_required" and general.__name__ == "checked"
    for row in [{}, *({"amount": value} for value in _TYPED_VALUES)]:
        assert _answer(fast, row) == _answer(general, row), row


@settings(max_examples=200, deadline=None)
@given(mappings=_mappings(), rows=st.lists(_rows, min_size=1, max_size=4))
def test_a_nested_row_maps_as_the_dict_it_equals(mappings: tuple[FieldMap, ...],
                                                 rows: list[dict[str, Any]]) -> None:
    """The mapping compiled for NestedRow rows (fields copied by position) against the dict
    mapping of the same record: the same fields, values and refusals. ``items`` is the nested
    list; a source the row lacks reads as null either way."""
    try:
        map_dict = compile_mappings(mappings, lookups=None, keymap=None)
    except ConfigError:
        return
    for row in rows:
        columns = tuple(k for k in row if k != "items")
        kind = nested_row_type(columns, NestSpec(by=columns[:1], into="items", fields=()))
        map_view = compile_mappings(mappings, lookups=None, keymap=None, index=kind.index)
        view = kind(tuple(row[c] for c in columns), row.get("items"))
        outcomes = []
        for mapping, source in ((map_view, view), (map_dict, dict(view))):
            try:
                outcomes.append(repr(list(mapping(source).items())))
            except RecordError as exc:
                outcomes.append(f"refused: {exc}")
        assert outcomes[0] == outcomes[1], (mappings, row)


def test_a_nested_row_is_refused_for_its_first_bad_field_in_the_mappings_order() -> None:
    """A field copied by position is converted before one read by name (the nested items), so
    a record bad in both must still be refused for the first in the mapping, as a dict is: its
    quarantine reason does not depend on how it was read (found by the property test above)."""
    mappings = (FieldMap(target="f0", field="items", type="decimal", scale=2),
                FieldMap(target="f1", field="a", type="decimal", scale=2))
    kind = nested_row_type(("a",), NestSpec(by=("a",), into="items", fields=()))
    view = kind((False,), False)
    for mapping, source in ((compile_mappings(mappings, lookups=None, keymap=None,
                                              index=kind.index), view),
                            (compile_mappings(mappings, lookups=None, keymap=None), dict(view))):
        with pytest.raises(RecordError) as info:
            mapping(source)
        assert str(info.value) == "f0: False is not a decimal"
