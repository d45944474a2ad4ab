"""Reading the source again for quarantined keys: a record fixed at the source is retried as
it is now, not as it was stored."""

from __future__ import annotations

from typing import Any

from connectors.api import ReadRequest
from runner.spec import All, Compare, Filter, Step
from runner.state.base import Key, QuarantinedRecord
from runner.transforms import compile_step

from .ops import norm_key
from .reading import KeymapCache, RowStream, open_source, split_filter
from .retry import Retrier
from .step import RunEnv, step_context

__all__ = ["reread", "source_of"]


def source_of(item: Any, rec: QuarantinedRecord) -> dict[str, Any]:
    """What to store again: the row as read now where it was re-read, else the stored one."""
    source = getattr(item, "source", None)
    return dict(source) if isinstance(source, dict) else dict(rec.record)


def _key_source_fields(step: Step) -> tuple[str, ...] | None:
    """The source fields the step's key is copied from, or None where the mapping computes it
    (then the source cannot be asked for a key)."""
    if step.mappings is None:
        return step.key
    by_target = {fm.target: fm for fm in step.mappings}
    fields = []
    for name in step.key:
        fm = by_target.get(name)
        plain = fm is not None and fm.field is not None and fm.lookup is None and (
            fm.keymap is None and fm.expr is None and not fm.coalesce and fm.type in (None,
                                                                                   "string"))
        if fm is None or not plain or fm.field is None:
            return None
        fields.append(fm.field)
    return tuple(fields)


def _key_filter(fields: tuple[str, ...], recs: list[QuarantinedRecord]) -> Filter | None:
    """``field in (values...)`` per key field, the values as the source gave them (the stored
    row keeps their type: an integer id stays an integer for the database)."""
    values: list[list[Any]] = [[] for _ in fields]
    for rec in recs:
        for index, name in enumerate(fields):
            value = rec.record.get(name, rec.key[index] if rec.key else None)
            if value is not None and value not in values[index]:
                values[index].append(value)
    if not any(values):
        return None
    parts = [Compare(name, "in", tuple(vals)) for name, vals in zip(fields, values, strict=True)]
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def reread(step: Step, env: RunEnv, recs: list[QuarantinedRecord], lookups: Any,
           keymap: KeymapCache, retrier: Retrier) -> tuple[dict[Key, list[Any]] | None, str]:
    """The step's items for the quarantined keys, read again from the source (``{key:
    items}``), or None and why the source cannot be asked."""
    fields = _key_source_fields(step)
    if fields is None:
        return None, "its key is computed by the mapping"
    by_key = _key_filter(fields, [r for r in recs if r.key is not None])
    if by_key is None:
        return None, "the records have no key"
    ctx = step_context(env, step, step.name, step.key, retrier)
    source = open_source(step.source, ctx)
    try:
        if source.pushdown(by_key) is not None:
            return None, "the source cannot filter by key"
        wanted = by_key if step.filter is None else All((by_key, step.filter))
        pushed, residual = split_filter(source, wanted)
        compiled = compile_step(step, lookups=lookups, keymap=keymap, residual_filter=residual)
        stream = RowStream(source, ReadRequest(filter=pushed), retrier,
                           what=f"{env.job}/{step.name}: re-reading quarantined keys")
        found: dict[Key, list[Any]] = {}
        for item in compiled.apply(stream):
            if item.key is not None:
                found.setdefault(norm_key(item.key), []).append(item)
        return found, ""
    finally:
        source.close()
