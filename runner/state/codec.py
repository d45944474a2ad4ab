"""How values cross into the store: keys and documents as JSON text, datetimes in UTC.

Keys are tuples of strings stored as compact JSON arrays (``["SKU-1","red"]``), so a
composite key is one indexed column and round-trips exactly. Cursors and quarantined records
are JSON documents; the engine passes JSON-serialisable values, and the two types a SQL source
commonly yields that JSON lacks are kept as strings: ``Decimal`` -> ``"12.50"`` and
``datetime``/``date`` -> ISO 8601. They come back as strings, which compare correctly in the
engine's watermark queries as long as one source always yields the same type.

>>> encode_key(("SKU-1", "red"))
'["SKU-1","red"]'
>>> decode_key('["SKU-1","red"]')
('SKU-1', 'red')
>>> decode_json(encode_json({"price": Decimal("12.50")}))
{'price': '12.50'}
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa

from runner.errors import StateError

__all__ = ["UtcDateTime", "decode_json", "decode_key", "encode_json", "encode_key", "utcnow"]

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | bytes):
        return value.hex() if isinstance(value, bytes) else str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def encode_json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except TypeError as exc:
        raise StateError(
            f"cannot store a value in the state store: {exc}; pass JSON-serialisable values"
        ) from exc


def decode_json(text: str | None) -> Any:
    if text is None:
        return None
    return orjson.loads(text)


def encode_key(key: tuple[str, ...]) -> str:
    # A one-field key of text is the usual case (two per record committed): tested inline.
    if not (len(key) == 1 and type(key[0]) is str) and not all(
            type(part) is str for part in key):
        key = tuple(str(part) for part in key)  # 7 and "7" are one key
    return orjson.dumps(key).decode()


def decode_key(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend: ``timestamptz`` on PostgreSQL, and on SQLite
    SQLAlchemy's fixed-width ISO text, which sorts and compares like the instant it names.
    A naive datetime is taken to be UTC already."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # defensive: rows written by hand or by older tools
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
