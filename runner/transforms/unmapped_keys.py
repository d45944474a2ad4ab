"""The keys a step's records would have, taken from its source rows without mapping them.

An incremental run reads its cursor window a second time with the filter negated, only to
learn the keys the filter no longer selects (:mod:`runner.engine.follow`). Mapping those rows
(lookups, conversions, nest) to throw all but the key away cost a third of that read: ~55 ms
of an incremental run over 1M products, for ~7,000 rows of products not sold online.

:func:`source_keys` answers only where that cannot change the answer: each key field is a
plain copy of a top-level source field (no type, default, check or other producer), grouped
rows share it (a ``nest.by`` field), and nothing else in the step decides whether a row yields
a record or stops the run (no ``keep``, flatten, plugins or ``missing: fail``). Then the key of
every row the full path would turn into a record, or set aside with its source key, is the
row's own key field. Otherwise it returns None and the caller maps the rows as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from runner.errors import RecordError
from runner.paths import is_plain, root_field
from runner.spec import FieldMap, Filter, Step

from .filters import compile_filter, filter_fields

__all__ = ["SourceKeys", "source_keys"]

Key = tuple[str, ...]


@dataclass(frozen=True)
class SourceKeys:
    """``fields``: what to read; ``keys(rows)``: the keys, each at most once, none empty."""

    fields: frozenset[str]
    keys: Callable[[Iterable[Mapping[str, Any]]], set[Key]]


def source_keys(step: Step, residual_filter: Filter | None) -> SourceKeys | None:
    """The key reader of ``step``'s rows after ``residual_filter``; None where only mapping
    the rows gives their keys exactly (see the module)."""
    if (
        step.mappings is None
        or step.keep is not None
        or step.flatten is not None
        or step.transforms
        or _can_fail_the_run(step.mappings)
    ):
        return None
    by_target: dict[str, list[FieldMap]] = {}
    for fm in step.mappings:
        by_target.setdefault(fm.target, []).append(fm)
    sources: list[str] = []
    for name in step.key:
        found = by_target.get(name, [])
        if not is_plain(name) or len(found) != 1 or not _plain_copy(found[0]):
            return None
        assert found[0].field is not None
        sources.append(found[0].field)
    if step.nest is not None and (
        not set(sources) <= set(step.nest.by) or set(sources) & set(step.nest.fields)
    ):
        return None  # a nested record's key is its first row's: not every row's
    keep = compile_filter(residual_filter) if residual_filter is not None else None
    fields = set(sources) | filter_fields(residual_filter)
    if step.nest is not None:
        fields.update(step.nest.by)
    if step.cursor is not None:
        fields.add(root_field(step.cursor.field))
    by = step.nest.by if step.nest is not None else None
    return SourceKeys(frozenset(fields), _reader(tuple(sources), by, keep))


def _reader(
    sources: tuple[str, ...],
    by: tuple[str, ...] | None,
    keep: Callable[[Mapping[str, Any]], bool] | None,
) -> Callable[..., set[Key]]:
    key_of = _values_of(sources)
    group_of = _values_of(by) if by else None

    def keys(rows: Iterable[Mapping[str, Any]]) -> set[Key]:
        found: set[Key] = set()
        group: tuple[Any, ...] | None = None
        for row, judged in _kept(rows, keep):
            if group_of is not None and judged:
                # nest makes one record of consecutive rows with equal `by` values (1 and
                # True are equal), keyed by the first: so is this, without building it.
                values = group_of(row)
                if group is not None and values == group:
                    continue
                group = values
            key = tuple(_text(v) for v in key_of(row))
            if any(key):  # an empty key is never written, so never deselected
                found.add(key)
        return found

    return keys


def _kept(
    rows: Iterable[Mapping[str, Any]], keep: Callable[[Mapping[str, Any]], bool] | None
) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """The rows the filter keeps, with True; those it cannot judge, with False: the full path
    sets them aside (outside nest) under their own key, so they are deselected all the same."""
    if keep is None:
        for row in rows:
            yield row, True
        return
    for row in rows:
        try:
            if not keep(row):
                continue
        except RecordError:
            yield row, False
            continue
        yield row, True


def _values_of(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``tuple(row.get(n) for n in names)``, as nest and the mapping read them."""
    fetch = itemgetter(*names)
    single = len(names) == 1

    def values(row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            found = fetch(row)
        except KeyError:  # a row without the field: the mapping copies it as null
            return tuple(row.get(n) for n in names)
        return (found,) if single else found

    return values


def _text(value: Any) -> str:
    return "" if value is None else value if type(value) is str else str(value)


def _plain_copy(fm: FieldMap) -> bool:
    """A top-level field copied as is: the record's key is then the row's value, and no
    check on it can set the row aside under another key."""
    return (
        fm.field is not None
        and is_plain(fm.field)
        and not fm.has_const
        and fm.expr is None
        and not fm.coalesce
        and fm.lookup is None
        and fm.keymap is None
        and fm.type is None
        and fm.scale is None
        and fm.format is None
        and fm.timezone is None
        and not (fm.has_default and fm.default is not None)
        and not fm.required
        and fm.max_length is None
        and fm.each is None
        and fm.currency is None
        and fm.currency_field is None
        and fm.expect is None
    )


def _can_fail_the_run(mappings: Iterable[FieldMap]) -> bool:
    """``missing: fail`` anywhere: mapping a deselected row could stop the run, as it does."""
    for fm in mappings:
        refs = [r for r in (fm.lookup, fm.keymap) if r is not None]
        if fm.missing == "fail" or any(r.missing == "fail" for r in refs):
            return True
        if fm.each is not None and _can_fail_the_run(fm.each):
            return True
    return False
