"""Safe placeholder substitution: types kept, URL encoding, no attribute access."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.api import MISSING, get_path
from connectors.http.template import check_template, placeholders, render
from runner.errors import ConfigError, RecordError


def test_single_placeholder_keeps_type_and_mixed_text_is_string() -> None:
    record = {"qty": 3, "price": decimal.Decimal("9.50"), "tags": ["a"], "ok": True}
    out = render({"q": "{qty}", "p": "{price}", "t": "{tags}", "s": "{qty} x {price} {ok}"},
                 record)
    assert out == {"q": 3, "p": decimal.Decimal("9.50"), "t": ["a"], "s": "3 x 9.50 true"}


def test_nested_paths_lists_and_whole_record() -> None:
    record = {"customer": {"name": "Ann"}, "lines": [{"sku": "X"}]}
    assert render("{customer.name}/{lines.0.sku}", record) == "Ann/X"
    assert render("{record}", {"record": record}) == record
    assert render(["{customer}", 5, None], record) == [{"name": "Ann"}, 5, None]


def test_url_values_are_percent_encoded() -> None:
    assert render("/o/{id}/x", {"id": "a/b?c=d#e f"}, url=True) == "/o/a%2Fb%3Fc%3Dd%23e%20f/x"
    assert render("{when}", {"when": dt.date(2024, 1, 2)}, url=True) == "2024-01-02"


def test_braces_escape_and_format_syntax_is_literal() -> None:
    record = {"a": 1}
    assert render("{{a}} {a}", record) == "{a} 1"
    for literal in ("{0.__class__}", "{a!r}", "{a:>10}", "{}", "{a[0]}", "{ a }"):
        assert render(literal, record) == literal


def test_dunder_placeholders_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot start with '__'"):
        check_template({"x": ["{__import__}"]}, "destination.create")
    with pytest.raises(ConfigError):
        check_template("{a.__class__}", "p")
    with pytest.raises(RecordError):
        render("{__class__}", {"__class__": "boom"})


def test_missing_values() -> None:
    with pytest.raises(RecordError, match=r"\{sku\} has no value"):
        render({"s": "{sku}"}, {})
    assert render({"since": "{cursor}", "n": 1}, {"cursor": None}, missing="omit") == {"n": 1}
    assert get_path({"a": {"b": 1}}, "a.c") is MISSING
    assert get_path([1, 2], "") == [1, 2]
    assert placeholders({"a": ["{x.y}", "{{z}}"], "b": "{w}"}) == {"x.y", "w"}


@given(st.text())
def test_render_never_evaluates_arbitrary_text(text: str) -> None:
    # Any string renders to a string without touching Python objects other than the record.
    try:
        out = render(text, {"a": 1})
    except RecordError:
        return
    assert isinstance(out, str | int)
