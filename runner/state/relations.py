"""Which parent each child record belongs to (a step's ``parent:``; table ``relations``,
migration 4), so an incremental run finds the children of a removed parent by an index.

Only the SQL store keeps relations. A dry run's overlay reads them from the real store under
it and records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from runner.state.base import Key
from runner.state.codec import decode_key, encode_key
from runner.state.schema import relations
from runner.state.store import SqlStateStore

__all__ = ["children_of", "parents_of", "relations_put"]

CHUNK = 500


def _sql(state: Any) -> SqlStateStore | None:
    if isinstance(state, SqlStateStore):
        return state
    return None


def relations_put(state: Any, job: str, step: str, parents: Mapping[Key, Key]) -> None:
    """Record ``child key -> parent key`` for ``step`` (a child moved to another parent
    is moved)."""
    store = _sql(state)
    if store is None or not parents:
        return
    rows: list[tuple[str | None, ...]] = [
        (job, step, encode_key(k), encode_key(p)) for k, p in parents.items()]
    with store._write() as conn:
        store._bulk_upsert(conn, relations, ("job", "step", "key"), ("parent_key",), rows)


def children_of(state: Any, job: str, step: str, parents: Iterable[Key]) -> list[Key]:
    """The keys of ``step`` recorded under any of ``parents``."""
    store = _sql(state if isinstance(state, SqlStateStore) else getattr(state, "_real", None))
    if store is None:
        return []
    wanted = [encode_key(p) for p in parents]
    found: list[Key] = []
    t = relations.c
    with store._read() as conn:
        for start in range(0, len(wanted), CHUNK):
            query = sa.select(t.key).where(t.job == job, t.step == step,
                                           t.parent_key.in_(wanted[start:start + CHUNK]))
            found += [decode_key(row.key) for row in conn.execute(query)]
    return found


def parents_of(state: Any, job: str, step: str, keys: Iterable[Key]) -> dict[Key, Key]:
    """``child key -> parent key`` for those of ``keys`` with a recorded parent."""
    store = _sql(state if isinstance(state, SqlStateStore) else getattr(state, "_real", None))
    if store is None:
        return {}
    wanted = [encode_key(k) for k in keys]
    found: dict[Key, Key] = {}
    t = relations.c
    with store._read() as conn:
        for start in range(0, len(wanted), CHUNK):
            query = sa.select(t.key, t.parent_key).where(
                t.job == job, t.step == step, t.key.in_(wanted[start:start + CHUNK]))
            found.update((decode_key(r.key), decode_key(r.parent_key)) for r in conn.execute(query))
    return found
