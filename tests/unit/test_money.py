"""Money in the mapping language: exact decimals, minor units per currency, a currency check."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from runner.errors import ConfigError, RecordError
from runner.spec import FieldMap
from runner.transforms.mapping import compile_mappings
from runner.transforms.money import exponent, to_major, to_minor


def _map(*fields: FieldMap) -> Any:
    return compile_mappings(tuple(fields), lookups=None, keymap=None)


def test_a_json_float_becomes_the_decimal_it_was_written_as() -> None:
    row = orjson.loads(b'{"price": 17.99, "tiny": 0.1, "text": " 19.990 "}')
    assert isinstance(row["price"], float)
    out = _map(FieldMap("price", field="price", type="decimal"),
               FieldMap("tiny", field="tiny", type="decimal", scale=2),
               FieldMap("text", field="text", type="decimal"))(row)
    assert out == {"price": Decimal("17.99"), "tiny": Decimal("0.10"), "text": Decimal("19.990")}
    assert str(out["price"]) == "17.99"


@pytest.mark.parametrize(("amount", "code", "minor"), [
    (Decimal("19.99"), "USD", 1999), (19.99, "EUR", 1999), ("0.07", "USD", 7),
    (1999, "JPY", 1999), ("1.999", "KWD", 1999), (0, "USD", 0), ("-5.5", "GBP", -550),
])
def test_minor_units_use_the_currency_exponent(amount: Any, code: str, minor: int) -> None:
    assert to_minor(amount, code) == minor
    assert to_major(minor, code) == Decimal(str(amount)).quantize(
        Decimal(1).scaleb(-exponent(code)))


def test_minor_and_major_units_in_a_mapping_with_the_rows_currency() -> None:
    fn = _map(FieldMap("cents", field="price", type="minor_units", currency_field="currency"),
              FieldMap("back", field="amount", type="major_units", currency="USD"))
    assert fn({"price": 19.99, "currency": "USD", "amount": 1999}) == {
        "cents": 1999, "back": Decimal("19.99")}
    assert fn({"price": 1999, "currency": "JPY", "amount": None}) == {"cents": 1999, "back": None}
    with pytest.raises(RecordError, match=r"cents: Decimal\('19.995'\)|more than 2 decimal"):
        fn({"price": Decimal("19.995"), "currency": "USD", "amount": 1})
    with pytest.raises(RecordError, match=r"cents: 12\.5 has more than 0 decimal places.*JPY"):
        fn({"price": 12.5, "currency": "JPY", "amount": 1})
    with pytest.raises(RecordError, match="'usd' is not an ISO 4217 currency code"):
        fn({"price": 1, "currency": "usd", "amount": 1})
    with pytest.raises(RecordError, match=r"back: Decimal\('19.5'\) is not a whole number"):
        fn({"price": 1, "currency": "USD", "amount": Decimal("19.5")})


def test_a_fixed_currency_that_is_no_code_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="'DOLLARS' is not an ISO 4217"):
        _map(FieldMap("c", field="p", type="minor_units", currency="DOLLARS"))
    with pytest.raises(ConfigError, match="needs `currency"):
        _map(FieldMap("c", field="p", type="minor_units"))


def test_currency_check_quarantines_a_mismatch_with_its_reason() -> None:
    fn = _map(FieldMap("sku", field="sku"),
              FieldMap("currency", field="currency", expect=("USD",)))
    assert fn({"sku": "A", "currency": "USD"}) == {"sku": "A", "currency": "USD"}
    with pytest.raises(RecordError) as caught:
        fn({"sku": "B", "currency": "EUR"})
    assert str(caught.value).startswith("currency: 'EUR' is not 'USD', the only value the "
                                        "destination takes here")
