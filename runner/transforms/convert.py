"""Type conversion of mapped values: ``type: string|int|float|decimal|bool|date|datetime``.

Each converter is built once per field (its options resolved then) and takes a non-null value;
a value it cannot convert raises :class:`~runner.errors.RecordError` naming the field and the
value (``price: 'abc' is not a decimal``). Rules:

- For every type but ``string``, an empty or blank string is null (CSV files have no null).
- ``string``: str as is; bool as ``true``/``false``; numbers through ``format`` when given
  (a Python format spec such as ``.2f`` or ``08d``); date/datetime as ISO-8601.
- ``int``: ints; floats/decimals only when integral; strings of integers (``"42"``, ``"4.0"``).
- ``float``: finite numbers and numeric strings; NaN and infinities are refused.
- ``decimal``: exact (floats go through their shortest repr, so 0.1 is ``Decimal('0.1')``),
  quantized to ``scale`` with ROUND_HALF_UP; NaN and infinities are refused.
- ``bool``: bools; 0/1; strings true/false/1/0/yes/no/y/n/t/f/on/off, any case.
- ``date``: dates; datetimes (their date); ISO strings, or ``format`` for ``strptime``.
- ``datetime``: datetimes, dates (midnight), ISO-8601 strings (``Z`` allowed) or ``format``;
  numbers are Unix seconds. A naive value is read in ``timezone`` (default UTC); the result is
  always an aware datetime in UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from runner.errors import ConfigError, RecordError

__all__ = ["TYPES", "Converter", "make_converter", "show"]

Converter = Callable[[Any], Any]
TYPES = ("string", "int", "float", "decimal", "bool", "date", "datetime", "minor_units",
         "major_units")  # the last two are money.py's: they need the row's currency

# Values remembered per converter and input type (see _memoized); when one is full it starts
# again, so a column of distinct values costs one dict probe and store per value, no memory.
MEMO_SIZE = 4096

_TRUE = frozenset({"true", "1", "yes", "y", "t", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "off"})
_UTC = dt.UTC


def show(value: Any, limit: int = 60) -> str:
    """``repr`` of a value cut to ``limit`` characters, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bad(target: str, value: Any, what: str) -> RecordError:
    return RecordError(f"{target}: {show(value)} is not {what}", field=target)


def make_converter(
    type_name: str,
    target: str,
    *,
    scale: int | None = None,
    fmt: str | None = None,
    timezone: str | None = None,
) -> Converter:
    """The converter for one mapped field; ConfigError for an unknown type or bad option."""
    if type_name == "string":
        return _to_string(target, fmt)
    if type_name == "int":
        return _to_int(target)
    if type_name == "float":
        # A NUMERIC column (Decimal) or a CSV (str) converts its few distinct values again
        # and again: float(Decimal) costs ~0.3 us, a probe ~0.05 us.
        return _memoized(_to_float(target), (Decimal, str))
    if type_name == "decimal":
        if scale is not None and (not isinstance(scale, int) or scale < 0 or scale > 18):
            raise ConfigError(f"{target}: scale must be an integer from 0 to 18, not {scale!r}")
        # Prices repeat: a REAL column's float costs repr + Decimal + quantize (~1.3 us).
        return _memoized(_to_decimal(target, scale), (float, str))
    if type_name == "bool":
        return _to_bool(target)
    if type_name == "date":
        return _to_date(target, fmt)
    if type_name == "datetime":
        tz: dt.tzinfo = _UTC
        if timezone:
            try:
                tz = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigError(
                    f"{target}: unknown timezone {timezone!r}; use an IANA name such as "
                    "'America/Chicago' or 'UTC'"
                ) from exc
        return _to_datetime(target, fmt, tz)
    raise ConfigError(f"{target}: unknown type {type_name!r}; use one of {', '.join(TYPES)}")


def _memoized(convert: Converter, types: tuple[type, ...]) -> Converter:
    """``convert``, its results for values of ``types`` remembered (the last ``MEMO_SIZE`` of
    each type at most). Exactly ``convert``'s answers: equal keys of one type give one answer,
    except a zero (0.0 and -0.0 are one key), which is never remembered; a value ``convert``
    refuses is refused every time; an unhashable value (a signalling NaN) is not looked up.
    Kept apart by type because 1.0 and 1 are one key but not one answer everywhere."""
    memos: dict[type, dict[Any, Any]] = {t: {} for t in types}

    def memoized(value: Any) -> Any:
        memo = memos.get(type(value))
        if memo is None:
            return convert(value)
        try:
            return memo[value]
        except KeyError:
            pass
        except TypeError:
            return convert(value)
        result = convert(value)
        if value:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[value] = result
        return result

    return memoized


def _to_string(target: str, fmt: str | None) -> Converter:
    if fmt is not None:
        usable = False
        for sample in (Decimal("1.5"), 1):  # '08d' fits ints only, '.2f' both
            try:
                format(sample, fmt)
                usable = True
            except (ValueError, TypeError):
                pass
        if not usable:
            raise ConfigError(
                f"{target}: format {fmt!r} is not a Python number format spec such as '.2f'"
            )

    def to_string(value: Any) -> Any:
        t = type(value)
        if t is str:
            return value
        if t is bool:
            return "true" if value else "false"
        if fmt is not None and t in (int, float, Decimal):
            try:
                return format(value, fmt)
            except (ValueError, TypeError) as exc:
                raise _bad(target, value, f"formattable with {fmt!r}") from exc
        if t is dt.datetime or t is dt.date:
            return value.isoformat()
        return str(value)

    return to_string


def _to_int(target: str) -> Converter:
    def to_int(value: Any) -> Any:
        t = type(value)
        if t is int:
            return value
        if t is bool:
            return int(value)
        if t is str:
            text = value.strip()
            if not text:
                return None
            try:
                return int(text)
            except ValueError:
                try:
                    value = Decimal(text)
                except InvalidOperation as exc:
                    raise _bad(target, text, "an integer") from exc
                t = Decimal
        if t is float or t is Decimal:
            try:
                if value == int(value):
                    return int(value)
            except (ValueError, OverflowError, InvalidOperation) as exc:
                raise _bad(target, value, "an integer") from exc
        raise _bad(target, value, "an integer")

    return to_int


def _to_float(target: str) -> Converter:
    def to_float(value: Any) -> Any:
        t = type(value)
        if t is float:
            # The usual case (a REAL column), answered without a conversion.
            if math.isfinite(value):
                return value
            raise _bad(target, value, "a finite number")
        if t is str:
            value = value.strip()
            if not value:
                return None
        elif t is bool or not (t is float or t is int or t is Decimal):
            raise _bad(target, value, "a number")
        try:
            result = float(value)
        except (ValueError, OverflowError) as exc:
            raise _bad(target, value, "a number") from exc
        if not math.isfinite(result):
            raise _bad(target, value, "a finite number")
        return result

    return to_float


def _to_decimal(target: str, scale: int | None) -> Converter:
    quantum = Decimal(1).scaleb(-scale) if scale is not None else None

    def to_decimal(value: Any) -> Any:
        t = type(value)
        if t is Decimal:
            number = value
        elif t is int:
            number = Decimal(value)
        elif t is str:
            text = value.strip()
            if not text:
                return None
            try:
                number = Decimal(text)
            except InvalidOperation as exc:
                raise _bad(target, value, "a decimal") from exc
        elif t is float:
            number = Decimal(repr(value))
        else:
            raise _bad(target, value, "a decimal")
        if not number.is_finite():
            raise _bad(target, value, "a finite decimal")
        if quantum is None:
            return number
        try:
            return number.quantize(quantum, ROUND_HALF_UP)
        except InvalidOperation as exc:
            raise _bad(target, value, f"a decimal that fits {scale} decimal places") from exc

    return to_decimal


def _to_bool(target: str) -> Converter:
    def to_bool(value: Any) -> Any:
        t = type(value)
        if t is bool:
            return value
        if t is int:
            if value == 1 or value == 0:
                return value == 1
        elif t is str:
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            if not text:
                return None
        elif (t is Decimal or t is float) and (value == 1 or value == 0):
            return value == 1
        raise _bad(target, value, "a boolean (true/false, yes/no, 1/0)")

    return to_bool


def _to_date(target: str, fmt: str | None) -> Converter:
    def to_date(value: Any) -> Any:
        t = type(value)
        if t is dt.date:
            return value
        if t is dt.datetime:
            return value.date()
        if t is str:
            text = value.strip()
            if not text:
                return None
            try:
                if fmt is not None:
                    return dt.datetime.strptime(text, fmt).date()
                if len(text) == 10:
                    return dt.date.fromisoformat(text)
                return dt.datetime.fromisoformat(text).date()
            except ValueError as exc:
                raise _bad(target, value, f"a date ({fmt or 'YYYY-MM-DD'})") from exc
        raise _bad(target, value, "a date")

    return to_date


def _to_datetime(target: str, fmt: str | None, tz: dt.tzinfo) -> Converter:
    def to_datetime(value: Any) -> Any:
        t = type(value)
        if t is dt.datetime:
            moment = value
        elif t is str:
            text = value.strip()
            if not text:
                return None
            try:
                if fmt is not None:
                    moment = dt.datetime.strptime(text, fmt)
                else:
                    moment = dt.datetime.fromisoformat(text)
            except ValueError as exc:
                raise _bad(target, value, f"a datetime ({fmt or 'ISO-8601'})") from exc
        elif t is dt.date:
            moment = dt.datetime(value.year, value.month, value.day)
        elif t is int or t is float:
            try:
                return dt.datetime.fromtimestamp(value, _UTC)
            except (OverflowError, OSError, ValueError) as exc:
                raise _bad(target, value, "a Unix timestamp") from exc
        else:
            raise _bad(target, value, "a datetime")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.astimezone(_UTC)

    return to_datetime
