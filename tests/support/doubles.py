"""In-memory connectors for unit tests of the engine: a source with controllable rows and
failures, and a sink that records every op and can fail on demand.

They register as the ``memory`` connector for tests only (``register()`` puts the class in the
connector cache, no entry point). Options: ``{"name": "<table or destination name>"}``; the data
lives in a :class:`World` so a test can change the source between runs and inspect the
destination.

    world = register()
    world.rows["products"] = [{"sku": "A", "price": 1}]
    ...  # a step with source {connector: memory, name: products}, destination {name: store}
    assert world.sinks["store"].records == {("A",): {...}}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.api import (
    BadRecord,
    Connector,
    ConnectorContext,
    ReadRequest,
    Rows,
    Sink,
    Source,
    WriteOp,
    WriteOutcome,
    register_connector,
    unregister_connector,
)
from runner.errors import FatalError, RetryableError
from runner.spec import Compare, Filter
from runner.transforms import compile_filter

__all__ = ["Crash", "MemoryConnector", "MemoryDestination", "World", "register", "unregister"]


class Crash(BaseException):
    """Not an Exception: nothing in the engine may catch and survive it, like SIGKILL."""


@dataclass
class MemoryDestination:
    """A destination keyed by natural key. ``records`` is its content; ``ops`` every op sent
    (one list per ``write`` call)."""

    records: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    published: dict[tuple[str, ...], bool] = field(default_factory=dict)
    ids: dict[tuple[str, ...], str] = field(default_factory=dict)
    writes: list[list[WriteOp]] = field(default_factory=list)
    fail_retryable: int = 0  # the next N write calls raise RetryableError
    retry_after: float | None = None
    fail_fatal: bool = False
    reject: Callable[[WriteOp], str | None] | None = None  # a reason refuses the op
    ignore: Callable[[WriteOp], bool] | None = None  # acknowledged by a rule that ignores
    listable: bool = False
    crash_after_write: int = 0  # the Nth write call applies its ops, then "the process dies"
    next_id: int = 1
    # The write requests it declares: separate create and update, ids returned on create.
    actions: frozenset[str] = frozenset({"create", "update"})
    # Whether its sink says it takes writes from several threads at once (see Sink).
    concurrent_writes: bool = False

    @property
    def ops(self) -> list[WriteOp]:
        return [op for batch in self.writes for op in batch]

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        if self.fail_retryable > 0:
            self.fail_retryable -= 1
            raise RetryableError("memory destination: 503 Service Unavailable",
                                 retry_after=self.retry_after)
        if self.fail_fatal:
            raise FatalError("memory destination: 403 Forbidden")
        self.writes.append(list(ops))
        outcomes = []
        for op in ops:
            reason = self.reject(op) if self.reject else None
            if reason:
                outcomes.append(WriteOutcome(ok=False, error=reason))
                continue
            if self.ignore is not None and self.ignore(op):
                outcomes.append(WriteOutcome(ok=True, ignored=True))
                continue
            key = tuple(op.key)
            if op.action == "delete":
                self.records.pop(key, None)
                self.published.pop(key, None)
            elif op.action == "unpublish":
                if key in self.records:
                    self.published[key] = False
            else:
                self.records[key] = dict(op.record)
                self.published[key] = True
            if key not in self.ids:
                self.ids[key] = f"id-{self.next_id}"
                self.next_id += 1
            outcomes.append(WriteOutcome(ok=True, dest_id=self.ids[key]))
        if self.crash_after_write and len(self.writes) == self.crash_after_write:
            raise Crash("the process died after the destination acknowledged")
        return outcomes

    def visible(self) -> dict[tuple[str, ...], dict[str, Any]]:
        """What a shopper sees: records not deleted and not unpublished."""
        return {k: v for k, v in self.records.items() if self.published.get(k, True)}


@dataclass
class World:
    rows: dict[str, list[Any]] = field(default_factory=dict)  # records or BadRecord
    sinks: dict[str, MemoryDestination] = field(default_factory=dict)
    read_failures: dict[str, list[int]] = field(default_factory=dict)  # fail after N rows
    requests: list[ReadRequest] = field(default_factory=list)
    push_equals: bool = False  # sources take Compare(equals) filters themselves
    # Sources that also read as blocks of tuples of this many rows (a RowSource), the
    # columns those of the first row: what the SQL source gives a step that nests.
    blocks: int | None = None
    closed: list[str] = field(default_factory=list)

    def sink(self, name: str) -> MemoryDestination:
        return self.sinks.setdefault(name, MemoryDestination())


class MemorySource:
    def __init__(self, world: World, name: str) -> None:
        self.world, self.name = world, name

    def pushdown(self, flt: Filter) -> Filter | None:
        if self.world.push_equals and isinstance(flt, Compare) and flt.op == "equals":
            return None
        return flt

    def read(self, request: ReadRequest) -> Iterator[dict[str, Any] | BadRecord]:
        self.world.requests.append(request)
        keep = compile_filter(request.filter) if request.filter is not None else None
        failures = self.world.read_failures.get(self.name, [])
        fail_at = failures.pop(0) if failures else None
        for n, row in enumerate(list(self.world.rows.get(self.name, []))):
            if fail_at is not None and n == fail_at:
                raise RetryableError("memory source: connection reset")
            if isinstance(row, BadRecord):
                yield row
                continue
            cursor = request.cursor
            if cursor is not None and cursor.since is not None:
                value = row.get(cursor.field)
                if value is None or value < cursor.since:
                    continue
            if keep is not None and not keep(row):
                continue
            yield dict(row)

    def close(self) -> None:
        self.world.closed.append(f"source:{self.name}")


class RowMemorySource(MemorySource):
    def read_rows(self, request: ReadRequest) -> Iterator[Rows | BadRecord]:
        size = self.world.blocks or 1
        columns: tuple[str, ...] | None = None
        block: list[tuple[Any, ...]] = []
        for item in self.read(request):
            if isinstance(item, BadRecord):
                if block:
                    yield Rows(columns or (), block)
                    block = []
                yield item
                continue
            if columns is None:
                columns = tuple(item)
            block.append(tuple(item.get(c) for c in columns))
            if len(block) == size:
                yield Rows(columns, block)
                block = []
        if block:
            yield Rows(columns or (), block)


class MemorySink:
    def __init__(self, world: World, name: str) -> None:
        self.world, self.name = world, name
        self.dest = world.sink(name)

    @property
    def actions(self) -> frozenset[str]:
        return self.dest.actions

    @property
    def concurrent_writes(self) -> bool:
        return self.dest.concurrent_writes

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        return self.dest.write(ops)

    def close(self) -> None:
        self.world.closed.append(f"sink:{self.name}")


class ListableMemorySink(MemorySink):
    def list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        for key in self.dest.records:
            yield key, self.dest.ids[key]


class MemoryConnector(Connector):
    name = "memory"
    description = "In-memory source and sink for unit tests."
    world: World = World()

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        if self.world.blocks:
            return RowMemorySource(self.world, str(options["name"]))
        return MemorySource(self.world, str(options["name"]))

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        name = str(options["name"])
        if self.world.sink(name).listable:
            return ListableMemorySink(self.world, name)
        return MemorySink(self.world, name)


def register() -> World:
    """Install the ``memory`` connector with a fresh world and return the world."""
    MemoryConnector.world = World()
    register_connector(MemoryConnector)
    return MemoryConnector.world


def unregister() -> None:
    """Remove the ``memory`` connector again, so other tests see only the real ones."""
    unregister_connector(MemoryConnector.name)
