"""Reshaping rows: nest (SQL rows -> API documents) and flatten (API documents -> rows).

Both stream: nest holds one group (consecutive rows with equal ``by`` values) at a time, so
the source must deliver a group's rows together (``ORDER BY`` the ``by`` fields).

>>> rows = [{"order": 1, "cust": "A", "sku": "x", "qty": 2},
...         {"order": 1, "cust": "A", "sku": "y", "qty": 1}]
>>> [doc] = nest(rows, NestSpec(by=("order",), into="lines", fields=("sku", "qty")))
>>> doc
{'order': 1, 'cust': 'A', 'lines': [{'sku': 'x', 'qty': 2}, {'sku': 'y', 'qty': 1}]}
>>> list(flatten([doc], FlattenSpec(field="lines"))) == rows
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, TypeVar

from runner.errors import RecordError
from runner.spec import FlattenSpec, NestSpec

__all__ = [
    "RowBlock",
    "flatten",
    "flatten_record",
    "groups",
    "nest",
    "nest_rows",
    "nester",
    "picker",
    "records_of",
    "row_blocks",
    "row_groups",
    "row_nester",
    "rows_nestable",
]

Row = TypeVar("Row")

# Rows of a read as tuples in one column order (a source's connectors.api.Rows).
RowBlock = tuple[tuple[str, ...], Sequence[tuple[Any, ...]]]


def nest(rows: Iterable[Mapping[str, Any]], spec: NestSpec) -> Iterator[dict[str, Any]]:
    """Group consecutive rows sharing ``spec.by``: the first row's other columns, plus
    ``spec.into`` holding ``{f: row[f] for f in spec.fields}`` for each row of the group
    (except rows whose item fields are all null, as a LEFT JOIN gives a header without lines).

    >>> nest([{"o": 1, "sku": None}], NestSpec(by=("o",), into="lines", fields=("sku",)))
    ... # doctest: +ELLIPSIS
    <generator ...>
    >>> list(nest([{"o": 1, "sku": None}], NestSpec(by=("o",), into="lines", fields=("sku",))))
    [{'o': 1, 'lines': []}]
    """
    fields = spec.fields
    into = spec.into
    key_of = _values_of(spec.by)
    item_of = _values_of(fields)
    width = len(fields)

    current: dict[str, Any] | None = None
    current_key: tuple[Any, ...] = ()
    items: list[dict[str, Any]] = []
    for row in rows:
        key = key_of(row)
        if current is None or key != current_key:
            if current is not None:
                current[into] = items
                yield current
            current = dict(row)
            for name in fields:
                current.pop(name, None)
            current_key = key
            items = []
        values = item_of(row)
        # A header with no lines comes out of a LEFT JOIN as one row whose line columns are
        # all null: that is an empty list, not a list with one empty line.
        if values.count(None) != width:
            # values has one per field (_values_of): no strict= keyword to parse per line
            items.append(dict(zip(fields, values)))  # noqa: B905
    if current is not None:
        current[into] = items
        yield current


def groups(rows: Iterable[Mapping[str, Any]],
           by: tuple[str, ...]) -> Iterator[list[Mapping[str, Any]]]:
    """Runs of consecutive rows with equal ``by`` values, as read: what :func:`nest` makes one
    record of. A changes run hashes a group before (and instead of) nesting it."""
    return _runs(rows, _values_of(by))


def _runs(rows: Iterable[Row], key_of: Callable[[Row], Any]) -> Iterator[list[Row]]:
    """Runs of consecutive ``rows`` with equal ``key_of(row)``."""
    group: list[Row] = []
    current: Any = None
    for row in rows:
        key = key_of(row)
        if key != current or not group:
            if group:
                yield group
            group = [row]
            current = key
        else:
            group.append(row)
    if group:
        yield group


def nester(spec: NestSpec) -> Callable[[list[Mapping[str, Any]]], dict[str, Any]]:
    """The record :func:`nest` makes of one group of :func:`groups`. (nest keeps its own
    single loop: on a complete sync's every row, a list per group and a call per record cost
    ~15% more.)"""
    fields = spec.fields
    into = spec.into
    item_of = _values_of(fields)

    def nested(group: list[Mapping[str, Any]]) -> dict[str, Any]:
        record = dict(group[0])
        for name in fields:
            record.pop(name, None)
        record[into] = _items(map(item_of, group), fields)
        return record

    return nested


def _items(values: Iterable[tuple[Any, ...]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """A group's items from each row's values of ``fields``. A header with no lines comes out
    of a LEFT JOIN as one row whose line columns are all null: that is an empty list, not a
    list with one empty line."""
    width = len(fields)
    # one value per field (the pickers): no strict= keyword to parse per line
    return [dict(zip(fields, v)) for v in values if v.count(None) != width]  # noqa: B905


def rows_nestable(columns: tuple[str, ...], spec: NestSpec,
                  more: Iterable[str] = ()) -> bool:
    """Whether rows with these ``columns`` can be nested as tuples: distinct column names
    holding ``spec``'s fields (and ``more``). A row without a field nests as a dict, where
    the field reads as null."""
    names = set(columns)
    return len(names) == len(columns) and names.issuperset([*spec.by, *spec.fields, *more])


def row_blocks(blocks: Iterable[RowBlock]) -> tuple[tuple[str, ...], Iterator[RowBlock]] | None:
    """The column order of a read's blocks and the blocks, the first one included; None for
    a read without rows."""
    it = iter(blocks)
    first = next(it, None)
    if first is None:
        return None
    return first[0], chain((first,), it)


def records_of(blocks: Iterable[RowBlock]) -> Iterator[dict[str, Any]]:
    """The blocks' rows as dicts."""
    for columns, values in blocks:
        yield from map(dict, map(zip, repeat(columns), values))


def nest_rows(
    blocks: Iterable[RowBlock],
    spec: NestSpec,
    make: Callable[[tuple[Any, ...], list[dict[str, Any]]], Mapping[str, Any]] | None = None,
) -> Iterator[Mapping[str, Any]]:
    """:func:`nest` of rows read as blocks of tuples: a dict per record and per item, none per
    row (a sixth of a changes run's CPU was a dict per row read). ``make(first row, items)``
    makes a record in place of that dict (a NestedRow); the items list fills after it."""
    read = row_blocks(blocks)
    if read is None:
        return
    columns, blocks = read
    if not rows_nestable(columns, spec):
        yield from nest(records_of(blocks), spec)
        return
    key_of = grouper(columns, spec.by)
    item_of = picker(columns, spec.fields)
    fields = spec.fields
    width = len(fields)
    if make is None:
        header = tuple(c for c in columns if c not in spec.fields)
        header_of = picker(columns, header)
        into = spec.into

        def make(row: tuple[Any, ...], items: list[dict[str, Any]]) -> dict[str, Any]:
            record = dict(zip(header, header_of(row)))  # noqa: B905 (one per name)
            record[into] = items
            return record

    current: Mapping[str, Any] | None = None
    current_key: tuple[Any, ...] = ()
    items: list[dict[str, Any]] = []
    for _, rows in blocks:
        for row in rows:
            key = key_of(row)
            if current is None or key != current_key:
                if current is not None:
                    yield current
                items = []
                current = make(row, items)
                current_key = key
            values = item_of(row)
            if values.count(None) != width:  # a header without lines: see nest
                items.append(dict(zip(fields, values)))  # noqa: B905
    if current is not None:
        yield current


def row_groups(blocks: Iterable[RowBlock],
               key_of: Callable[[tuple[Any, ...]], Any]) -> Iterator[list[tuple[Any, ...]]]:
    """:func:`groups` of rows read as blocks of tuples, ``key_of`` a row giving its group."""
    return _runs(chain.from_iterable(rows for _, rows in blocks), key_of)


def row_nester(columns: tuple[str, ...],
               spec: NestSpec) -> Callable[[list[tuple[Any, ...]]], dict[str, Any]]:
    """:func:`nester` for a group of :func:`row_groups` (``rows_nestable`` columns)."""
    header = tuple(c for c in columns if c not in spec.fields)
    header_of = picker(columns, header)
    item_of = picker(columns, spec.fields)
    fields = spec.fields
    into = spec.into

    def nested(group: list[tuple[Any, ...]]) -> dict[str, Any]:
        record = dict(zip(header, header_of(group[0])))  # noqa: B905 (one per name)
        record[into] = _items(map(item_of, group), fields)
        return record

    return nested


def grouper(columns: tuple[str, ...], names: Sequence[str]) -> Callable[[tuple[Any, ...]], Any]:
    """``row -> a value equal for rows of one group``: one column's value itself (itemgetter of
    one index, no tuple nor lambda per row: 8% of nest on a complete sync), else a tuple."""
    if not names:
        return lambda row: ()
    return itemgetter(*(columns.index(n) for n in names))


def picker(columns: tuple[str, ...],
           names: Sequence[str]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """``row -> the tuple of its values of names`` for a row of ``columns`` (itemgetter, in C)."""
    at = [columns.index(n) for n in names]
    if len(at) == 1:
        (i,) = at
        return lambda row: (row[i],)
    if not at:
        return lambda row: ()
    return itemgetter(*at)


def _values_of(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A fast ``tuple(row.get(n) for n in names)``: nest runs it on every row of a large
    catalogue, and itemgetter does it in C when the row has every field (as SQL rows do)."""
    fetch = itemgetter(*names)
    single = len(names) == 1

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            found = fetch(row)
        except KeyError:
            return tuple(row.get(n) for n in names)
        return (found,) if single else found

    return values


def flatten(records: Iterable[Mapping[str, Any]], spec: FlattenSpec) -> Iterator[dict[str, Any]]:
    """One row per item of the list ``spec.field``: the record's other fields plus the item's
    fields, each prefixed with ``spec.prefix``. A record whose list is empty or null yields one
    row with the header fields only (nothing is dropped silently)."""
    for record in records:
        yield from flatten_record(record, spec.field, spec.prefix)


def flatten_record(record: Mapping[str, Any], name: str, prefix: str = "") -> list[dict[str, Any]]:
    """:func:`flatten` for one record; RecordError when ``name`` is not a list of objects."""
    header = {k: v for k, v in record.items() if k != name}
    items = record.get(name)
    if not items:
        return [header]
    if not isinstance(items, list | tuple):
        raise RecordError(f"{name}: {type(items).__name__} is not a list to flatten", field=name)
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise RecordError(f"{name}: item {item!r:.60} is not an object", field=name)
        row = dict(header)
        if prefix:
            for k, v in item.items():
                row[prefix + k] = v
        else:
            row.update(item)
        out.append(row)
    return out
