"""Finding rows by a natural key of several columns, many keys at once, on SQLite.

For a tuple ``IN``, SQLAlchemy renders ``(a, b) IN (VALUES (?, ?), ...)``, and SQLite answers
it by scanning the whole key index once per statement (EXPLAIN QUERY PLAN: ``SCAN ... USING
COVERING INDEX`` with a ``LIST SUBQUERY``): an orders import's look-ups of the ids it had just
written grew with the table, 2.0 ms per 400 keys at 10,000 orders. The keys as one JSON
parameter joined through ``json_each`` make each key one index search: 0.47 ms per 400 at
10,000 orders, and no longer a function of the table's size.

Only keys of text and integers go this way: SQLite compares them with a column exactly as it
does the same values bound as parameters (the column's affinity applies to both). A key with
another type (a date, a Decimal, a float) keeps SQLAlchemy's statement, whose bind processors
store and compare it as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

__all__ = ["has_json", "json_keys", "key_join"]


def has_json(conn: sa.Connection) -> bool:
    """Whether this SQLite has its JSON functions (built in from 3.38; usually before)."""
    try:
        conn.exec_driver_sql("SELECT json_extract('[1]', '$[0]')").scalar()
    except sa.exc.OperationalError:
        return False
    return True


def json_keys(keys: Sequence[tuple[Any, ...]]) -> str | None:
    """The keys as JSON text, or None when one holds a value other than text or an integer."""
    for key in keys:
        for value in key:
            kind = type(value)
            if kind is not str and kind is not int:
                return None
    try:
        return orjson.dumps(keys).decode()
    except TypeError:  # an integer wider than 64 bits, text that is not UTF-8
        return None


def key_join(table: sa.Table, selected: Sequence[str], key: Sequence[str],
             quote: Callable[[str], str], name: str) -> str:
    """``SELECT selected FROM json_each(?) CROSS JOIN table ON key = each key's values``;
    ``name``: the table as the dialect writes it (schema included). Names come from the
    reflected table, never from data."""
    columns = ", ".join(f"t.{quote(table.c[c].name)}" for c in selected)
    match = " AND ".join(f"t.{quote(table.c[c].name)} = json_extract(j.value, '$[{i}]')"
                         for i, c in enumerate(key))
    # CROSS JOIN: SQLite keeps its left side as the outer loop, so each key searches the
    # table's index, and never the table scanned once per key (a planner may pick that order
    # for a table with an equality on a constant, as the state's row_hashes showed).
    return f"SELECT {columns} FROM json_each(?) AS j CROSS JOIN {name} AS t ON {match}"
