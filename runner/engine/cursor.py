"""Cursor arithmetic for incremental steps: the read window and the new watermark."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from runner.paths import getter, is_plain

__all__ = ["CursorTracker", "apply_lookback", "cursor_json"]


def apply_lookback(since: Any, lookback_s: float) -> Any:
    """Move a stored cursor back by ``lookback_s`` seconds.

    Datetimes (objects or ISO strings, kept in the form they came in) move back; a date moves
    back by whole days (rounded up); numbers (sequence ids, epoch counters) are left alone,
    since seconds mean nothing to them.

    >>> apply_lookback("2024-03-01T10:00:00", 60)
    '2024-03-01T09:59:00'
    >>> apply_lookback("2024-03-01 10:00:00+00:00", 3600)
    '2024-03-01 09:00:00+00:00'
    >>> apply_lookback(1500, 60)
    1500
    """
    if since is None or not lookback_s:
        return since
    delta = dt.timedelta(seconds=lookback_s)
    if isinstance(since, dt.datetime):
        return since - delta
    if isinstance(since, dt.date):
        return since - dt.timedelta(days=math.ceil(lookback_s / 86400))
    if isinstance(since, str):
        text = since.strip()
        if len(text) == 10:
            try:
                day = dt.date.fromisoformat(text)
            except ValueError:
                return since
            return (day - dt.timedelta(days=math.ceil(lookback_s / 86400))).isoformat()
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return since
        sep = text[10] if len(text) > 10 and text[10] in "T " else "T"
        out = (moment - delta).isoformat(sep=sep)
        if text.endswith("Z") and out.endswith("+00:00"):
            out = out[: -len("+00:00")] + "Z"
        return out
    return since


def cursor_json(value: Any) -> Any:
    """The JSON form a cursor is stored in: ISO text for dates, numbers as numbers."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


class CursorTracker:
    """The largest cursor value seen. Rows need not arrive sorted (only SQL sources sort)."""

    def __init__(self, field: str | None) -> None:
        self.field = field
        self.max: Any = None
        # A path (meta.updated_at) reaches into the record; a row without it moves nothing.
        self._get = getter(field, optional=True) if field is not None else None

    def see(self, row: Any) -> None:
        if self._get is None or not hasattr(row, "get"):
            return
        value = self._get(row)
        if value is not None:
            self._see_value(value)

    def see_rows(self, columns: tuple[str, ...], values: Sequence[tuple[Any, ...]]) -> None:
        """:meth:`see` for a block of rows as tuples: their column's largest value, found in
        C. A field that is not one of ``columns`` moves nothing, as a row without it."""
        if self.field is None or not is_plain(self.field) or self.field not in columns:
            return
        present = [v for v in map(itemgetter(columns.index(self.field)), values)
                   if v is not None]
        if not present:
            return
        try:
            top = max(present)
        except TypeError:  # mixed types: one at a time, as see() compares them
            for value in present:
                self._see_value(value)
            return
        self._see_value(top)

    def _see_value(self, value: Any) -> None:
        if self.max is None:
            self.max = value
            return
        try:
            if value > self.max:
                self.max = value
        except TypeError:
            # Mixed types (a text column holding numbers and dates): compare as text.
            if str(value) > str(self.max):
                self.max = value
