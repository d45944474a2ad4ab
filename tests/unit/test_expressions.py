"""The safe expression language: results, names, functions, and what it refuses."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from runner.errors import ConfigError, RecordError
from runner.transforms import compile_expression


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("price * qty", {"price": 2, "qty": 3}, 6),
        ("price * 1.2", {"price": Decimal("10.00")}, Decimal("12.000")),
        ("round(price * 1.2, 2)", {"price": Decimal("10.05")}, Decimal("12.06")),
        ("1.5 + price", {"price": Decimal("1")}, Decimal("2.5")),
        ("price > 2.5", {"price": Decimal("3")}, True),
        ("on_hand - reserved > 0 and active", {"on_hand": 3, "reserved": 1, "active": True}, True),
        ("concat(first, ' ', last)", {"first": "Ada", "last": None}, "Ada "),
        ("coalesce(nick, name, 'anon')", {"nick": "", "name": None}, "anon"),
        ("upper(strip(code))", {"code": "  ab "}, "AB"),
        ("lower(code)", {"code": None}, None),
        ("sku.upper()", {"sku": "ab-1"}, "AB-1"),
        ("'premium' if price >= 100 else 'standard'", {"price": 150}, "premium"),
        ("country in ['US', 'CA']", {"country": "CA"}, True),
        ("missing is None", {}, True),
        ("true and not false", {}, True),
        ("len(tags)", {"tags": ["a", "b"]}, 2),
        ("tags[0]", {"tags": ["a", "b"]}, "a"),
        ("address['city']", {"address": {"city": "Oslo"}}, "Oslo"),
        ("Decimal('0.1') + Decimal(0.2)", {}, Decimal("0.3")),
        ("max(a, b) - min(a, b)", {"a": 4, "b": 9}, 5),
        ("abs(x) + int('3') + float(y)", {"x": -2, "y": "0.5"}, 5.5),
        ("str(n) + 'x'", {"n": 7}, "7x"),
        ("[x * 2 for x in items]", {"items": [1, 2]}, [2, 4]),
        ("f'{sku}-{qty}'", {"sku": "A", "qty": 2}, "A-2"),
    ],
)
def test_evaluates(text: str, row: dict[str, object], expected: object) -> None:
    assert compile_expression(text).evaluate(row) == expected


def test_list_functions_number_sort_and_deduplicate() -> None:
    lines = compile_expression("[{'n': n, 'sku': i['sku']} for n, i in enumerate(items, 1)]")
    assert lines.evaluate({"items": [{"sku": "B"}, {"sku": "A"}]}) == [
        {"n": 1, "sku": "B"}, {"n": 2, "sku": "A"}]
    assert compile_expression("enumerate(xs)").evaluate({"xs": "ab"}) == [(0, "a"), (1, "b")]
    assert compile_expression("sorted(xs)").evaluate({"xs": [3, 1, 2]}) == [1, 2, 3]
    assert compile_expression("sorted(xs, True)").evaluate({"xs": [3, 1, 2]}) == [3, 2, 1]
    sizes = compile_expression("unique([v['size'] for v in variants])")
    assert sizes.evaluate({"variants": [{"size": "M"}, {"size": "S"}, {"size": "M"}]}) == [
        "M", "S"]
    assert compile_expression("unique(xs)").evaluate({"xs": [{"a": 1}, {"a": 1}]}) == [{"a": 1}]
    with pytest.raises(RecordError, match="expression"):
        compile_expression("sorted(xs)").evaluate({"xs": [1, "a"]})


def test_names_are_the_record_fields_read() -> None:
    expr = compile_expression("round(price * qty, 2) if active else coalesce(a, 'x')")
    assert expr.names == {"price", "qty", "active", "a"}
    assert compile_expression("[x for x in items if x > limit]").names == {"items", "limit"}


def test_compiled_once_and_reused_across_rows() -> None:
    expr = compile_expression("a + b")
    assert [expr.evaluate({"a": i, "b": 1}) for i in range(3)] == [1, 2, 3]
    # A previous row's fields must not leak into the next evaluation.
    with pytest.raises(RecordError):
        expr.evaluate({"a": 1})


@pytest.mark.parametrize("text", ["a +", "a = 1", "import os", "", "   ", "a; b"])
def test_syntax_errors_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        compile_expression(text, where="price")


def test_config_error_names_field_and_expression() -> None:
    with pytest.raises(ConfigError) as info:
        compile_expression("price *", where="total")
    assert "total" in str(info.value) and "price *" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        "open('/etc/passwd')",
        "eval('1')",
        "getattr(x, 'y')",
        "type(x)",
        "().__class__.__bases__",
        "x.__dict__",
        "x.__class__",
        "sku.format(x)",
        "'{0.__class__}'.format(x)",
        "(lambda: 1)()",
        "_private + 1",
        "x.func_globals",
    ],
)
def test_unsafe_expressions_are_refused_at_compile_time(text: str) -> None:
    with pytest.raises(ConfigError):
        compile_expression(text)


def test_unknown_function_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown function 'now'.*coalesce"):
        compile_expression("now()")


@pytest.mark.parametrize(
    ("text", "row"),
    [
        ("9**9**9", {}),
        ("10 ** exp", {"exp": 10**8}),
        ("'a' * 10**9", {}),
        ("s * n", {"s": "abc", "n": 10**9}),
        ("s + s", {"s": "x" * 60_000}),
        ("price * qty", {"price": "1", "qty": None}),
        ("1 / zero", {"zero": 0}),
        ("tags[5]", {"tags": []}),
        ("int(code)", {"code": "abc"}),
        ("Decimal(code)", {"code": "abc"}),
        ("x.mro()", {"x": 1}),
        ("d.values()", {"d": Decimal("1")}),
        ("[i for i in range(5)]", {}),
    ],
)
def test_runtime_failures_and_guards_are_record_errors(text: str, row: dict[str, object]) -> None:
    try:
        expr = compile_expression(text)
    except ConfigError:
        return  # refused even earlier is fine
    with pytest.raises(RecordError, match="expression"):
        expr.evaluate(row)


def test_no_side_effects_reach_the_host() -> None:
    marker = "/tmp/commerce_sync_expr_marker"
    for text in (f"open('{marker}', 'w')", "__import__('os').system('touch " + marker + "')"):
        with pytest.raises(ConfigError):
            compile_expression(text)
    assert not os.path.exists(marker)
