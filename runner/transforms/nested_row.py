"""The record nest makes of a group of rows read as tuples, read in place.

:func:`~runner.transforms.shape.nest_rows` makes each record a dict of the group's first row
(every column but the item fields) and its items list under ``into``. A step that maps that
record reads a few of those fields and keeps the record only to quarantine it: that dict of
a dozen entries per record was a fifth of the CPU of nest and map (issue 16). A
:class:`NestedRow` holds the first row's tuple and the items list instead: it reads, compares,
iterates and serialises (``dict(row)``) as that dict, and a mapping compiled for its columns
(``compile_mappings(..., index=...)``) copies fields straight from :attr:`NestedRow.first`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from runner.spec import NestSpec

__all__ = ["NestedRow", "nested_row_type"]


class NestedRow(Mapping[str, Any]):
    """A nested record over ``first`` (the group's first row) and ``nested`` (its items);
    each read's subclass (:func:`nested_row_type`) knows where its fields are."""

    __slots__ = ("first", "nested")
    index: ClassVar[dict[str, int]] = {}  # a field of the first row -> its position
    _names: ClassVar[tuple[str, ...]] = ()  # the keys, in the dict's order
    _into: ClassVar[str] = ""

    def __init__(self, first: tuple[Any, ...], nested: list[dict[str, Any]]) -> None:
        self.first = first
        self.nested = nested  # the items list (``items`` is Mapping's method)

    def get(self, name: str, default: Any = None) -> Any:
        if name == self._into:
            return self.nested
        at = self.index.get(name)
        return default if at is None else self.first[at]

    def __getitem__(self, name: str) -> Any:
        if name == self._into:
            return self.nested
        return self.first[self.index[name]]

    def __contains__(self, name: object) -> bool:
        return name == self._into or name in self.index

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"NestedRow({dict(self)!r})"


def nested_row_type(columns: tuple[str, ...], spec: NestSpec) -> type[NestedRow]:
    """The :class:`NestedRow` of rows of ``columns`` (distinct names) nested by ``spec``."""
    header = tuple(c for c in columns if c not in spec.fields)
    names = header if spec.into in header else (*header, spec.into)
    index = {c: columns.index(c) for c in header if c != spec.into}
    return type("NestedRow", (NestedRow,),
                {"__slots__": (), "index": index, "_names": names, "_into": spec.into})
