"""Pushed-down filters select exactly the rows the engine's Python filter keeps.

A property test: random filter trees over rows with NULLs, evaluated by SQLite through the
compiled SQL and by a reference evaluator with the engine's rules (None != x is true,
ordered comparisons with None are false, NOT is two-valued).
"""

from __future__ import annotations

import itertools
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import StaticPool

from connectors.sql._filters import split
from runner.spec import All, AnyOf, Compare, Expr, Filter, Not

ENGINE = sa.create_engine("sqlite://", poolclass=StaticPool)
META = sa.MetaData()
ROWS_T = sa.Table("r", META, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("a", sa.Integer), sa.Column("b", sa.String))
META.create_all(ENGINE)
ROWS = [{"id": i, "a": a, "b": b}
        for i, (a, b) in enumerate(itertools.product([None, 0, 1, 2, 3], [None, "x", "y"]))]
with ENGINE.begin() as _conn:
    _conn.execute(ROWS_T.insert(), ROWS)


def column_for(name: str) -> Any:
    return ROWS_T.c.get(name)


def reference(flt: Filter, row: dict[str, Any]) -> bool:
    if isinstance(flt, All):
        return all(reference(i, row) for i in flt.items)
    if isinstance(flt, AnyOf):
        return any(reference(i, row) for i in flt.items)
    if isinstance(flt, Not):
        return not reference(flt.item, row)
    assert isinstance(flt, Compare)
    v, w = row[flt.field], flt.value
    if flt.op == "null":
        return w is False or v is None
    if flt.op == "not_null":
        return w is False or v is not None
    if flt.op == "in":
        return v in w
    if flt.op == "not_in":
        return v not in w
    if flt.op == "equals":
        return bool(v == w)
    if flt.op == "not_equals":
        return bool(v != w)
    if v is None or w is None:
        return False
    return bool({"gt": v > w, "gte": v >= w, "lt": v < w, "lte": v <= w}[flt.op])


ints = st.sampled_from([None, 0, 1, 2, 3, True, False])
strs = st.sampled_from([None, "x", "y", "z"])
compares = st.one_of(
    st.builds(Compare, st.just("a"),
              st.sampled_from(["equals", "not_equals", "gt", "gte", "lt", "lte"]), ints),
    st.builds(Compare, st.just("b"), st.sampled_from(["equals", "not_equals"]), strs),
    st.builds(Compare, st.sampled_from(["a", "b"]), st.sampled_from(["null", "not_null"]),
              st.sampled_from([True, False])),
    st.builds(Compare, st.just("a"), st.sampled_from(["in", "not_in"]),
              st.lists(ints, max_size=3).map(tuple)),
)
filters = st.recursive(compares, lambda inner: st.one_of(
    st.builds(All, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    st.builds(AnyOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    st.builds(Not, inner),
), max_leaves=6)


@settings(max_examples=120, deadline=None)
@given(filters)
def test_sql_selects_what_the_reference_keeps(flt: Filter) -> None:
    clause, residual = split(flt, column_for)
    assert residual is None and clause is not None
    with ENGINE.connect() as conn:
        got = {r[0] for r in conn.execute(sa.select(ROWS_T.c.id).where(clause))}
    want = {r["id"] for r in ROWS if reference(flt, r)}
    assert got == want, str(clause.compile(ENGINE, compile_kwargs={"literal_binds": True}))


def test_expressions_and_unknown_fields_stay_with_the_engine() -> None:
    expr = Expr("a + 1 > 2")
    keep = Compare("a", "gt", 1)
    unknown = Compare("nope", "equals", 1)
    clause, residual = split(All((keep, expr, unknown)), column_for)
    assert clause is not None and residual == All((expr, unknown))
    assert split(AnyOf((keep, expr)), column_for) == (None, AnyOf((keep, expr)))
    assert split(Not(expr), column_for) == (None, Not(expr))
    clause, residual = split(All((keep, expr)), column_for)
    assert residual == expr


def test_values_are_bound_never_inlined() -> None:
    evil = "'; DROP TABLE r; --"
    clause, _ = split(Compare("b", "equals", evil), column_for)
    assert clause is not None
    sql = str(clause.compile(ENGINE))
    assert "DROP" not in sql and "?" in sql
    with ENGINE.connect() as conn:
        assert conn.execute(sa.select(ROWS_T.c.id).where(clause)).all() == []
        assert conn.execute(sa.select(sa.func.count()).select_from(ROWS_T)).scalar() == 15


leaves = st.one_of(compares, st.just(Expr("a > 1")), st.just(Compare("nope", "equals", 1)))
mixed = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(All, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    st.builds(AnyOf, st.lists(inner, min_size=1, max_size=3).map(tuple)),
    st.builds(Not, inner),
), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(mixed)
def test_the_engine_can_hand_back_exactly_what_was_pushed(flt: Filter) -> None:
    """The engine rebuilds the pushed part from the residual (runner.engine.ops.pushed_part);
    the source must accept it whole, and pushed + residual must select what flt selects."""
    from runner.engine.ops import pushed_part

    _, residual = split(flt, column_for)
    pushed = pushed_part(flt, residual)
    if pushed is None:
        return
    clause, rest = split(pushed, column_for)
    assert rest is None and clause is not None
    if residual is None or isinstance(residual, Expr):
        return
    with ENGINE.connect() as conn:
        got = {r[0] for r in conn.execute(sa.select(ROWS_T.c.id).where(clause))}
    assert got >= {r["id"] for r in ROWS if _ref_or_true(flt, r)}


def _ref_or_true(flt: Filter, row: dict[str, Any]) -> bool:
    """The reference, with anything the database cannot see taken as true (a superset)."""
    if isinstance(flt, All):
        return all(_ref_or_true(i, row) for i in flt.items)
    if isinstance(flt, Compare) and flt.field in row:
        return reference(flt, row)
    if isinstance(flt, AnyOf | Not):
        try:
            return reference(flt, row)
        except (AssertionError, KeyError):
            return True
    return True


def test_nested_all_is_taken_whole_or_left_whole() -> None:
    expr = Expr("a > 1")
    inner = All((Compare("a", "gt", 0), expr))
    outer = All((inner, Compare("b", "equals", "x")))
    clause, residual = split(outer, column_for)
    assert residual == All((inner,)) and clause is not None
