"""The public connector API: what a connector plugin implements and the engine calls.

A connector is a class registered under the ``commerce_sync.connectors`` entry point. It
declares its source and destination options next to its code as :class:`Options` classes (one
field per option with its description, default, examples, constraints and whether it is a
secret), exposes their generated JSON Schemas as ``source_options``/``destination_options``
(``schema_of``), and opens sources and sinks from the typed value ``Options.parse`` makes of
validated options. Interfaces stay small: a source reads, a sink writes, both close.

Connectors import this module and ``runner.errors`` only: never the engine or the CLI.
The path syntax of the pipeline language (``runner.paths``: ``lines[0].carrier["odd."]``) is
re-exported here, so a connector reads response paths exactly as a ``map`` reads records.

Errors: raise ``RetryableError`` for temporary failures (429, 5xx, timeouts), ``FatalError``
for permanent ones; report a single bad record through its ``WriteOutcome`` (or raise
``RecordError`` from a read of that record) so the rest of the batch goes on.
"""

from __future__ import annotations

import functools
import importlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Literal,
    NamedTuple,
    Protocol,
    TypeVar,
    cast,
    runtime_checkable,
)

from connectors.options import Options, option, schema_of
from runner.errors import ConfigError, ConfigProblem, redact, register_secret
from runner.paths import MISSING, PathError, format_path, get_path, split_path
from runner.schema_fit import fits
from runner.spec import Filter

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    # Only an annotation here: a run that uses no HTTP connector, and `validate`, skip httpx.
    import httpx

__all__ = [
    "BUILT_IN",
    "ENTRY_POINT_GROUP",
    "MISSING",
    "BadRecord",
    "CheckContext",
    "ChildLevel",
    "Connector",
    "ConnectorContext",
    "CursorWindow",
    "Listable",
    "Matchable",
    "Nested",
    "OptionProblem",
    "Options",
    "PathError",
    "ReadRequest",
    "RecordListable",
    "Retrier",
    "RowSource",
    "Rows",
    "Sink",
    "Source",
    "WriteOp",
    "WriteOutcome",
    "available_connectors",
    "call_once",
    "connector_target",
    "format_path",
    "get_path",
    "load_connector",
    "option",
    "register_connector",
    "replay_safe",
    "schema_of",
    "secret_option_names",
    "split_path",
    "unregister_connector",
    "validate_options",
]

ENTRY_POINT_GROUP = "commerce_sync.connectors"

Record = dict[str, Any]
Key = tuple[str, ...]
Action = Literal["upsert", "create", "update", "delete", "unpublish"]
T = TypeVar("T")


class Retrier(Protocol):
    """The framework's one retry site, handed to connectors through their context.

    A connector wraps each unit it can safely repeat (one HTTP request, one database
    transaction) as ``ctx.retry(fn, what)``; ``fn`` raises ``RetryableError`` (with
    ``retry_after`` when the server said how long to wait) for a temporary failure. The retrier
    decides whether and when to call again, from the step's ``errors.retry`` policy, and raises
    ``RunFailed`` once the attempts are spent. Connectors never sleep or loop on their own."""

    def __call__(self, fn: Callable[[], T], what: str) -> T: ...


def call_once(fn: Callable[[], T], what: str) -> T:
    """The retrier of a context built outside the engine (unit tests): no retry at all."""
    del what
    return fn()


@dataclass(frozen=True)
class CursorWindow:
    """Read rows whose ``field`` is >= ``since`` (None: from the beginning). The engine has
    already moved ``since`` back by the step's lookback; the source need not know about it."""

    field: str
    since: Any = None


@dataclass(frozen=True)
class ReadRequest:
    """What the engine asks of a source for one run."""

    cursor: CursorWindow | None = None
    filter: Filter | None = None  # already reduced to what this source said it can push down
    fields: Sequence[str] | None = None  # the fields the step uses, when known (projection)


@dataclass(frozen=True)
class BadRecord:
    """Yielded by a source in place of a record it could not read (broken line, bad UTF-8):
    the engine quarantines it with ``reason`` and goes on with the rest."""

    raw: Any
    reason: str


class Rows(NamedTuple):
    """Consecutive records of one read as tuples of values in ``columns`` order: what a
    :class:`RowSource` yields instead of a dict per record."""

    columns: tuple[str, ...]
    values: Sequence[tuple[Any, ...]]


# One of each per record written: slotted, and not frozen (a frozen dataclass sets each field
# through object.__setattr__: 880 ns against 220 ns to make). Read-only by convention.
@dataclass(slots=True)
class WriteOp:
    """One change for a sink. ``dest_id`` is the id the key map holds for ``key`` (None if the
    destination has never acknowledged this key); ``idempotency_key`` is stable across retries
    and reruns of the same change."""

    action: Action
    key: tuple[Any, ...]
    record: Record
    dest_id: str | None = None
    idempotency_key: str | None = None


@dataclass(slots=True)  # not frozen: see WriteOp
class WriteOutcome:
    """The destination's answer for one op: acknowledged (with the id it knows the record by,
    if any) or refused with a reason that goes to quarantine."""

    ok: bool
    dest_id: str | None = None
    error: str | None = None
    # Acknowledged without taking the change: a ``responses`` rule said to ignore the answer.
    ignored: bool = False
    # Children the same call created or answered for inline (a product create that returns its
    # variants' ids): ``{level name: {child natural key: child id}}`` (see :class:`Nested`).
    children: Mapping[str, Mapping[Key, str]] | None = None


@dataclass
class ConnectorContext:
    """What the engine hands a connector when opening it."""

    job: str
    step: str
    key_fields: tuple[str, ...] = ()  # the step's natural key (field names in each record)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("connectors"))
    # Tests inject a client with a MockTransport; None means the connector builds its own.
    http_client: httpx.Client | None = None
    base_dir: str = "."  # relative file paths in options resolve against the pipeline file
    # Time and retries come from the engine, so tests run connectors on a fake clock.
    retry: Retrier = call_once
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@runtime_checkable
class Source(Protocol):
    """Where a step reads. A source whose read may be started on one thread and consumed on
    another says so with an attribute ``read_ahead = True``: the engine then starts a
    step's read (its query, its first page) on a thread of its own while it opens the
    destination, and goes on with it on the step's thread."""

    def pushdown(self, flt: Filter) -> Filter | None:
        """Take what part of ``flt`` this source can apply itself; return the residual the
        engine must still apply (None: everything was pushed, or ``flt`` itself: nothing)."""
        ...

    def read(self, request: ReadRequest) -> Iterator[Record | BadRecord]:
        """Stream records (or BadRecord for one that cannot be read). Memory must not grow
        with the number of records."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Where a step writes. A sink whose ``write`` may be called from several threads at once
    says so with a class attribute ``concurrent_writes = True``: the engine then hands it the
    next batch before the last is acknowledged (see runner.engine.overlap)."""

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        """Apply ``ops`` and return one outcome per op, in order. Raise ``RetryableError`` or
        ``FatalError`` when the batch as a whole failed; a sink that returned normally has been
        acknowledged by the destination for every op marked ok."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class RowSource(Protocol):
    """A source that can also give its records as blocks of tuples. A record costs a tuple
    instead of a tuple and a dict: the engine reads this way where it groups rows itself
    (``nest``), which then builds one dict per group (issue 16: a sixth of a changes run)."""

    def read_rows(self, request: ReadRequest) -> Iterator[Rows | BadRecord]:
        """The records ``read(request)`` gives, in the same order (so a retried read resumes
        at the same position either way), as blocks with one column order per read."""
        ...


@runtime_checkable
class Listable(Protocol):
    """A sink whose destination can be listed: a complete sync rebuilds the key map from it
    (the recovery path after a lost state store), and ``plan`` compares against it."""

    def list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        """Yield ``(natural key, destination id)`` for every record the destination holds."""
        ...


@runtime_checkable
class RecordListable(Protocol):
    """A sink whose listing carries each object's fields: an audit compares them with what
    the source says now, without a complete sync."""

    def list_records(self) -> Iterator[tuple[tuple[Any, ...], str, Record]]:
        """Yield ``(natural key, destination id, record)`` for every object the destination
        holds (every page), the record as the destination serves it."""
        ...


@runtime_checkable
class Matchable(Protocol):
    """A sink that can ask the destination which natural keys it already holds (a declared
    ``match`` request: by key in a query, a path or a GraphQL query, several keys per request
    where the API allows).

    The engine asks it before re-sending creates whose acknowledgement a crash may have lost
    (write-ahead intents), and, when ``match_always`` is set (``match: {when: always}``),
    before every create, so a first sync adopts objects created outside the runner."""

    match_always: bool

    def match(self, keys: Sequence[Key]) -> dict[Key, list[str]]:
        """``natural key -> destination ids`` for the keys the destination holds (several
        ids where its natural keys are not unique); absent keys are left out."""
        ...


@dataclass(frozen=True)
class ChildLevel:
    """One level of dependent calls under each record of a step (one entity in one step: a
    product, then its variants with the product's id, then each variant's stock).

    ``name`` is dotted from the top (``variants``, ``variants.stock``); ``parent`` is the name
    of the level above ("" for the step's record). Each item of a level is a mapping taken from
    its parent item at ``for_each`` (a dotted path to a list; None: the parent item itself) and
    keyed by ``key_fields``. ``sink`` writes one op per item (its ``record`` is
    ``{"item": ..., "parent": {"id", "key", "item"}}``); None when the level's ids only come
    from the parent's answer (``WriteOutcome.children``)."""

    name: str
    parent: str
    entity: str
    key_fields: tuple[str, ...]
    for_each: str | None = None
    sink: Sink | None = None
    # Whether the parent's own requests send the ``for_each`` field too (a variant list that
    # goes inline in the product's call). When not, a change only there needs no parent call.
    parent_sends: bool = True


@runtime_checkable
class Nested(Protocol):
    """A sink that makes dependent calls per record: the engine writes each level in turn,
    parents first, with its own hashes, key map entity and write-ahead intents, and commits a
    record's own hash only once every level under it is acknowledged."""

    def child_levels(self) -> Sequence[ChildLevel]:
        """The levels, each after its parent."""
        ...


def replay_safe(sink: Sink, action: str) -> bool:
    """Whether sending ``action`` again for a record the destination may already have
    received cannot duplicate it (an upsert by natural key, an idempotency key the system
    honours). A sink says so with a ``replay_safe(action)`` method; one without it is taken to
    be idempotent, which is what the SQL and file sinks are (they upsert by key)."""
    check = getattr(sink, "replay_safe", None)
    return True if check is None else bool(check(action))


@dataclass(frozen=True)
class CheckContext:
    """What ``validate`` knows of the step an options block belongs to, without any I/O."""

    role: Literal["source", "destination"]
    key_fields: tuple[str, ...] = ()
    # A destination: the fields each record will carry (the step's mapped fields); a source:
    # the fields the step declares. None where the step does not say.
    fields: frozenset[str] | None = None


@dataclass(frozen=True)
class OptionProblem:
    """One problem :meth:`Connector.check` found: ``path`` is dotted, inside the options block
    (``upsert.graphql.document``); ``validate`` adds the file, line and column."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"


class Connector:
    """Base class for connector plugins. Subclasses set the class attributes and override
    ``open_source`` and/or ``open_sink``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # JSON Schema (2020-12) of the options, or None where the role is not supported: the
    # built-ins generate it from their Options classes (schema_of); a plain dict works too.
    source_options: ClassVar[Mapping[str, Any] | None] = None
    destination_options: ClassVar[Mapping[str, Any] | None] = None

    @classmethod
    def declared_fields(cls, options: Mapping[str, Any]) -> Sequence[str] | None:
        """The fields a source with these options provides, if knowable without I/O (the
        validator checks mappings and filters against them)."""
        fields = options.get("fields")
        if isinstance(fields, list) and all(isinstance(f, str) for f in fields):
            return fields
        return None

    def check(self, options: Mapping[str, Any], ctx: CheckContext) -> list[OptionProblem]:
        """Everything this connector would refuse when it opens with ``options`` (already valid
        against its options schema), said before any run: ``validate`` calls it, so a run never
        fails mid-job on configuration. No I/O."""
        del options, ctx
        return []

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        raise ConfigError(f"connector {self.name!r} cannot be used as a source")

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        raise ConfigError(f"connector {self.name!r} cannot be used as a destination")


# The connectors this package ships (also its entry points, for other tools to find): a run
# or a validate naming only these neither imports importlib.metadata nor scans the installed
# distributions, ~20 ms of every start. A plugin cannot take one of these names.
BUILT_IN: Mapping[str, str] = {
    "sql": "connectors.sql:SqlConnector",
    "http": "connectors.http:HttpConnector",
    "csv": "connectors.files:CsvConnector",
    "jsonl": "connectors.files:JsonlConnector",
}


@functools.cache
def _entry_points() -> tuple[EntryPoint, ...]:
    # Installed distributions do not change while the process runs.
    from importlib.metadata import entry_points

    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def connector_target(name: str) -> str | None:
    """Where the connector ``name`` lives ("module:Class"), or None if none is registered;
    the entry points are scanned only for a name that is not built in."""
    cls = _registered.get(name)
    if cls is not None:
        return f"{cls.__module__}:{cls.__qualname__}"
    if name in BUILT_IN:
        return BUILT_IN[name]
    return next((ep.value for ep in _entry_points() if ep.name == name), None)


def available_connectors() -> dict[str, str]:
    """Names of the registered connectors -> their entry point target (no import)."""
    found = {ep.name: ep.value for ep in _entry_points()}
    found.update(BUILT_IN)
    for name, cls in _registered.items():
        found[name] = f"{cls.__module__}:{cls.__qualname__}"
    return found


_loaded: dict[str, type[Connector]] = {}
# Connectors registered in-process (tests, embedding applications), beside the entry points.
_registered: dict[str, type[Connector]] = {}


def register_connector(cls: type[Connector]) -> type[Connector]:
    """Make ``cls`` available under ``cls.name`` without an entry point (usable as a
    decorator); returns ``cls``. :func:`unregister_connector` undoes it."""
    _registered[cls.name] = cls
    _loaded[cls.name] = cls
    return cls


def unregister_connector(name: str) -> None:
    """Forget a connector added by :func:`register_connector`."""
    if _registered.pop(name, None) is not None:
        _loaded.pop(name, None)


def load_connector(name: str) -> type[Connector]:
    """Import the connector registered as ``name`` (lazily, once)."""
    if name in _loaded:
        return _loaded[name]
    if name in BUILT_IN:
        module, _, attr = BUILT_IN[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        plugin = next((ep for ep in _entry_points() if ep.name == name), None)
        if plugin is None:
            known = ", ".join(sorted(available_connectors())) or "none"
            raise ConfigError(f"unknown connector {name!r}; known connectors: {known}")
        cls = plugin.load()
    _loaded[name] = cls
    return cast(type[Connector], cls)


# A connector's options schema is a constant of its module: its secret paths are found once
# (validating five pipeline files walked the same schemas ~400 times, 13% of `validate`).
_secret_names: dict[int, tuple[Mapping[str, Any], frozenset[str]]] = {}


def secret_option_names(schema: Mapping[str, Any] | None) -> set[str]:
    """Dotted paths of the options a schema marks ``"secret": true`` (nested objects too)."""
    if not schema:
        return set()
    known = _secret_names.get(id(schema))
    if known is None or known[0] is not schema:
        known = (schema, frozenset(_secret_paths(schema)))
        _secret_names[id(schema)] = known
    return set(known[1])


def _secret_paths(schema: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, sub in (node.get("properties") or {}).items():
            if not isinstance(sub, Mapping):
                continue
            path = f"{prefix}{key}"
            if sub.get("secret"):
                found.add(path)
            walk(sub, f"{path}.")
            for variant in sub.get("oneOf", []) + sub.get("anyOf", []):
                if isinstance(variant, Mapping):
                    walk(variant, f"{path}.")

    walk(schema, "")
    return found


def register_secret_options(options: Mapping[str, Any], schema: Mapping[str, Any] | None) -> None:
    """Register the values of every secret option in ``options`` with the redactor."""
    for path in secret_option_names(schema):
        node: Any = options
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, str):
            register_secret(node)


def validate_options(options: Mapping[str, Any], schema: Mapping[str, Any], role: str) -> None:
    """ConfigError listing every way ``options`` break ``schema`` (JSON Schema 2020-12), each
    located under ``role`` (``source.pagination.type``) and redacted; call it when opening.

    Options that fit their schema, as a run's options do (``validate`` checked them), are
    accepted without importing jsonschema (~50 ms of every run's start): runner.schema_fit
    answers "fits" only where jsonschema finds nothing, and anything else is left to it."""
    instance = dict(options)
    if fits(schema, instance):
        return
    import jsonschema

    problems = [
        ConfigProblem(
            "",
            0,
            0,
            ".".join([role, *(str(p) for p in error.absolute_path)]),
            redact(error.message),
        )
        for error in jsonschema.Draft202012Validator(schema).iter_errors(instance)
    ]
    if problems:
        raise ConfigError(problems)
