"""Turn a schema-valid pipeline document into a :class:`runner.spec.Job`.

The JSON Schema checks keys and types; what it cannot say well (a filter with two operators, a
mapping with no source of its value, a step naming an unknown connection) is checked here,
while building, and reported on ``Document.problems`` at the offending node. A document with
any such problem builds to ``None``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from typing import Any, cast

from runner.config import Document, join_path
from runner.spec import (
    COMPARE_OPS,
    All,
    AnyOf,
    AuditPolicy,
    Compare,
    CompareField,
    CompareSpec,
    ConnectorRef,
    CursorSpec,
    EchoGuard,
    ErrorPolicy,
    Expr,
    FieldMap,
    Filter,
    FlattenSpec,
    Job,
    KeymapRef,
    Location,
    LookupRef,
    LookupSpec,
    NestSpec,
    Not,
    ParentRef,
    PluginRef,
    RetryPolicy,
    Schedule,
    Step,
    Window,
)

__all__ = ["ResolvedBlock", "build_job", "parse_duration", "resolve_block", "suggest"]

_DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PRODUCERS = ("field", "const", "expr", "coalesce", "lookup", "keymap")
_COMBINATORS = ("all", "any", "not", "expr")


def suggest(word: str, candidates: Any) -> str:
    """``"; did you mean 'table'?"`` when a candidate is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_duration(value: Any) -> float:
    """``"15m"`` -> 900.0; a number is seconds. Raises ValueError for anything else.

    >>> parse_duration("2h"), parse_duration(90), parse_duration("1.5s")
    (7200.0, 90.0, 1.5)
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(value)
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class ResolvedBlock:
    """A source/destination block with its ``connection:`` merged in.

    ``origin`` says, for each option, the JSON path it was written at (the step's block or the
    named connection), so connector schema errors point at the right line.
    """

    def __init__(self, connector: str | None, options: dict[str, Any], origin: dict[str, str],
                 path: str) -> None:
        self.connector = connector
        self.options = options
        self.origin = origin
        self.path = path


def _legacy_retry(*refs: ConnectorRef | None) -> dict[str, Any]:
    """A connection's ``retry`` (numbers of seconds), from before the step's ``errors.retry``
    became the one retry setting: used only where the step sets none (validate warns)."""
    for ref in refs:
        legacy = ref.options.get("retry") if ref is not None else None
        if isinstance(legacy, Mapping):
            return {k: (f"{v}s" if k != "attempts" and isinstance(v, int | float) else v)
                    for k, v in legacy.items() if k in ("attempts", "backoff", "max_backoff")}
    return {}


def resolve_block(doc: Document, block: Mapping[str, Any], path: str) -> ResolvedBlock | None:
    """Merge a block with the connection it names; report an unknown connection."""
    connections = (doc.data.get("connections") or {}) if isinstance(doc.data, dict) else {}
    options: dict[str, Any] = {}
    origin: dict[str, str] = {}
    connector = block.get("connector")
    name = block.get("connection")
    if name is not None:
        if name not in connections:
            known = ", ".join(sorted(connections)) or "none"
            doc.add(
                join_path(path, "connection"),
                f"unknown connection {name!r}; defined connections: {known}"
                f"{suggest(name, connections)}",
            )
            return None
        conn = connections[name]
        conn_path = join_path("connections", name)
        for key, value in conn.items():
            if key != "connector":
                options[key] = value
                origin[key] = join_path(conn_path, key)
        if connector is None:
            connector = conn.get("connector")
    elif connector is None:
        doc.add(path, "a connector block needs `connector: NAME` or `connection: NAME`")
        return None
    for key, value in block.items():
        if key not in ("connector", "connection"):
            options[key] = value
            origin[key] = join_path(path, key)
    return ResolvedBlock(connector if isinstance(connector, str) else None, options, origin, path)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class _JobBuilder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.ok = True

    def error(self, path: str, message: str) -> None:
        self.doc.add(path, message)
        self.ok = False

    def location(self, path: str) -> Location:
        line, col = self.doc.locate(path)
        return Location(self.doc.file, line, col)

    def duration(self, value: Any, path: str, default: float) -> float:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError:
            self.error(path, f"{value!r} is not a duration; write e.g. 30s, 15m, 2h, 1d")
            return default

    # --- filters ---------------------------------------------------------------------------

    def filter(self, node: Mapping[str, Any], path: str) -> Filter | None:
        if "field" in node:
            ops = [k for k in node if k in COMPARE_OPS]
            extra = [k for k in node if k not in COMPARE_OPS and k != "field"]
            if extra:
                self.error(
                    join_path(path, extra[0]),
                    f"{extra[0]!r} cannot be combined with a comparison on a field; "
                    f"wrap both in {{all: [...]}}",
                )
                return None
            if len(ops) != 1:
                found = ", ".join(ops) if ops else "none"
                self.error(
                    path,
                    "a comparison needs exactly one operator of "
                    f"{', '.join(COMPARE_OPS)} (found: {found})",
                )
                return None
            op = ops[0]
            value = node[op]
            if op in ("null", "not_null"):
                if value is False:
                    op = "not_null" if op == "null" else "null"
                return Compare(node["field"], cast(Any, op), None)
            return Compare(node["field"], cast(Any, op), _freeze(value))
        present = [k for k in node if k in _COMBINATORS]
        stray = [k for k in node if k in COMPARE_OPS]
        if stray:
            self.error(
                join_path(path, stray[0]),
                f"operator {stray[0]!r} needs the field it tests: add `field: NAME`",
            )
            return None
        if len(present) != 1:
            self.error(
                path,
                f"a filter needs exactly one of field, all, any, not, expr "
                f"(found: {', '.join(present) or 'none'})",
            )
            return None
        kind = present[0]
        if kind == "expr":
            return Expr(node["expr"])
        if kind == "not":
            inner = self.filter(node["not"], join_path(path, "not"))
            return Not(inner) if inner is not None else None
        items = []
        for index, item in enumerate(node[kind]):
            built = self.filter(item, join_path(join_path(path, kind), index))
            if built is not None:
                items.append(built)
        if len(items) != len(node[kind]):
            return None
        return All(tuple(items)) if kind == "all" else AnyOf(tuple(items))

    # --- mappings --------------------------------------------------------------------------

    def field_map(self, target: str, node: Any, path: str) -> FieldMap | None:
        if isinstance(node, str):
            return FieldMap(target=target, field=node)
        producers = [k for k in _PRODUCERS if k in node]
        if len(producers) != 1:
            found = ", ".join(producers) if producers else "none"
            self.error(
                path,
                f"{target!r} needs exactly one of {', '.join(_PRODUCERS)} to say where its "
                f"value comes from (found: {found})",
            )
            return None
        kind = producers[0]
        needs = {"lookup": ("on", "take"), "keymap": ("on",)}.get(kind, ())
        for key in needs:
            if key not in node:
                self.error(path, f"{kind} needs `{key}`")
                return None
        allowed_extra = {"lookup": {"on", "take", "missing"}, "keymap": {"on", "job", "missing"},
                         "field": {"missing"}, "coalesce": {"missing"}}
        for key in ("on", "take", "job", "missing"):
            if key in node and key not in allowed_extra.get(kind, set()):
                users = "field, coalesce, lookup or keymap" if key == "missing" else (
                    "lookup or keymap")
                self.error(join_path(path, key), f"{key!r} only applies with {users}")
                return None
        type_ = node.get("type")
        currency = node.get("currency")
        if (currency is not None) != (type_ in ("minor_units", "major_units")):
            self.error(join_path(path, "currency") if currency is not None else path,
                       "currency goes with type: minor_units or major_units, and they need it "
                       "(`currency: USD` or `currency: {field: currency}`)")
            return None
        expect = node.get("expect")
        if "scale" in node and type_ != "decimal":
            self.error(join_path(path, "scale"), "scale only applies with type: decimal")
            return None
        for key, types in (("format", ("date", "datetime")), ("timezone", ("datetime",))):
            if key in node and type_ not in types:
                self.error(
                    join_path(path, key), f"{key} only applies with type: {' or '.join(types)}"
                )
                return None
        lookup = keymap = None
        # `missing: null` is YAML null; it names the "null" policy.
        missing: Any = "null" if "missing" in node and node["missing"] is None else None
        missing = missing or node.get("missing")
        on = node.get("on")
        mapped = isinstance(on, dict)  # `on: {mapped: NAME}`: an output field of this map
        on = on["mapped"] if isinstance(on, dict) else on
        if kind == "lookup":
            lookup = LookupRef(node["lookup"], on, node["take"], missing or "fail", mapped)
        elif kind == "keymap":
            keymap = KeymapRef(node["keymap"], on, node.get("job"), missing or "quarantine",
                               mapped)
        each = None
        if "each" in node:
            # A lookup's `take` can be a list too (an API's nested items); mapping.py maps
            # whatever list the producer gives.
            if kind not in ("field", "lookup"):
                self.error(join_path(path, "each"),
                           "each needs `field` (or `lookup`): the list to map")
                return None
            each_path = join_path(path, "each")
            built = [self.field_map(t, n, join_path(each_path, t)) for t, n in node["each"].items()]
            if any(b is None for b in built):
                return None
            each = tuple(cast(list[FieldMap], built))
        return FieldMap(
            target=target,
            field=node.get("field"),
            const=node.get("const"),
            has_const="const" in node,
            expr=node.get("expr"),
            coalesce=tuple(node.get("coalesce") or ()),
            lookup=lookup,
            keymap=keymap,
            type=type_,
            scale=node.get("scale"),
            format=node.get("format"),
            timezone=node.get("timezone"),
            default=node.get("default"),
            has_default="default" in node,
            required=bool(node.get("required", False)),
            max_length=node.get("max_length"),
            each=each,
            currency=currency if isinstance(currency, str) else None,
            currency_field=currency.get("field") if isinstance(currency, dict) else None,
            expect=None if "expect" not in node else tuple(_freeze(
                expect if isinstance(expect, list) else [expect])),
            missing=missing if kind in ("field", "coalesce") else None,
        )

    # --- steps -----------------------------------------------------------------------------

    def connector_ref(self, block: Mapping[str, Any], path: str) -> ConnectorRef | None:
        resolved = resolve_block(self.doc, block, path)
        if resolved is None or resolved.connector is None:
            self.ok = False
            return None
        return ConnectorRef(resolved.connector, resolved.options, self.location(path))

    def step(self, node: Mapping[str, Any], path: str) -> Step | None:
        source = self.connector_ref(node["source"], join_path(path, "source"))
        destination = self.connector_ref(node["destination"], join_path(path, "destination"))
        key = node["key"]
        keys = (key,) if isinstance(key, str) else tuple(key)
        cursor = None
        if "cursor" in node:
            c = node["cursor"]
            lookback = join_path(join_path(path, "cursor"), "lookback")
            cursor = CursorSpec(
                c["field"], self.duration(c.get("lookback"), lookback, 0.0), c.get("initial")
            )
        flt = None
        if "filter" in node:
            flt = self.filter(node["filter"], join_path(path, "filter"))
        lookups: dict[str, LookupSpec] = {}
        for name, spec in (node.get("lookups") or {}).items():
            lpath = join_path(join_path(path, "lookups"), name)
            lsource = self.connector_ref(spec["source"], join_path(lpath, "source"))
            lfilter = (
                self.filter(spec["filter"], join_path(lpath, "filter"))
                if "filter" in spec else None
            )
            if lsource is not None:
                lookups[name] = LookupSpec(name, lsource, spec["key"], lfilter)
        mappings = None
        if "map" in node:
            built = [
                self.field_map(t, n, join_path(join_path(path, "map"), t))
                for t, n in node["map"].items()
            ]
            mappings = tuple(b for b in built if b is not None)
        nest = None
        if "nest" in node:
            n = node["nest"]
            by = (n["by"],) if isinstance(n["by"], str) else tuple(n["by"])
            nest = NestSpec(by, n["into"], tuple(n["fields"]))
        flatten = None
        if "flatten" in node:
            flatten = FlattenSpec(node["flatten"]["field"], node["flatten"].get("prefix", ""))
        errors = node.get("errors") or {}
        retry = errors.get("retry") or _legacy_retry(destination, source)
        epath = join_path(join_path(path, "errors"), "retry")
        policy = ErrorPolicy(
            max_bad_records=errors.get("max_bad_records", 100),
            retry=RetryPolicy(
                attempts=retry.get("attempts", 5),
                backoff_s=self.duration(retry.get("backoff"), join_path(epath, "backoff"), 1.0),
                max_backoff_s=self.duration(
                    retry.get("max_backoff"), join_path(epath, "max_backoff"), 60.0
                ),
                max_retry_after_s=self.duration(
                    retry.get("max_retry_after"), join_path(epath, "max_retry_after"), 300.0
                ),
            ),
        )
        if source is None or destination is None:
            return None
        parent = None
        if "parent" in node:
            pk = node["parent"]["key"]
            parent = ParentRef(node["parent"]["step"], (pk,) if isinstance(pk, str) else tuple(pk))
        return Step(
            echo_guard=_echo_guard(node.get("echo_guard")),
            parent=parent,
            compare=self.compare(node.get("compare") or {}, join_path(path, "compare"),
                                 mappings),
            name=node["name"],
            source=source,
            destination=destination,
            key=keys,
            mode=node.get("mode", "changes"),
            description=node.get("description", ""),
            entity=node.get("entity", ""),
            cursor=cursor,
            filter=flt,
            lookups=lookups,
            mappings=mappings,
            nest=nest,
            flatten=flatten,
            transforms=tuple(
                PluginRef(t["plugin"], t.get("options") or {}) for t in node.get("transforms", ())
            ),
            dedupe=node.get("dedupe", True),
            delete=node.get("delete", "ignore"),
            on_duplicate=node.get("on_duplicate", "report"),
            batch_size=node.get("batch_size", 500),
            errors=policy,
            location=self.location(path),
            keep=self.filter(node["keep"], join_path(path, "keep")) if "keep" in node else None,
        )

    def compare(self, node: Mapping[str, Any], path: str,
                mappings: tuple[FieldMap, ...] | None) -> CompareSpec:
        mapped = {m.target for m in mappings} if mappings is not None else None
        fields = []
        for name, spec in (node.get("fields") or {}).items():
            if mapped is not None and name not in mapped:
                self.error(join_path(join_path(path, "fields"), name),
                           f"{name!r} is not a mapped field; compare one of: "
                           f"{', '.join(sorted(mapped))}{suggest(name, mapped)}")
            spec = spec or {}
            fields.append(CompareField(name, float(spec.get("tolerance", 0.0)),
                                       spec.get("wins")))
        return CompareSpec(tuple(fields), node.get("wins", "source"),
                           dict(node.get("removed") or {}))

    # --- the job ---------------------------------------------------------------------------

    def schedule(self, node: Mapping[str, Any]) -> Schedule:
        window = None
        if "window" in node:
            w = node["window"]
            window = Window(
                dt.time.fromisoformat(w["start"]), dt.time.fromisoformat(w["end"])
            )
        return Schedule(
            cron=node.get("cron"),
            timezone=node.get("timezone", "UTC"),
            overlap=node.get("overlap", "skip"),
            missed=node.get("missed", "run_once"),
            window=window,
        )

    def _check_parent(self, step: Step, earlier: list[Step], path: str) -> None:
        if step.parent is None:
            return
        names = [s.name for s in earlier]
        where = join_path(join_path(path, "parent"), "step")
        if step.parent.step not in names:
            self.error(where, f"{step.parent.step!r} is not an earlier step of this job; a "
                       "parent runs before its children, so name one of: "
                       f"{', '.join(names) or 'none (move this step after its parent)'}"
                       f"{suggest(step.parent.step, names)}")
            return
        parent = next(s for s in earlier if s.name == step.parent.step)
        if len(parent.key) != len(step.parent.key):
            self.error(join_path(join_path(path, "parent"), "key"),
                       f"the parent step's key has {len(parent.key)} field(s) "
                       f"({', '.join(parent.key)}); give as many")

    def audit(self, node: Mapping[str, Any]) -> AuditPolicy:
        return AuditPolicy(cron=node.get("cron"), timezone=node.get("timezone", "UTC"),
                           repair=bool(node.get("repair", False)),
                           max_drift=node.get("max_drift"))

    def job(self) -> Job | None:
        data = self.doc.data
        has_steps, has_jobs = "steps" in data, "jobs" in data
        if has_steps == has_jobs:
            self.error(
                "",
                "a pipeline needs either `steps` (a plain job) or `jobs` (a composite job)"
                + (", not both" if has_steps else ""),
            )
            return None
        if "mode" in data and not has_jobs:
            self.error(
                "mode",
                "a top-level mode is only for composite jobs (with `jobs:`); "
                "set mode on each step instead",
            )
        steps: list[Step] = []
        for index, node in enumerate(data.get("steps") or ()):
            built = self.step(node, join_path("steps", index))
            if built is not None:
                self._check_parent(built, steps, join_path("steps", index))
                steps.append(built)
        max_age = None
        if "freshness" in data:
            max_age = self.duration(data["freshness"]["max_age"], "freshness.max_age", 0.0)
        job = Job(
            name=data["name"],
            source_file=self.doc.file,
            version=data["version"],
            description=data.get("description", ""),
            schedule=self.schedule(data.get("schedule") or {}),
            depends_on=tuple(data.get("depends_on") or ()),
            max_age_s=max_age,
            steps=tuple(steps),
            jobs=tuple(data.get("jobs") or ()),
            mode=data.get("mode"),
            audit=self.audit(data["audit"]) if "audit" in data else None,
            location=self.location(""),
        )
        return job if self.ok else None


def _echo_guard(node: Mapping[str, Any] | None) -> EchoGuard | None:
    if node is None:
        return None
    job, _, step = str(node["step"]).rpartition(".")
    key = node.get("key", ())
    return EchoGuard(step, tuple(node["fields"]), (key,) if isinstance(key, str) else tuple(key),
                     job or None)


def build_job(doc: Document) -> Job | None:
    """Build the job of a schema-valid document; problems go to ``doc.problems``."""
    if not isinstance(doc.data, dict):
        return None
    return _JobBuilder(doc).job()
