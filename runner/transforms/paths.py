"""Reading a field of a record by name, where ``a.b`` reaches into nested mappings.

A literal key containing a dot wins over the nested reading, so flat rows whose column names
contain dots keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["getter", "root_field"]

Getter = Callable[[Mapping[str, Any]], Any]


def getter(path: str) -> Getter:
    """A function returning ``path`` of a record, or None when any part is missing.

    >>> getter("address.city")({"address": {"city": "Oslo"}})
    'Oslo'
    >>> getter("sku")({}) is None
    True
    """
    if "." not in path:
        def get(row: Mapping[str, Any]) -> Any:
            return row.get(path)

        return get
    parts = tuple(path.split("."))

    def get_nested(row: Mapping[str, Any]) -> Any:
        if path in row:
            return row[path]
        value: Any = row
        for part in parts:
            if isinstance(value, Mapping):
                value = value.get(part)
            else:
                return None
        return value

    return get_nested


def root_field(path: str) -> str:
    """The top-level field a path reads (what a source must select)."""
    return path.split(".", 1)[0]
