"""Filters (the ``runner.spec`` filter tree) compiled into plain predicates.

Each node becomes one closure chosen when the filter is compiled, so a row costs no dispatch on
operator names. The rules, which sources pushing filters down into SQL must mirror:

- Fields are paths (:mod:`runner.paths`). A missing top-level field reads as None; a path whose
  root is present but whose tail is not raises :class:`~runner.errors.RecordError` (the step
  quarantines the row). ``null: true`` matches None only (an empty string is a value).
- ``equals``/``in`` compare with Python equality, except that a boolean filter value matches
  only booleans and the integers 0/1 (SQLite and MariaDB store booleans as 0/1): ``equals: true``
  matches ``True`` and ``1``, not ``"true"``, ``1.0`` or ``"1"``. A number never equals a bool.
- ``not_equals``/``not_in`` are the negation of ``equals``/``in``: a null value passes them
  (SQL pushdown must use ``IS DISTINCT FROM`` / ``IS NULL OR NOT IN``).
- ``gt``/``gte``/``lt``/``lte`` are False when the value is None or not comparable with the
  filter value (``"abc" > 3``): never an exception.
- ``expr`` evaluates the safe expression language; its truthiness decides. An evaluation error
  raises :class:`~runner.errors.RecordError` (the step quarantines the row).

>>> from runner.spec import Compare, All
>>> keep = compile_filter(All((Compare("sell_online", "equals", True), Compare("qty", "gt", 0))))
>>> keep({"sell_online": 1, "qty": 5}), keep({"sell_online": 1, "qty": None})
(True, False)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import ConfigError
from runner.paths import getter, is_plain, root_field
from runner.spec import All, AnyOf, Compare, Expr, Filter, Not

from .expressions import compile_expression

__all__ = ["Predicate", "compile_filter", "filter_fields"]

Predicate = Callable[[Mapping[str, Any]], bool]

_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def compile_filter(flt: Filter, *, where: str = "filter") -> Predicate:
    """Turn a filter tree into a predicate over records; ``where`` (``filter``, ``keep``)
    starts the message of a path that is absent from a record."""
    if isinstance(flt, Compare):
        return _compare(flt, where)
    if isinstance(flt, All):
        parts = tuple(compile_filter(item, where=where) for item in flt.items)
        if len(parts) == 1:
            return parts[0]

        # Plain loops, not all()/any() over a generator: this is the per-row hot path.
        def all_of(row: Mapping[str, Any]) -> bool:
            for part in parts:  # noqa: SIM110
                if not part(row):
                    return False
            return True

        return all_of
    if isinstance(flt, AnyOf):
        options = tuple(compile_filter(item, where=where) for item in flt.items)

        def any_of(row: Mapping[str, Any]) -> bool:
            for part in options:  # noqa: SIM110
                if part(row):
                    return True
            return False

        return any_of
    if isinstance(flt, Not):
        inner = compile_filter(flt.item, where=where)

        def negate(row: Mapping[str, Any]) -> bool:
            return not inner(row)

        return negate
    if isinstance(flt, Expr):
        expression = compile_expression(flt.expression, where="filter")
        evaluate = expression.evaluate

        def expr(row: Mapping[str, Any]) -> bool:
            return bool(evaluate(row))

        return expr
    raise ConfigError(f"filter: unsupported filter node {flt!r}")


def filter_fields(flt: Filter | None) -> frozenset[str]:
    """The top-level record fields a filter reads."""
    if flt is None:
        return frozenset()
    if isinstance(flt, Compare):
        return frozenset({root_field(flt.field)})
    if isinstance(flt, All | AnyOf):
        out: frozenset[str] = frozenset()
        for item in flt.items:
            out |= filter_fields(item)
        return out
    if isinstance(flt, Not):
        return filter_fields(flt.item)
    if isinstance(flt, Expr):
        return frozenset(root_field(n) for n in compile_expression(flt.expression).names)
    return frozenset()


def _equals(value: Any) -> Callable[[Any], bool]:
    """Equality with the boolean rule of the module docstring."""
    if value is None:
        return lambda x: x is None
    if type(value) is bool:
        def eq_bool(x: Any) -> bool:
            t = type(x)
            return (t is bool or t is int) and x == value

        return eq_bool
    if type(value) in (int, float):
        def eq_number(x: Any) -> bool:
            return type(x) is not bool and x == value

        return eq_number

    def eq(x: Any) -> bool:
        return bool(x == value)

    return eq


def _member(values: Any) -> Callable[[Any], bool]:
    items = tuple(values) if isinstance(values, list | tuple | set | frozenset) else (values,)
    if any(type(v) in (bool, int, float) for v in items) or any(v is None for v in items):
        tests = tuple(_equals(v) for v in items)

        def member_slow(x: Any) -> bool:
            for test in tests:  # noqa: SIM110
                if test(x):
                    return True
            return False

        return member_slow
    try:
        pool: frozenset[Any] | tuple[Any, ...] = frozenset(items)
    except TypeError:
        pool = items

    def member(x: Any) -> bool:
        try:
            return x in pool
        except TypeError:  # an unhashable value (a list) is in no set of scalars
            return False

    return member


def _compare(node: Compare, where: str) -> Predicate:
    get = getter(node.field, where=f"{where} {node.field}")
    op = node.op
    value = node.value
    if op == "null" or op == "not_null":
        # `null: false` is the same test as `not_null: true`.
        wants_null = (op == "null") == (value is None or bool(value))

        if wants_null:
            return lambda row: get(row) is None
        return lambda row: get(row) is not None
    if op == "equals" and is_plain(node.field):
        name = node.field
        if type(value) is bool:
            # The most common filter (`sell_online: true`), inlined: no nested calls per row.
            def eq_bool_field(row: Mapping[str, Any]) -> bool:
                x = row.get(name)
                t = type(x)
                return (t is bool or t is int) and x == value

            return eq_bool_field
        test = _equals(value)
        return lambda row: test(row.get(name))
    if op == "equals" or op == "not_equals":
        test = _equals(value)
        if op == "equals":
            return lambda row: test(get(row))
        return lambda row: not test(get(row))
    if op == "in" or op == "not_in":
        member = _member(value)
        if op == "in":
            return lambda row: member(get(row))
        return lambda row: not member(get(row))
    if op in _ORDER:
        if value is None:
            raise ConfigError(f"filter: {node.field} {op} needs a value, not null")
        compare = _ORDER[op]

        def ordered(row: Mapping[str, Any]) -> bool:
            x = get(row)
            if x is None:
                return False
            try:
                return bool(compare(x, value))
            except TypeError:
                return False

        return ordered
    raise ConfigError(
        f"filter: unknown operator {op!r} on {node.field!r}; use one of "
        "equals, not_equals, in, not_in, null, not_null, gt, gte, lt, lte"
    )
