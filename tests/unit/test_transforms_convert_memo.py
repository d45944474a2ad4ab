"""The remembered answers of ``decimal`` and ``float`` conversions (issue 16) are exactly the
answers of the conversion itself: same value, type, sign and exponent, same refusals, in any
order of values, across the memo filling up and starting again."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import RecordError
from runner.transforms import convert
from runner.transforms.convert import make_converter

# Few distinct magnitudes, so that a sequence repeats values (the memo is consulted), with the
# awkward ones: both zeros, NaN, infinities, halves that round, too many digits for a scale.
_floats = st.one_of(
    st.sampled_from([0.0, -0.0, 0.1, 0.005, 0.015, 2.675, 143.99, -1.005, 1e-7, 1e16, 1e30,
                     math.nan, math.inf, -math.inf, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_texts = st.one_of(
    st.sampled_from(["0", "-0", "0.00", "-0.0", " 1.5 ", "1.50", "2.345", "abc", "", "  ",
                     "NaN", "sNaN", "Infinity", "1e40", "-2.345", "1_000"]),
    st.text(max_size=8),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)
_decimals = st.one_of(
    st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("-0.00"), Decimal("0.0825"),
                     Decimal("0.08250"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"),
                     Decimal("1E+400")]),
    st.decimals(allow_nan=True, allow_infinity=True),
)
_values = st.lists(st.one_of(_floats, _texts, _decimals, st.integers(), st.booleans()),
                   max_size=60)


def _answer(convert_: Any, value: Any) -> tuple[str, Any]:
    try:
        result = convert_(value)
    except RecordError as exc:
        return "refused", (str(exc), exc.field)
    # repr tells Decimal('1.50') from Decimal('1.5') and -0.0 from 0.0; NaN == NaN by repr.
    return "converted", (type(result), repr(result))


def _pairs(type_name: str, scale: int | None) -> tuple[Any, Any]:
    """The memoized converter and the plain conversion it wraps."""
    if type_name == "decimal":
        return make_converter("decimal", "price", scale=scale), convert._to_decimal("price", scale)
    return make_converter("float", "price"), convert._to_float("price")


@settings(max_examples=400, deadline=None)
@given(values=_values, type_name=st.sampled_from(["decimal", "float"]),
       scale=st.sampled_from([None, 0, 2, 4]))
def test_memoized_answers_are_the_conversions_answers(
    values: list[Any], type_name: str, scale: int | None
) -> None:
    memoized, plain = _pairs(type_name, scale)
    for value in values + values:  # the second pass answers from the memo
        assert _answer(memoized, value) == _answer(plain, value), value


@pytest.mark.parametrize("type_name", ["decimal", "float"])
def test_a_zero_is_never_answered_for_the_other_zero(type_name: str) -> None:
    memoized, _ = _pairs(type_name, 2)
    zeros = [0.0, -0.0, Decimal("0"), Decimal("-0"), Decimal("-0.00")]
    first = [repr(memoized(z)) for z in zeros]
    assert [repr(memoized(z)) for z in reversed(zeros)] == list(reversed(first))
    assert "-" in repr(memoized(-0.0)) and "-" not in repr(memoized(0.0))


def test_the_memo_starts_again_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(convert, "MEMO_SIZE", 3)
    memoized, plain = _pairs("decimal", 2)
    values = [x / 100 for x in range(1, 50)] * 2
    assert [repr(memoized(v)) for v in values] == [repr(plain(v)) for v in values]


def test_refusals_are_not_remembered_as_answers() -> None:
    memoized = make_converter("decimal", "price", scale=2)
    for _ in range(3):
        with pytest.raises(RecordError, match=r"price: 1e\+30 is not a decimal that fits 2"):
            memoized(1e30)
        with pytest.raises(RecordError, match="price: 'abc' is not a decimal"):
            memoized("abc")
