"""A destination double whose creates are NOT idempotent, as real stores' often are: every
create makes a new object with a new id, natural keys are not unique, idempotency keys are
ignored. Updates, deletes and unpublishes address an object by id. For unit tests only: the
integration tests use the sandbox store's create-always mode over HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from connectors.api import Connector, ConnectorContext, Sink, WriteOp, WriteOutcome
from tests.support.doubles import Crash


@dataclass
class Store:
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)  # id -> natural key
    published: dict[str, bool] = field(default_factory=dict)
    next_id: int = 100
    crash_after_write: int = 0
    writes: int = 0
    matches: list[list[tuple[str, ...]]] = field(default_factory=list)
    matchable: bool = False
    match_always: bool = False
    listable: bool = False

    def add(self, key: tuple[str, ...], record: dict[str, Any]) -> str:
        dest_id = str(self.next_id)
        self.next_id += 1
        self.objects[dest_id] = dict(record)
        self.keys[dest_id] = key
        self.published[dest_id] = True
        return dest_id

    def per_key(self) -> Counter[tuple[str, ...]]:
        return Counter(self.keys.values())

    def visible_keys(self) -> list[tuple[str, ...]]:
        return sorted(k for i, k in self.keys.items() if self.published[i])


class AppendOnlySink:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.actions = frozenset({"create", "update"})

    @property
    def match_always(self) -> bool:
        return self.store.match_always

    def replay_safe(self, action: str) -> bool:
        return action != "create"

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        store = self.store
        outcomes = []
        for op in ops:
            key = tuple(op.key)
            if op.action == "create":
                outcomes.append(WriteOutcome(ok=True, dest_id=store.add(key, op.record)))
            elif op.dest_id is None or op.dest_id not in store.objects:
                outcomes.append(WriteOutcome(ok=False, error=f"no object {op.dest_id}"))
            elif op.action == "delete":
                del store.objects[op.dest_id], store.keys[op.dest_id]
                outcomes.append(WriteOutcome(ok=True, dest_id=op.dest_id))
            elif op.action == "unpublish":
                store.published[op.dest_id] = False
                outcomes.append(WriteOutcome(ok=True, dest_id=op.dest_id))
            else:
                store.objects[op.dest_id] = dict(op.record)
                store.published[op.dest_id] = True
                outcomes.append(WriteOutcome(ok=True, dest_id=op.dest_id))
        store.writes += 1
        if store.crash_after_write and store.writes == store.crash_after_write:
            raise Crash("the process died after the destination acknowledged")
        return outcomes

    def close(self) -> None:
        return None


class MatchingSink(AppendOnlySink):
    def match(self, keys: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], list[str]]:
        self.store.matches.append(list(keys))
        found: dict[tuple[str, ...], list[str]] = {}
        for dest_id, key in self.store.keys.items():
            if key in keys:
                found.setdefault(key, []).append(dest_id)
        return found


class ListingSink(MatchingSink):
    def list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        yield from ((key, dest_id) for dest_id, key in self.store.keys.items())


class AppendOnlyConnector(Connector):
    name: ClassVar[str] = "appendonly"
    description: ClassVar[str] = "Test double: a store whose creates always create."
    stores: ClassVar[dict[str, Store]] = {}

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        store = self.stores.setdefault(str(options["name"]), Store())
        if store.listable:
            return ListingSink(store)
        return MatchingSink(store) if store.matchable else AppendOnlySink(store)
