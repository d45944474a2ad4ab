"""Money: amounts in minor units (cents) and major units, with each currency's exponent.

ISO 4217 gives each currency its number of decimal places: 2 for most (USD 19.99 = 1999 cents),
0 for some (JPY 1999 = 1999), 3 for a few (KWD 1.999 = 1999 fils). Amounts are exact
:class:`~decimal.Decimal` values throughout; a JSON float goes through its shortest repr, so
``17.99`` is ``Decimal('17.99')``, never ``17.989999...``.

>>> to_minor(Decimal("19.99"), "USD"), to_minor(1999, "JPY"), to_major(1999, "USD")
(1999, 1999, Decimal('19.99'))
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["MONEY_TYPES", "exponent", "to_major", "to_minor"]

MONEY_TYPES = ("minor_units", "major_units")

# ISO 4217 currencies whose minor unit is not 2 decimal places (the list's exceptions).
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                     "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4, "UYW": 4,
}
_CODE_RE = re.compile(r"^[A-Z]{3}$")


def exponent(code: Any) -> int:
    """Decimal places of the currency ``code``; ValueError for something that is not one."""
    if not isinstance(code, str) or not _CODE_RE.match(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (three capital letters, "
                         "e.g. USD)")
    return _EXPONENTS.get(code, 2)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an amount")
    if isinstance(value, float):
        value = repr(value)  # the shortest repr: 17.99, not 17.98999999999999843...
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an amount") from exc
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite amount")
    return number


def to_minor(value: Any, code: Any) -> int:
    """An amount in major units as a whole number of minor units; ValueError when the amount
    has more decimal places than the currency (19.999 USD is no number of cents)."""
    places = exponent(code)
    scaled = _decimal(value).scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more than {places} decimal places, the minor unit "
                         f"of {code}")
    return int(scaled)


def to_major(value: Any, code: Any) -> Decimal:
    """A whole number of minor units as an exact amount in major units."""
    number = _decimal(value)
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number of minor units")
    places = exponent(code)
    return number.scaleb(-places).quantize(Decimal(1).scaleb(-places))
