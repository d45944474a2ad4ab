"""Filters compiled to predicates: every operator, nesting, None and type-mismatch rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import ConfigError, RecordError
from runner.spec import All, AnyOf, Compare, Expr, Filter, Not
from runner.transforms import compile_filter, filter_fields


def keep(flt: Filter, rows: list[dict[str, Any]]) -> list[int]:
    pred = compile_filter(flt)
    return [i for i, row in enumerate(rows) if pred(row)]


def test_equals_bool_matches_bool_and_0_1_only() -> None:
    rows = [{"on": True}, {"on": 1}, {"on": False}, {"on": 0}, {"on": "true"}, {"on": 1.0},
            {"on": "1"}, {"on": None}, {}]
    assert keep(Compare("on", "equals", True), rows) == [0, 1]
    assert keep(Compare("on", "equals", False), rows) == [2, 3]


def test_equals_number_never_matches_bool_or_string() -> None:
    rows = [{"n": 1}, {"n": True}, {"n": "1"}, {"n": Decimal("1.0")}, {"n": 1.0}, {"n": None}]
    assert keep(Compare("n", "equals", 1), rows) == [0, 3, 4]


def test_equals_string_and_none() -> None:
    rows = [{"s": "a"}, {"s": "A"}, {"s": None}, {}]
    assert keep(Compare("s", "equals", "a"), rows) == [0]
    assert keep(Compare("s", "equals", None), rows) == [2, 3]


def test_not_equals_is_the_negation_so_null_passes() -> None:
    rows = [{"s": "cancelled"}, {"s": "open"}, {"s": None}, {}]
    assert keep(Compare("s", "not_equals", "cancelled"), rows) == [1, 2, 3]


def test_in_and_not_in() -> None:
    rows = [{"c": "US"}, {"c": "CA"}, {"c": "MX"}, {"c": None}, {"c": ["US"]}]
    assert keep(Compare("c", "in", ("US", "CA")), rows) == [0, 1]
    assert keep(Compare("c", "not_in", ("US", "CA")), rows) == [2, 3, 4]


def test_in_with_bools_and_none_follows_equals_rules() -> None:
    rows = [{"v": 1}, {"v": True}, {"v": None}, {"v": "x"}, {"v": 0}]
    assert keep(Compare("v", "in", (True, None)), rows) == [0, 1, 2]
    assert keep(Compare("v", "in", (0,)), rows) == [4]


def test_null_and_not_null_with_their_yaml_value() -> None:
    rows = [{"x": None}, {}, {"x": ""}, {"x": 0}]
    assert keep(Compare("x", "null", True), rows) == [0, 1]
    assert keep(Compare("x", "null", False), rows) == [2, 3]
    assert keep(Compare("x", "not_null", True), rows) == [2, 3]
    assert keep(Compare("x", "not_null", False), rows) == [0, 1]


@pytest.mark.parametrize(
    ("op", "expected"), [("gt", [2]), ("gte", [1, 2]), ("lt", [0]), ("lte", [0, 1])]
)
def test_ordering_ops(op: str, expected: list[int]) -> None:
    rows = [{"q": 1}, {"q": 5}, {"q": Decimal("7.5")}, {"q": None}, {"q": "abc"}, {}]
    assert keep(Compare("q", op, 5), rows) == expected  # type: ignore[arg-type]


def test_ordering_on_dates_and_strings() -> None:
    rows = [{"d": dt.date(2024, 1, 1)}, {"d": dt.date(2025, 1, 1)}, {"d": "2025-01-01"}]
    assert keep(Compare("d", "gte", dt.date(2024, 6, 1)), rows) == [1]
    assert keep(Compare("d", "gt", "2024"), rows) == [2]


def test_ordering_needs_a_value() -> None:
    with pytest.raises(ConfigError, match="needs a value"):
        compile_filter(Compare("q", "gt", None))


def test_unknown_operator_is_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown operator 'like'"):
        compile_filter(Compare("q", "like", "x"))  # type: ignore[arg-type]


def test_dotted_path() -> None:
    rows = [{"address": {"country": "US"}}, {"address": None}, {"address.country": "US"}, {}]
    assert keep(Compare("address.country", "equals", "US"), rows) == [0, 2]


def test_all_any_not_nesting() -> None:
    flt = All((
        Compare("active", "equals", True),
        AnyOf((Compare("qty", "gt", 0), Compare("backorder", "equals", True))),
        Not(Compare("sku", "in", ("X",))),
    ))
    rows = [
        {"active": 1, "qty": 3, "sku": "A"},
        {"active": 1, "qty": 0, "backorder": True, "sku": "B"},
        {"active": 1, "qty": 0, "backorder": False, "sku": "C"},
        {"active": 0, "qty": 5, "sku": "D"},
        {"active": True, "qty": 9, "sku": "X"},
        {"active": True, "qty": None, "sku": "E"},
    ]
    assert keep(flt, rows) == [0, 1]
    assert keep(Not(flt), rows) == [2, 3, 4, 5]
    assert keep(All(()), rows) == list(range(6))
    assert keep(AnyOf(()), rows) == []


def test_expr_filter_and_its_errors() -> None:
    pred = compile_filter(Expr("on_hand - reserved > 0"))
    assert pred({"on_hand": 5, "reserved": 2}) is True
    assert pred({"on_hand": 1, "reserved": 2}) is False
    with pytest.raises(RecordError, match="on_hand - reserved"):
        pred({"on_hand": None, "reserved": 2})
    with pytest.raises(ConfigError, match="not valid"):
        compile_filter(Expr("on_hand >"))


def test_filter_fields() -> None:
    flt = All((
        Compare("a.b", "equals", 1), Not(Expr("c + d > 0")), AnyOf((Compare("e", "null", True),))
    ))
    assert filter_fields(flt) == {"a", "c", "d", "e"}
    assert filter_fields(None) == frozenset()


# --- property: the compiled predicate equals a naive reference evaluator ------------------------

FIELDS = ("a", "b", "c")
values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "y", "1"]),
    st.decimals(min_value=-3, max_value=3, places=1, allow_nan=False),
)


def reference_equals(x: Any, v: Any) -> bool:
    if v is None:
        return x is None
    if isinstance(v, bool):
        return type(x) in (bool, int) and x == v
    if type(v) in (int, float):
        return not isinstance(x, bool) and x == v
    return bool(x == v)


def reference(flt: Filter, row: dict[str, Any]) -> bool:
    if isinstance(flt, All):
        return all(reference(i, row) for i in flt.items)
    if isinstance(flt, AnyOf):
        return any(reference(i, row) for i in flt.items)
    if isinstance(flt, Not):
        return not reference(flt.item, row)
    assert isinstance(flt, Compare)
    x = row.get(flt.field)
    if flt.op == "equals":
        return reference_equals(x, flt.value)
    if flt.op == "not_equals":
        return not reference_equals(x, flt.value)
    if flt.op == "in":
        return any(reference_equals(x, v) for v in flt.value)
    if flt.op == "not_in":
        return not any(reference_equals(x, v) for v in flt.value)
    applies = flt.value is None or bool(flt.value)
    if flt.op == "null":
        return (x is None) == applies
    if flt.op == "not_null":
        return (x is not None) == applies
    if x is None:
        return False
    try:
        return bool({"gt": x > flt.value, "gte": x >= flt.value, "lt": x < flt.value,
                     "lte": x <= flt.value}[flt.op])
    except TypeError:
        return False


compares = st.builds(
    Compare,
    st.sampled_from(FIELDS),
    st.sampled_from(["equals", "not_equals", "null", "not_null"]),
    values,
) | st.builds(
    Compare, st.sampled_from(FIELDS), st.sampled_from(["in", "not_in"]),
    st.lists(values, max_size=3).map(tuple),
) | st.builds(
    Compare, st.sampled_from(FIELDS), st.sampled_from(["gt", "gte", "lt", "lte"]),
    st.one_of(st.integers(-3, 3), st.sampled_from(["x", "1"])),
)
filters = st.recursive(
    compares,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: All(tuple(xs))),
        st.lists(inner, max_size=3).map(lambda xs: AnyOf(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=8,
)
rows = st.dictionaries(st.sampled_from(FIELDS), values)


@settings(max_examples=150, deadline=None)
@given(filters, st.lists(rows, max_size=6))
def test_compiled_filter_agrees_with_reference(flt: Filter, sample: list[dict[str, Any]]) -> None:
    pred = compile_filter(flt)
    for row in sample:
        assert pred(row) == reference(flt, row), (flt, row)
