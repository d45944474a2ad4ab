"""Pushing the runner's filter tree down into SQL.

Every compiled comparison is NULL-safe (never evaluates to SQL NULL), so NOT/AND/OR keep
Python's two-valued meaning and the database selects exactly the rows the engine's own filter
would keep: ``not_equals``/``not_in`` keep NULLs (``None != 5`` is true in Python), ordered
comparisons and ``equals`` never match NULL. A bool compared with a non-boolean column
compares as 1/0, as the engine does. Expressions (``Expr``) stay with the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from runner.spec import All, AnyOf, Compare, Expr, Filter, Not

ColumnFor = Callable[[str], "sa.ColumnElement[Any] | None"]
Clause = ColumnElement[bool]


def split(flt: Filter, column_for: ColumnFor) -> tuple[Clause | None, Filter | None]:
    """``(SQL clause for the pushable part, residual filter)``; either may be None.

    Only the items of a top-level ``All`` are split (each taken whole or left whole), which is
    what the engine can reconstruct as "the pushed part" from the residual."""
    if isinstance(flt, All):
        clauses: list[Clause] = []
        rest: list[Filter] = []
        for item in flt.items:
            clause = _compile(item, column_for)
            if clause is not None:
                clauses.append(clause)
            else:
                rest.append(item)
        pushed = sa.and_(*clauses) if clauses else None
        if not rest:
            return pushed, None
        # A lone leftover is returned as itself, unless it is an All: the engine reads an All
        # residual as the list of items left over, so that one must stay wrapped.
        if len(rest) == 1 and not isinstance(rest[0], All):
            return pushed, rest[0]
        return pushed, All(tuple(rest))
    whole = _compile(flt, column_for)
    return (whole, None) if whole is not None else (None, flt)


def _compile(flt: Filter, column_for: ColumnFor) -> Clause | None:
    """The clause for ``flt`` if all of it can run in SQL, else None."""
    if isinstance(flt, Compare):
        col = column_for(flt.field)
        return None if col is None else _compare(col, flt)
    if isinstance(flt, All | AnyOf):
        parts = [_compile(item, column_for) for item in flt.items]
        if any(p is None for p in parts):
            return None
        done = [p for p in parts if p is not None]
        return sa.and_(sa.true(), *done) if isinstance(flt, All) else sa.or_(sa.false(), *done)
    if isinstance(flt, Not):
        inner = _compile(flt.item, column_for)
        return None if inner is None else sa.not_(inner)
    if isinstance(flt, Expr):
        return None
    return None


def _value(col: sa.ColumnElement[Any], value: Any) -> Any:
    if isinstance(value, bool) and not isinstance(col.type, sa.Boolean):
        return int(value)
    return value


def _compare(col: sa.ColumnElement[Any], flt: Compare) -> Clause:
    op, value = flt.op, flt.value
    if op == "null":
        return sa.true() if value is False else col.is_(None)
    if op == "not_null":
        return sa.true() if value is False else col.is_not(None)
    if op in ("in", "not_in"):
        values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        concrete = [_value(col, v) for v in values if v is not None]
        member = sa.and_(col.is_not(None), col.in_(concrete))
        if any(v is None for v in values):
            member = sa.or_(member, col.is_(None))
        return member if op == "in" else sa.not_(member)
    if value is None:
        # Python: x == None only for None; ordered comparisons with None are false (engine rule).
        if op == "equals":
            return col.is_(None)
        if op == "not_equals":
            return col.is_not(None)
        return sa.false()
    bound = _value(col, value)
    if op == "not_equals":
        return sa.or_(col.is_(None), col != bound)
    cmp = {
        "equals": col == bound,
        "gt": col > bound,
        "gte": col >= bound,
        "lt": col < bound,
        "lte": col <= bound,
    }[op]
    return sa.and_(col.is_not(None), cmp)
