"""The echo guards' memory (table ``echoes``, migration 6): what a step wrote to a two-way
field, per key and field, as a hash of the value.

It is written in the writing step's own ``commit_batch`` (after the destination acknowledged)
and used up in the reading step's, so a crash between a write and its commit replays both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from runner.state.base import BatchCommit, Key
from runner.state.codec import encode_key
from runner.state.schema import echoes

__all__ = ["EchoMixin"]

CHUNK = 500


class EchoMixin:
    """Mixed into :class:`~runner.state.store.SqlStateStore`."""

    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _bulk_upsert(self, conn: sa.Connection, table: sa.Table, pk: tuple[str, ...],
                     values: tuple[str, ...], scope: tuple[str, ...],
                     rows: list[tuple[str | None, ...]]) -> None:
        raise NotImplementedError

    def _put_echoes(self, conn: sa.Connection, commit: BatchCommit) -> None:
        # Used memory goes first: a batch that consumes and writes one key keeps what it wrote.
        used = [{"j": job, "s": step, "k": encode_key(k), "f": f}
                for job, step, k, fields in commit.echoes_used for f in fields]
        if used:
            t = echoes.c
            conn.execute(sa.delete(echoes).where(
                t.job == sa.bindparam("j"), t.step == sa.bindparam("s"),
                t.key == sa.bindparam("k"), t.field == sa.bindparam("f")), used)
        rows: list[tuple[str | None, ...]] = [
            (encode_key(k), f, h) for k, values in commit.echoes.items() for f, h in values.items()]
        if rows:
            self._bulk_upsert(conn, echoes, ("job", "step", "key", "field"), ("value_hash",),
                              (commit.job, commit.step), rows)

    def echoes_get(self, job: str, step: str, keys: Iterable[Key],
                   fields: Iterable[str]) -> dict[Key, dict[str, str]]:
        found: dict[Key, dict[str, str]] = {}
        wanted = {encode_key(k): k for k in keys}
        names = list(fields)
        t = echoes.c
        with self._read() as conn:
            for chunk in _chunks(list(wanted)):
                query = sa.select(t.key, t.field, t.value_hash).where(
                    t.job == job, t.step == step, t.field.in_(names), t.key.in_(chunk))
                for key, name, value in conn.execute(query):
                    found.setdefault(wanted[key], {})[name] = value
        return found


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
