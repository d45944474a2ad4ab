"""The http sink: per-action request templates, batches, concurrency, id capture, list_keys."""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.api import (
    MISSING,
    ChildLevel,
    ConnectorContext,
    Sink,
    WriteOp,
    WriteOutcome,
    get_path,
)
from runner.errors import FatalError, RecordError, redact

from .client import Decision, HttpClient, Protocol, Reply, encode_json
from .entity import Capture, build_levels, captures
from .listing import list_keys, list_records
from .match import Matcher
from .options import HttpDestinationOptions
from .options_write import Action
from .template import Template, check_template

if TYPE_CHECKING:
    from .graphql_batch import AliasedBatch

__all__ = ["HttpSink", "ListableHttpSink", "MatchableHttpSink", "open_http_sink"]

log = logging.getLogger(__name__)

ACTIONS = ("upsert", "create", "update", "delete", "unpublish")


@dataclass(frozen=True)
class BatchSpec:
    size: int
    method: str | None
    path: Template | None
    body: Template
    results: str | None
    id_path: str | None
    error_path: str


@dataclass(frozen=True)
class ActionSpec:
    name: str
    method: str
    path: Template
    params: Template
    headers: Template
    body: Template | None  # None: no body
    id_path: str | None
    protocol: Protocol
    document: str | None  # GraphQL mutation, sent verbatim (never a template)
    rpc_method: str | None
    batch: BatchSpec | None
    rpc_version: str | None = "2.0"  # None: plain {id, method, params}, no "jsonrpc" member

    @classmethod
    def from_options(cls, name: str, opts: Action) -> ActionSpec:
        check_template(templated_parts(opts), f"destination.{name}")
        protocol: Protocol = "rest"
        body = MISSING if opts.body is None else opts.body
        document = rpc_method = None
        rpc_version: str | None = "2.0"
        default_path: str | None = None
        if opts.graphql is not None:
            protocol, document = "graphql", opts.graphql.document
            body = opts.graphql.variables
            default_path = "/graphql"
        elif opts.jsonrpc is not None:
            protocol, rpc_method = "jsonrpc", opts.jsonrpc.method
            body = MISSING if opts.jsonrpc.params is None else opts.jsonrpc.params
            default_path = ""
            version = opts.jsonrpc.version
            rpc_version = None if version == "none" else version
        path = opts.path if opts.path is not None else default_path
        if path is None:
            raise FatalError(f"destination.{name} has no path; add the request path")
        batch = None
        if opts.batch is not None:
            if protocol == "jsonrpc":
                raise FatalError(
                    f"destination.{name}: batch is supported for REST and GraphQL only; "
                    "remove batch or use a REST endpoint that takes a list"
                )
            b = opts.batch
            batch = BatchSpec(
                size=b.size, method=b.method,
                path=Template(b.path, url=True) if b.path else None,
                body=Template(b.body), results=b.results,
                id_path=b.id_path, error_path=b.error_path,
            )
        return cls(
            name=name, method=opts.method.upper(),
            path=Template(path, url=True),
            params=Template(opts.params or {}, missing="omit"),
            headers=Template(opts.headers or {}),
            body=None if body is MISSING else Template(body),
            id_path=opts.id_path, protocol=protocol, document=document,
            rpc_method=rpc_method, batch=batch, rpc_version=rpc_version,
        )


def templated_parts(opts: Action) -> dict[str, Any]:
    """An action's options without its GraphQL document: the document is GraphQL, sent as
    written (``query{__typename}``, ``}}``), and record values reach it only as variables."""
    parts = opts.to_dict()
    if "graphql" in parts:
        parts["graphql"] = {k: v for k, v in parts["graphql"].items() if k != "document"}
    return parts


def _key_text(key: tuple[Any, ...]) -> Any:
    return key[0] if len(key) == 1 else ",".join(str(part) for part in key)


_SPECIALS = frozenset({"record", "dest_id", "key", "idempotency_key"})


def _op_value(op: WriteOp, name: str) -> Any:
    """A placeholder's value for one op: ``record``, ``dest_id``, ``key`` and
    ``idempotency_key`` first, then the record's fields."""
    head, _, rest = name.partition(".")
    if head not in _SPECIALS:
        if not rest:
            return op.record.get(name, MISSING)
        return get_path(op.record, name)
    if head == "record":
        value: Any = op.record
    elif head == "dest_id":
        value = op.dest_id
    elif head == "key":
        value = _key_text(op.key)
    else:
        value = op.idempotency_key
    if value is None:
        return MISSING  # e.g. {dest_id} before the destination has acknowledged the record
    return get_path(value, rest)


def _op_lookup(op: WriteOp) -> Callable[[str], Any]:
    return functools.partial(_op_value, op)


def _top_level(path: str) -> bool:
    """A path that get_path answers with ``dict.get`` (a non-empty name, no dot, bracket or
    quote)."""
    return bool(path) and "." not in path and "[" not in path and '"' not in path


def _id_of(body: Any, path: str | None) -> str | None:
    if not path:
        return None
    value = get_path(body, path)
    return None if value is MISSING or value is None else str(value)


class HttpSink:
    # Its requests already run on a pool of max_in_flight threads, which bounds them across
    # batches too: two batches written at once keep the pool full, never over it.
    concurrent_writes = True

    def __init__(self, options: HttpDestinationOptions, ctx: ConnectorContext) -> None:
        self._ctx = ctx
        self._actions = {
            name: ActionSpec.from_options(name, action) for name in ACTIONS
            if (action := getattr(options, name)) is not None
        }
        # The write requests it declares: the engine decides among exactly these.
        self.actions = frozenset(self._actions) & {"upsert", "create", "update"}
        if not self.actions:
            raise FatalError(
                "the http destination defines no write request; add `upsert`, or `create` and "
                "`update`, with method, path and body"
            )
        idem = options.idempotency_key
        self._idem_header: str | None = idem.header if idem is not None else None
        self._list = options.list
        if self._list is not None:
            check_template(self._list.to_dict(), "destination.list")
        self._rpc_ids = itertools.count(1)
        self._client = HttpClient(options, ctx, options.max_in_flight)
        self._pool = ThreadPoolExecutor(
            max_workers=options.max_in_flight, thread_name_prefix="http-sink"
        )
        # GraphQL batches: the mutation repeated under aliases, one document per batch size.
        aliased = [(name, spec.document) for name, spec in self._actions.items()
                   if spec.batch is not None and spec.document is not None]
        self._aliased: dict[str, AliasedBatch] = {}
        if aliased:
            # Only here: graphql-core takes ~0.1 s to import, which a REST destination's run
            # need not pay (tests/unit/test_startup_imports.py pins it).
            from .graphql_batch import AliasedBatch

            self._aliased = {name: AliasedBatch(document) for name, document in aliased}
        self._matcher = (
            Matcher(options.match, ctx.key_fields, self._client, self._pool)
            if options.match is not None else None
        )
        # ``then``: ids of children this sink's answers carry, and (top sink only) the levels.
        self._captures: list[Capture] = captures(options.then, "")
        self._levels: list[ChildLevel] = []

    def child_levels(self) -> list[ChildLevel]:
        """The dependent calls declared under ``then`` (:class:`connectors.api.Nested`)."""
        return self._levels

    # --- what a replay can do -----------------------------------------------------------------

    def replay_safe(self, action: str) -> bool:
        """Whether sending ``action`` again, after a crash lost its acknowledgement, cannot
        duplicate the record. Updates, deletes and unpublishes address a known id. An upsert
        request is idempotent by key; an ``upsert`` op without an upsert request is sent as
        a create. A create is safe only with an idempotency key per record: a batch's key is
        a hash of its members, which a rerun that batches differently does not reproduce."""
        if action in ("update", "delete", "unpublish"):
            return True
        if action == "upsert" and "upsert" in self._actions:
            return True
        spec = self._actions.get("create") or self._actions.get("upsert")
        if spec is None:
            return False
        if spec.name == "upsert":
            return True
        return self._idem_header is not None and spec.batch is None

    # --- choosing the request -----------------------------------------------------------------

    def _spec_for(self, op: WriteOp) -> ActionSpec:
        actions = self._actions
        if op.action in ("delete", "unpublish"):
            if op.action in actions:
                return actions[op.action]
            raise FatalError(
                f"the http destination has no `{op.action}` request but the step asks to "
                f"{op.action} records; add destination.{op.action} or change the step's "
                "delete policy"
            )
        if op.action in actions:
            return actions[op.action]
        wanted = op.action
        if wanted == "upsert":
            wanted = "update" if op.dest_id is not None else "create"
        if wanted in actions:
            return actions[wanted]
        if "upsert" in actions:
            return actions["upsert"]
        raise FatalError(
            f"the http destination has no `{wanted}` request for a record "
            f"{'known to' if op.dest_id else 'new at'} the destination; add destination.{wanted}"
        )

    # --- writing ------------------------------------------------------------------------------

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        groups: dict[str, list[int]] = {}
        # The request of an op depends only on its action and whether it has an id: asked
        # once per kind of op in the batch, not once per op.
        chosen: dict[tuple[str, bool], list[int]] = {}
        for index, op in enumerate(ops):
            probe = (op.action, op.dest_id is not None)
            found = chosen.get(probe)
            if found is None:
                found = chosen[probe] = groups.setdefault(self._spec_for(op).name, [])
            found.append(index)
        units: list[tuple[list[int], Future[list[WriteOutcome]]]] = []
        for name, indexes in groups.items():
            spec = self._actions[name]
            if spec.batch is not None:
                for start in range(0, len(indexes), spec.batch.size):
                    chunk = indexes[start : start + spec.batch.size]
                    batch_ops = [ops[i] for i in chunk]
                    units.append((chunk, self._pool.submit(self._write_batch, spec, batch_ops)))
            else:
                for i in indexes:
                    units.append(([i], self._pool.submit(self._write_one_list, spec, ops[i])))
        wait([future for _, future in units])
        outcomes: list[WriteOutcome | None] = [None] * len(ops)
        for indexes, future in units:
            error = future.exception()
            if error is not None:
                raise error
            for i, outcome in zip(indexes, future.result(), strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _write_one_list(self, spec: ActionSpec, op: WriteOp) -> list[WriteOutcome]:
        return [self._write_one(spec, op)]

    def _payload(self, spec: ActionSpec, op: WriteOp) -> Any:
        if spec.protocol == "rest" and spec.body is not None and spec.body.source == "{record}":
            return op.record  # the common batch body: no per-record rendering at all
        lookup = _op_lookup(op)
        body = MISSING if spec.body is None else spec.body.render(lookup)
        if spec.protocol == "graphql":
            return {"query": spec.document, "variables": {} if body is MISSING else body}
        if spec.protocol == "jsonrpc":
            call: dict[str, Any] = {"id": next(self._rpc_ids), "method": spec.rpc_method}
            if spec.rpc_version is not None:
                call["jsonrpc"] = spec.rpc_version
            if body is not MISSING:
                call["params"] = body
            return call
        return body

    def _batch_item(self, spec: ActionSpec, op: WriteOp) -> Any:
        """A record's part of a batch: its body (REST) or its variables (GraphQL aliases)."""
        if spec.protocol != "graphql":
            return self._payload(spec, op)
        variables = {} if spec.body is None else spec.body.render(_op_lookup(op))
        if not isinstance(variables, Mapping):
            raise RecordError(f"destination.{spec.name}.graphql.variables must give a mapping "
                              "of variables to batch (e.g. {input: \"{record}\"})")
        return variables

    def _write_one(self, spec: ActionSpec, op: WriteOp) -> WriteOutcome:
        lookup = _op_lookup(op)
        try:
            path = spec.path.render(lookup)
            params = spec.params.render(lookup)
            headers = {k: str(v) for k, v in spec.headers.render(lookup).items()}
            payload = self._payload(spec, op)
        except RecordError as exc:
            return WriteOutcome(ok=False, dest_id=op.dest_id, error=str(exc))
        if self._idem_header and op.idempotency_key:
            headers[self._idem_header] = op.idempotency_key
        try:
            reply = self._client.send(
                spec.method, path, params=params, body=payload, headers=headers,
                protocol=spec.protocol, single_record=True,
            )
        except RecordError as exc:
            return WriteOutcome(ok=False, dest_id=op.dest_id, error=str(exc))
        return self._outcome(spec, op, reply)

    def _outcome(self, spec: ActionSpec, op: WriteOp, reply: Reply) -> WriteOutcome:
        """One record's outcome from its (decided) answer."""
        if reply.decision is Decision.OK:
            body = reply.json()
            found = _id_of(body, spec.id_path)
            children = {c.level: c.ids(spec.name, body) for c in self._captures} or None
            return WriteOutcome(ok=True, dest_id=found or op.dest_id, children=children)
        if reply.decision is Decision.IGNORE:
            return WriteOutcome(ok=True, dest_id=op.dest_id, ignored=True)
        if reply.decision is Decision.QUARANTINE:
            return WriteOutcome(
                ok=False, dest_id=op.dest_id,
                error=reply.embedded_error(spec.protocol) or reply.describe(),
            )
        raise self._fatal(reply)

    def _fatal(self, reply: Reply) -> FatalError:
        return FatalError(
            f"{reply.describe()}; the destination refused the request, check the request "
            "template and credentials (add a `responses` rule to quarantine or ignore it)"
        )

    def _batch_key(self, ops: Sequence[WriteOp]) -> str:
        # One line per op, each ended by a newline, hashed in one update.
        lines = [op.idempotency_key or repr((op.action, op.key)) for op in ops]
        lines.append("")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def _write_batch(self, spec: ActionSpec, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        assert spec.batch is not None
        batch = spec.batch
        outcomes: list[WriteOutcome | None] = [None] * len(ops)
        sent: list[int] = []
        bodies: list[Any] = []
        if spec.protocol == "rest" and spec.body is not None and spec.body.source == "{record}":
            # The common batch body (see _payload): the records as they are, none refused.
            bodies = [op.record for op in ops]
            sent = list(range(len(ops)))
        else:
            for i, op in enumerate(ops):
                try:
                    bodies.append(self._batch_item(spec, op))
                    sent.append(i)
                except RecordError as exc:
                    outcomes[i] = WriteOutcome(ok=False, dest_id=op.dest_id, error=str(exc))
        if sent:
            batch_ctx = {"records": bodies, "count": len(bodies)}
            try:
                path = (batch.path or spec.path).render(batch_ctx)
                wrapper = batch.body.render(batch_ctx) if spec.protocol == "rest" else None
            except RecordError as exc:
                raise FatalError(
                    f"destination.{spec.name}.batch: {exc}; a batch path or wrapper can use "
                    "only {records} and {count}"
                ) from exc
            sent_ops = [ops[i] for i in sent]
            headers: dict[str, str] = {}
            if self._idem_header:
                headers[self._idem_header] = self._batch_key(sent_ops)
            method = batch.method or spec.method
            try:
                if spec.name in self._aliased:
                    reply, views = self._aliased[spec.name].send(
                        self._client, method, path, bodies, headers)
                else:
                    reply, views = self._client.send(
                        method, path, body=wrapper, headers=headers, single_record=False), []
            except RecordError:
                # Some record's data cannot be encoded. Finding which costs an encode per
                # record, paid only here: those are quarantined and the rest sent again.
                return self._write_batch_without_unencodable(spec, ops, outcomes, sent, bodies)
            results = [
                self._outcome(spec, op, view) for op, view in zip(sent_ops, views, strict=True)
            ] if views else self._batch_results(spec, reply, sent_ops)
            for i, outcome in zip(sent, results, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _write_batch_without_unencodable(
        self, spec: ActionSpec, ops: Sequence[WriteOp], outcomes: list[WriteOutcome | None],
        sent: list[int], bodies: list[Any],
    ) -> list[WriteOutcome]:
        good: list[int] = []
        for i, body in zip(sent, bodies, strict=True):
            try:
                encode_json(body)
                good.append(i)
            except RecordError as exc:
                outcomes[i] = WriteOutcome(ok=False, dest_id=ops[i].dest_id, error=str(exc))
        if good:
            for i, outcome in zip(good, self._write_batch(spec, [ops[i] for i in good]),
                                  strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _batch_results(
        self, spec: ActionSpec, reply: Reply, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        batch = spec.batch
        assert batch is not None
        if reply.decision is Decision.IGNORE:
            return [WriteOutcome(ok=True, dest_id=op.dest_id, ignored=True) for op in ops]
        if reply.decision is Decision.QUARANTINE:
            return [WriteOutcome(ok=False, dest_id=op.dest_id, error=reply.describe())
                    for op in ops]
        if reply.decision is not Decision.OK:
            raise self._fatal(reply)
        if not batch.results:
            return [WriteOutcome(ok=True, dest_id=op.dest_id) for op in ops]
        items = get_path(reply.json(), batch.results)
        if not isinstance(items, list) or len(items) != len(ops):
            count = len(items) if isinstance(items, list) else "no"
            raise FatalError(
                f"{reply.where()}: batch response has {count} results at "
                f"{batch.results!r} for {len(ops)} records; check batch.results"
            )
        id_path = batch.id_path or spec.id_path
        error_path = batch.error_path
        # Top-level names (``error``, ``id``) are read with dict.get, as get_path would.
        top = _top_level(error_path) and (not id_path or _top_level(id_path))
        outcomes = []
        for op, item in zip(ops, items, strict=True):
            if top and type(item) is dict:
                error = item.get(error_path)
                if error is None or error in ("", [], {}):
                    found = item.get(id_path) if id_path else None
                    outcomes.append(WriteOutcome(
                        True, op.dest_id if found is None else str(found)))
                    continue
            else:
                error = get_path(item, error_path, None)
            if error is None or error in ("", [], {}):
                found = get_path(item, id_path, None) if id_path else None
                outcomes.append(WriteOutcome(
                    ok=True, dest_id=op.dest_id if found is None else str(found)))
            else:
                outcomes.append(WriteOutcome(
                    ok=False, dest_id=op.dest_id, error=redact(f"{reply.where()}: {error}")
                ))
        return outcomes

    # --- listing ------------------------------------------------------------------------------

    def _list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        if not self._list:
            raise FatalError(
                "this http destination cannot be listed; add destination.list with path, "
                "records, key_fields and id_path"
            )
        return list_keys(self._client, self._list, self._ctx)

    def _list_records(self) -> Iterator[tuple[tuple[Any, ...], str, dict[str, Any]]]:
        """As :meth:`_list_keys`, with each listed object (an audit compares its fields)."""
        if not self._list:
            raise FatalError("this http destination cannot be listed; add destination.list")
        return list_records(self._client, self._list, self._ctx)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
        for level in self._levels:
            if level.sink is not None:
                level.sink.close()


class MatchableHttpSink(HttpSink):
    """An http destination with ``destination.match``: the engine asks it which natural keys
    the destination already holds (``Matchable``), before re-sending creates a crash may have
    delivered, and before every create with ``when: always``."""

    @property
    def match_always(self) -> bool:
        return self._matcher is not None and self._matcher.always

    def match(self, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[str]]:
        assert self._matcher is not None  # open_http_sink picks this class only with match
        return self._matcher.match(keys)


class ListableHttpSink(HttpSink):
    """An http destination with ``destination.list``. Only this one is ``Listable``: the engine
    asks ``isinstance(sink, Listable)`` before a complete sync re-learns the key map, so a
    destination without a listing must not carry ``list_keys`` (it used to, and raised, which
    failed every full run of a destination without ``list:``, e.g. ``complete-sync``)."""

    def list_keys(self) -> Iterator[tuple[tuple[Any, ...], str]]:
        return self._list_keys()

    def list_records(self) -> Iterator[tuple[tuple[Any, ...], str, dict[str, Any]]]:
        return self._list_records()


class ListableMatchableHttpSink(MatchableHttpSink, ListableHttpSink):
    """Both ``list`` and ``match`` declared."""


def _sink_class(options: HttpDestinationOptions) -> type[HttpSink]:
    listable, matchable = options.list is not None, options.match is not None
    if listable and matchable:
        return ListableMatchableHttpSink
    if matchable:
        return MatchableHttpSink
    return ListableHttpSink if listable else HttpSink


def _open_level(options: HttpDestinationOptions, ctx: ConnectorContext,
                found: list[Capture]) -> Sink:
    sink = _sink_class(options)(options, ctx)
    sink._captures = found
    return sink


def open_http_sink(options: HttpDestinationOptions, ctx: ConnectorContext) -> HttpSink:
    """The sink class whose protocols (Listable, Matchable) are exactly what is declared,
    with a sink per ``then`` level that has requests of its own."""
    sink = _sink_class(options)(options, ctx)
    if options.then:
        sink._levels = build_levels(options, ctx, _open_level)
    return sink
