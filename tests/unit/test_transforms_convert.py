"""Type conversion of mapped values: every type, its options, and its refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from runner.errors import ConfigError, RecordError
from runner.transforms.convert import make_converter

UTC = dt.UTC


@pytest.mark.parametrize(
    ("type_name", "opts", "value", "expected"),
    [
        ("string", {}, "abc", "abc"),
        ("string", {}, 12, "12"),
        ("string", {}, True, "true"),
        ("string", {}, Decimal("1.50"), "1.50"),
        ("string", {"fmt": ".2f"}, Decimal("3.14159"), "3.14"),
        ("string", {"fmt": "08d"}, 42, "00000042"),
        ("string", {}, dt.date(2024, 5, 1), "2024-05-01"),
        ("int", {}, 7, 7),
        ("int", {}, " 42 ", 42),
        ("int", {}, "4.0", 4),
        ("int", {}, 3.0, 3),
        ("int", {}, Decimal("5"), 5),
        ("int", {}, True, 1),
        ("int", {}, "", None),
        ("float", {}, "2.5", 2.5),
        ("float", {}, Decimal("0.1"), 0.1),
        ("float", {}, 3, 3.0),
        ("decimal", {}, "19.999", Decimal("19.999")),
        ("decimal", {"scale": 2}, "19.995", Decimal("20.00")),
        ("decimal", {"scale": 2}, "2.345", Decimal("2.35")),
        ("decimal", {"scale": 2}, "-2.345", Decimal("-2.35")),
        ("decimal", {"scale": 2}, 0.1, Decimal("0.10")),
        ("decimal", {}, 0.1, Decimal("0.1")),
        ("decimal", {"scale": 0}, 7, Decimal("7")),
        ("decimal", {}, "  ", None),
        ("bool", {}, "Yes", True),
        ("bool", {}, "N", False),
        ("bool", {}, "TRUE", True),
        ("bool", {}, "off", False),
        ("bool", {}, 1, True),
        ("bool", {}, 0, False),
        ("bool", {}, Decimal("1"), True),
        ("bool", {}, False, False),
        ("date", {}, "2024-02-29", dt.date(2024, 2, 29)),
        ("date", {}, "2024-02-29T10:00:00", dt.date(2024, 2, 29)),
        ("date", {"fmt": "%d/%m/%Y"}, "31/12/2023", dt.date(2023, 12, 31)),
        ("date", {}, dt.datetime(2024, 1, 2, 3, 4), dt.date(2024, 1, 2)),
        ("datetime", {}, "2024-03-01T12:00:00Z", dt.datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("datetime", {}, "2024-03-01T12:00:00+02:00", dt.datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("datetime", {"timezone": "America/Chicago"}, "2024-01-15 06:00:00",
         dt.datetime(2024, 1, 15, 12, tzinfo=UTC)),
        ("datetime", {"timezone": "America/Chicago"}, "2024-07-15T06:00:00",
         dt.datetime(2024, 7, 15, 11, tzinfo=UTC)),
        ("datetime", {"fmt": "%Y%m%d%H%M"}, "202401020304",
         dt.datetime(2024, 1, 2, 3, 4, tzinfo=UTC)),
        ("datetime", {}, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, tzinfo=UTC)),
        ("datetime", {}, 0, dt.datetime(1970, 1, 1, tzinfo=UTC)),
        ("datetime", {"timezone": "Europe/Oslo"}, dt.datetime(2024, 1, 1, 1, 0),
         dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_converts(type_name: str, opts: dict[str, Any], value: Any, expected: Any) -> None:
    kwargs: dict[str, Any] = {"scale": opts.get("scale"), "fmt": opts.get("fmt"),
                              "timezone": opts.get("timezone")}
    result = make_converter(type_name, "f", **kwargs)(value)
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(result, dt.datetime):
        assert result.utcoffset() == dt.timedelta(0)


def test_decimal_scale_exponent_is_exact() -> None:
    assert str(make_converter("decimal", "price", scale=2)("5")) == "5.00"


@pytest.mark.parametrize(
    ("type_name", "value", "fragment"),
    [
        ("int", "abc", "price: 'abc' is not an integer"),
        ("int", 1.5, "price: 1.5 is not an integer"),
        ("int", [1], "is not an integer"),
        ("float", "nan", "is not a finite number"),
        ("float", "inf", "is not a finite number"),
        ("float", float("nan"), "is not a finite number"),
        ("float", float("-inf"), "is not a finite number"),
        ("float", True, "is not a number"),
        ("float", "x", "is not a number"),
        ("decimal", "abc", "price: 'abc' is not a decimal"),
        ("decimal", "NaN", "is not a finite decimal"),
        ("decimal", "-Infinity", "is not a finite decimal"),
        ("decimal", True, "is not a decimal"),
        ("bool", "maybe", "is not a boolean"),
        ("bool", 2, "is not a boolean"),
        ("date", "2024-13-01", "is not a date"),
        ("date", 20240101, "is not a date"),
        ("datetime", "yesterday", "is not a datetime"),
        ("datetime", [], "is not a datetime"),
    ],
)
def test_refuses_with_field_and_value(type_name: str, value: Any, fragment: str) -> None:
    with pytest.raises(RecordError) as info:
        make_converter(type_name, "price")(value)
    assert fragment in str(info.value)
    assert info.value.field == "price"


def test_long_values_are_truncated_in_messages() -> None:
    with pytest.raises(RecordError) as info:
        make_converter("int", "qty")("x" * 500)
    assert len(str(info.value)) < 100
    assert "..." in str(info.value)


def test_decimal_too_large_for_scale_is_refused() -> None:
    with pytest.raises(RecordError, match="fits 2 decimal places"):
        make_converter("decimal", "p", scale=2)("1e40")


@pytest.mark.parametrize(
    ("type_name", "kwargs", "fragment"),
    [
        ("money", {}, "unknown type 'money'"),
        ("decimal", {"scale": -1}, "scale must be"),
        ("datetime", {"timezone": "Mars/Olympus"}, "unknown timezone"),
        ("string", {"fmt": "%Q"}, "format '%Q'"),
    ],
)
def test_bad_options_are_config_errors(
    type_name: str, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        make_converter(type_name, "f", **kwargs)
