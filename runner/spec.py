"""A loaded pipeline as frozen dataclasses: what the engine and scheduler consume.

The YAML form is defined by ``schemas/pipeline.schema.json``; ``runner.config`` turns a
validated document into these objects. Nothing here does I/O. The filter tree is defined here
(not in the engine) because sources push filters down into their own query language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "All",
    "AnyOf",
    "AuditPolicy",
    "Compare",
    "CompareField",
    "CompareSpec",
    "ConnectorRef",
    "CursorSpec",
    "EchoGuard",
    "ErrorPolicy",
    "Expr",
    "FieldMap",
    "Filter",
    "FlattenSpec",
    "Job",
    "KeymapRef",
    "Location",
    "LookupRef",
    "LookupSpec",
    "NestSpec",
    "Not",
    "ParentRef",
    "PluginRef",
    "RetryPolicy",
    "Schedule",
    "Step",
    "Window",
]

SyncMode = Literal["incremental", "changes", "full"]
DeletePolicy = Literal["ignore", "delete", "unpublish"]
MissingPolicy = Literal["fail", "null", "quarantine"]
CompareOp = Literal[
    "equals", "not_equals", "in", "not_in", "null", "not_null", "gt", "gte", "lt", "lte"
]
COMPARE_OPS: tuple[str, ...] = (
    "equals", "not_equals", "in", "not_in", "null", "not_null", "gt", "gte", "lt", "lte",
)


@dataclass(frozen=True)
class Location:
    """Where a node came from, for errors raised long after loading."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# --- filters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``{field: sell_online, equals: true}``; ``value`` is a tuple for ``in``/``not_in`` and
    ignored for ``null``/``not_null`` (whose YAML value says whether the test applies)."""

    field: str
    op: CompareOp
    value: Any = None


@dataclass(frozen=True)
class All:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    item: Filter


@dataclass(frozen=True)
class Expr:
    """A condition in the safe expression language, e.g. ``on_hand - reserved > 0``."""

    expression: str


Filter = Compare | All | AnyOf | Not | Expr


# --- connectors, mappings, lookups -------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorRef:
    """A source or destination block: the connector's name and its (interpolated) options.

    ``options`` never includes ``connector`` or ``connection``; a ``connection:`` reference is
    merged at load time (the step's own options win).
    """

    connector: str
    options: Mapping[str, Any] = field(default_factory=dict)
    location: Location | None = None


@dataclass(frozen=True)
class LookupSpec:
    """A second source loaded once per run and indexed by ``key``."""

    name: str
    source: ConnectorRef
    key: str
    filter: Filter | None = None


@dataclass(frozen=True)
class LookupRef:
    """``{lookup: item_tax_groups, on: tax_group_id, take: code, missing: null}``."""

    lookup: str
    on: str
    take: str
    missing: MissingPolicy = "fail"
    # ``on: {mapped: NAME}``: the key is the output field NAME of the same map, not a source
    # field (evaluated after it; see runner.transforms.mapping).
    mapped: bool = False


@dataclass(frozen=True)
class KeymapRef:
    """The destination id an earlier step recorded for a key:
    ``{keymap: products, on: item_id}`` (entity ``products`` of this job, or of ``job``)."""

    entity: str
    on: str
    job: str | None = None
    missing: MissingPolicy = "quarantine"
    mapped: bool = False  # as LookupRef.mapped


@dataclass(frozen=True)
class FieldMap:
    """How one output field is made. Exactly one of field/const/expr/coalesce/lookup/keymap
    produces the value; type/scale/format/timezone convert it; default fills a null."""

    target: str
    field: str | None = None
    const: Any = None
    has_const: bool = False
    expr: str | None = None
    coalesce: tuple[str, ...] = ()
    lookup: LookupRef | None = None
    keymap: KeymapRef | None = None
    type: str | None = None  # string | int | float | decimal | bool | date | datetime
    scale: int | None = None
    format: str | None = None
    timezone: str | None = None
    default: Any = None
    has_default: bool = False
    required: bool = False
    max_length: int | None = None
    each: tuple[FieldMap, ...] | None = None  # sub-mapping applied to every item of a list
    # type minor_units|major_units: the currency (a fixed ISO code, or the row's field).
    currency: str | None = None
    currency_field: str | None = None
    # The only values allowed (e.g. the destination's currency); others are quarantined.
    expect: tuple[Any, ...] | None = None
    # field/coalesce/each: when a path's root is present but its tail is not (no key
    # `code` in customer.carrier): quarantine (None: the default), null, or fail the run.
    missing: MissingPolicy | None = None


@dataclass(frozen=True)
class NestSpec:
    """Group consecutive rows sharing ``by`` into one record whose ``into`` list holds each
    row's ``fields`` (the SQL shape -> the API shape: order header with its lines)."""

    by: tuple[str, ...]
    into: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class FlattenSpec:
    """One row per item of the list ``field``, header fields copied, item fields prefixed
    (the API shape -> a flat file or table)."""

    field: str
    prefix: str = ""


@dataclass(frozen=True)
class PluginRef:
    """A Python transform registered under the ``commerce_sync.transforms`` entry point."""

    plugin: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CursorSpec:
    """The watermark of an incremental step: a source field, and how far back to re-read so
    that rows committed while the previous run was reading are not missed."""

    field: str
    lookback_s: float = 0.0
    initial: Any = None


OnDuplicate = Literal["report", "keep_oldest", "keep_newest"]


@dataclass(frozen=True)
class RetryPolicy:
    """How the engine's one retrier treats temporary failures (``errors.retry``)."""

    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 300.0  # a server's Retry-After is honoured up to this


@dataclass(frozen=True)
class ErrorPolicy:
    """``max_bad_records``: the run fails once more records than this were quarantined
    (None: no bound)."""

    max_bad_records: int | None = 100
    retry: RetryPolicy = field(default_factory=RetryPolicy)


Wins = Literal["source", "destination"]


@dataclass(frozen=True)
class CompareField:
    """One field an audit compares: numbers within ``tolerance`` are equal (money to the cent:
    0.01); ``wins`` None takes the step's."""

    name: str
    tolerance: float = 0.0
    wins: Wins | None = None


@dataclass(frozen=True)
class CompareSpec:
    """What an audit compares (``compare:``). ``fields`` empty: every mapped field. ``wins``:
    source (a difference is repaired) or destination (reported only, and kept by a repair).
    ``removed``: how an object the step unpublished looks at the destination, e.g.
    ``{published: false}``, so an audit sees one published again behind the runner's back."""

    fields: tuple[CompareField, ...] = ()
    wins: Wins = "source"
    removed: Mapping[str, Any] = field(default_factory=dict)

    def winner(self, name: str) -> Wins:
        for f in self.fields:
            if f.name == name and f.wins is not None:
                return f.wins
        return self.wins


@dataclass(frozen=True)
class ParentRef:
    """``parent: {step: products, key: [item_id]}``: each record of this step belongs to the
    record of an earlier ``step`` of the job whose natural key is the values of ``key`` (fields
    of this step's source rows). An incremental run then removes the children of a parent it
    removed, and sends the children of a parent it selected again, without a complete sync."""

    step: str
    key: tuple[str, ...]


@dataclass(frozen=True)
class EchoGuard:
    """``echo_guard: {step: order-status, fields: [status], key: store_order_id}``: a record of
    this step whose ``fields`` all equal what ``step`` (of ``job``, default this job) last wrote
    for the same object is that write reported back: it is not sent, and counted ``echoed``.
    ``key`` names this step's mapped fields holding the writing step's natural key, in its
    order (empty: the writing step's own key field names)."""

    step: str
    fields: tuple[str, ...]
    key: tuple[str, ...] = ()
    job: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    source: ConnectorRef
    destination: ConnectorRef
    key: tuple[str, ...]
    mode: SyncMode = "changes"
    description: str = ""
    entity: str = ""  # key map entity; defaults to the step name
    cursor: CursorSpec | None = None
    filter: Filter | None = None
    lookups: Mapping[str, LookupSpec] = field(default_factory=dict)
    mappings: tuple[FieldMap, ...] | None = None  # None: records pass through unchanged
    nest: NestSpec | None = None
    flatten: FlattenSpec | None = None
    transforms: tuple[PluginRef, ...] = ()
    dedupe: bool = True
    delete: DeletePolicy = "ignore"
    batch_size: int = 500
    # Which destination object a natural key held several times maps to: the one the key map
    # holds (report), or by id order (keep_oldest / keep_newest). The others are reported.
    on_duplicate: OnDuplicate = "report"
    errors: ErrorPolicy = field(default_factory=ErrorPolicy)
    compare: CompareSpec = field(default_factory=CompareSpec)
    parent: ParentRef | None = None
    location: Location | None = None
    # A filter on the mapped record (what lookups and the key map found); failing ones drop.
    keep: Filter | None = None
    echo_guard: EchoGuard | None = None
    # The fields whose written values this step remembers, because a step of this or another
    # job guards against their echo (set when the project is loaded: see runner.echo).
    echo_fields: tuple[str, ...] = ()

    @property
    def entity_name(self) -> str:
        return self.entity or self.name


@dataclass(frozen=True)
class Window:
    """An allowed time-of-day window in the job's timezone; may wrap midnight (22:00-06:00)."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True)
class Schedule:
    """``cron`` None means on demand: the job runs only when triggered."""

    cron: str | None = None
    timezone: str = "UTC"
    overlap: Literal["skip", "queue"] = "skip"
    missed: Literal["skip", "run_once"] = "run_once"
    window: Window | None = None


@dataclass(frozen=True)
class AuditPolicy:
    """``audit:``: when ``serve`` audits the job (``cron`` None: on demand only), whether it
    repairs, and ``max_drift``: more drifted records than this fail the audit (alerting)."""

    cron: str | None = None
    timezone: str = "UTC"
    repair: bool = False
    max_drift: int | None = None


@dataclass(frozen=True)
class Job:
    """One pipeline file. Either ``steps`` (a plain job) or ``jobs`` (a composite that runs
    other jobs in order, e.g. the complete sync, optionally forcing ``mode`` on their steps)."""

    name: str
    source_file: str
    version: int = 1
    description: str = ""
    schedule: Schedule = field(default_factory=Schedule)
    depends_on: tuple[str, ...] = ()
    max_age_s: float | None = None  # freshness objective
    steps: tuple[Step, ...] = ()
    jobs: tuple[str, ...] = ()
    mode: SyncMode | None = None
    audit: AuditPolicy | None = None
    location: Location | None = None

    @property
    def is_composite(self) -> bool:
        return bool(self.jobs)
