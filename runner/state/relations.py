"""Which parent each child record belongs to (a step's ``parent:``; table ``relations``,
migration 5), so an incremental run finds the children of a removed parent by an index.

Only the SQL store keeps relations (:class:`RelationsMixin` is mixed into it). The functions
below take any state: a dry run's overlay reads the relations of the real store under it and
records nothing; a state without them (a unit test's double) has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from runner.state.base import Key
from runner.state.codec import decode_key, encode_key
from runner.state.schema import relations

__all__ = ["RelationsMixin", "children_of", "parents_of", "relations_put"]

CHUNK = 500


class RelationsMixin:
    """Mixed into :class:`runner.state.store.SqlStateStore`, which provides the plumbing."""

    def _write(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _bulk_upsert(self, conn: sa.Connection, table: sa.Table, pk: tuple[str, ...],
                     values: tuple[str, ...], scope: tuple[str, ...],
                     rows: list[tuple[str | None, ...]]) -> None:
        raise NotImplementedError

    def relations_put(self, job: str, step: str, parents: Mapping[Key, Key]) -> None:
        """Record ``child key -> parent key`` for ``step`` (a child moved to another parent
        is moved)."""
        rows: list[tuple[str | None, ...]] = [
            (encode_key(k), encode_key(p)) for k, p in parents.items()]
        with self._write() as conn:
            self._bulk_upsert(conn, relations, ("job", "step", "key"), ("parent_key",),
                              (job, step), rows)

    def children_of(self, job: str, step: str, parents: Iterable[Key]) -> list[Key]:
        """The keys of ``step`` recorded under any of ``parents``."""
        wanted = [encode_key(p) for p in parents]
        found: list[Key] = []
        t = relations.c
        with self._read() as conn:
            for start in range(0, len(wanted), CHUNK):
                query = sa.select(t.key).where(t.job == job, t.step == step,
                                               t.parent_key.in_(wanted[start:start + CHUNK]))
                found += [decode_key(row.key) for row in conn.execute(query)]
        return found

    def parents_of(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, Key]:
        """``child key -> parent key`` for those of ``keys`` with a recorded parent."""
        wanted = [encode_key(k) for k in keys]
        found: dict[Key, Key] = {}
        t = relations.c
        with self._read() as conn:
            for start in range(0, len(wanted), CHUNK):
                query = sa.select(t.key, t.parent_key).where(
                    t.job == job, t.step == step, t.key.in_(wanted[start:start + CHUNK]))
                found.update((decode_key(r.key), decode_key(r.parent_key))
                             for r in conn.execute(query))
        return found


def _kept_by(state: Any, *, through_overlay: bool) -> RelationsMixin | None:
    if isinstance(state, RelationsMixin):
        return state
    real = getattr(state, "_real", None) if through_overlay else None
    return real if isinstance(real, RelationsMixin) else None


def relations_put(state: Any, job: str, step: str, parents: Mapping[Key, Key]) -> None:
    store = _kept_by(state, through_overlay=False)
    if store is not None and parents:
        store.relations_put(job, step, parents)


def children_of(state: Any, job: str, step: str, parents: Iterable[Key]) -> list[Key]:
    store = _kept_by(state, through_overlay=True)
    return [] if store is None else store.children_of(job, step, parents)


def parents_of(state: Any, job: str, step: str, keys: Iterable[Key]) -> dict[Key, Key]:
    store = _kept_by(state, through_overlay=True)
    return {} if store is None else store.parents_of(job, step, keys)
