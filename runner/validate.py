"""Check a loaded pipeline: the envelope schema, each connector's options, and the semantics.

Three passes over one :class:`~runner.config.Document`, each collecting located problems:

1. the envelope schema (:mod:`runner.schema_check`): ``schemas/pipeline-v1.schema.json`` for a
   version 1 file; a version 2 file was checked against its own ``pipeline.schema.json``
   before :mod:`runner.lang_v2` read it into the version 1 form, so it skips this pass;
2. every source/destination/lookup block against its connector's own options schema;
3. what no schema can say: a cron that does not parse, an unknown time zone, an incremental
   step without a cursor, a mapping naming a field the source does not provide, a key the
   mapping does not produce, an unknown lookup.

Checks across files (depends_on, composite jobs, duplicate names, keymap references to other
jobs) are in :func:`check_project`. Nothing here does I/O beyond importing connector classes.
"""

from __future__ import annotations

import ast
import functools
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.api import (
    CheckContext,
    Connector,
    available_connectors,
    connector_target,
    load_connector,
    register_secret_options,
    secret_option_names,
)
from runner.build import ResolvedBlock, build_job, resolve_block, suggest
from runner.config import Document, join_path
from runner.connector_checks import check_connector_block, record_fields
from runner.cron_check import valid_cron
from runner.echo import check_echo_guards
from runner.path_checks import check_path, mapping_paths
from runner.paths import path_error, root_field
from runner.schema_check import SCHEMA_PATH, humanize, pipeline_schema, schema_problems, show
from runner.schema_fit import fits
from runner.spec import FieldMap, Job, Step
from runner.transforms.mapped_keys import order_problems

if TYPE_CHECKING:
    import jsonschema

__all__ = ["SCHEMA_PATH", "Registry", "check_document", "check_project", "pipeline_schema"]

TRANSFORM_GROUP = "commerce_sync.transforms"

# One validator per connector options schema (a module constant), kept with the schema so
# that its id is not reused: its references are then resolved once, not once per block.
_options_validators: dict[int, tuple[Mapping[str, Any], jsonschema.Draft202012Validator]] = {}


def _options_validator(schema: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    known = _options_validators.get(id(schema))
    if known is None or known[0] is not schema:
        import jsonschema  # here: options that fit their schema (schema_fit) never need it

        known = (schema, jsonschema.Draft202012Validator(schema))
        _options_validators[id(schema)] = known
    return known[1]


# --- connector options -------------------------------------------------------------------


@dataclass(frozen=True)
class Registry:
    """Installed connectors and transform plugins, read once per project: scanning entry
    points costs tens of milliseconds, far more than validating a file. The plugins are read
    when a step first names one (each scan is ~5 ms of a start, and most pipelines name none)."""

    connectors: Mapping[str, str]

    @property
    def plugins(self) -> frozenset[str]:
        return _transform_plugins()

    @classmethod
    def current(cls) -> Registry:
        return cls(_Connectors())


class _Connectors(Mapping[str, str]):
    """The registered connectors by name: a built-in name is answered without the scan of
    installed distributions that listing them all takes (connectors.api.BUILT_IN)."""

    def __getitem__(self, name: str) -> str:
        target = connector_target(name)
        if target is None:
            raise KeyError(name)
        return target

    def __iter__(self) -> Iterator[str]:
        return iter(available_connectors())

    def __len__(self) -> int:
        return len(available_connectors())


@functools.cache
def _transform_plugins() -> frozenset[str]:
    from importlib.metadata import entry_points

    return frozenset(ep.name for ep in entry_points(group=TRANSFORM_GROUP))


@dataclass
class _Blocks:
    """Declared source fields per block path (None: not knowable without I/O)."""

    fields: dict[str, Sequence[str] | None] = field(default_factory=dict)
    # Blocks valid against their connector's schema, for the connector's own checks.
    valid: dict[str, tuple[ResolvedBlock, type[Connector]]] = field(default_factory=dict)


def _connector_class(
    doc: Document, name: str, path: str, known: Mapping[str, str]
) -> type[Connector] | None:
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        doc.add(path, f"unknown connector {name!r}; known: {names}{suggest(name, known)}")
        return None
    try:
        return load_connector(name)
    except Exception as exc:  # a plugin's import error must not become a traceback
        doc.add(
            path,
            f"connector {name!r} is registered ({known[name]}) but cannot be loaded: "
            f"{type(exc).__name__}: {exc}; reinstall it or fix the plugin",
        )
        return None


def _check_block(
    doc: Document, block: ResolvedBlock, role: str, registry: Registry, blocks: _Blocks
) -> Sequence[str] | None:
    """Validate one merged block against its connector; return its declared fields."""
    assert block.connector is not None
    where = join_path(block.path, "connector")
    if where not in doc.marks:  # the connector came from the named connection
        where = join_path(block.path, "connection")
        if block.connector not in registry.connectors:
            return None  # reported once, at the connection
    cls = _connector_class(doc, block.connector, where, registry.connectors)
    if cls is None:
        return None
    schema = cls.source_options if role == "source" else cls.destination_options
    if schema is None:
        roles = [r for r, s in (("source", cls.source_options),
                                ("destination", cls.destination_options)) if s is not None]
        doc.add(
            where,
            f"connector {block.connector!r} cannot be used as a {role}; "
            f"it can be a {' or a '.join(roles) or 'nothing'}",
        )
        return None
    register_secret_options(block.options, schema)
    secrets = {name.split(".")[0] for name in secret_option_names(schema)}
    options = dict(block.options)
    errors: list[jsonschema.ValidationError] = []
    if not fits(schema, options):
        from jsonschema import SchemaError

        try:
            errors = list(_options_validator(schema).iter_errors(options))
        except SchemaError as exc:
            doc.add(where, f"connector {block.connector!r} has an invalid options schema: "
                           f"{exc.message}; report this to its author")
            return None
    seen: set[tuple[str, str]] = set()
    for error in errors:
        parts = list(error.absolute_path)
        top = parts[0] if parts and isinstance(parts[0], str) else None
        base, skip = block.path, 0
        if top is not None and top in block.origin:
            # Point at the line the option was written on (the step or the connection).
            base, skip = block.origin[top], 1
        for path, message, at_key in humanize(error, base, secret=top in secrets, skip=skip):
            if (path, message) not in seen:
                seen.add((path, message))
                doc.add(path, message, key=at_key)
    if errors:
        return None
    blocks.valid[block.path] = (block, cls)
    try:
        declared = cls.declared_fields(block.options)
    except Exception:  # a plugin's bug here must not stop validation
        return None
    return list(declared) if declared is not None else None


def _connector_problems(doc: Document, registry: Registry) -> _Blocks:
    blocks = _Blocks()
    data = doc.data
    for index, step in enumerate(data.get("steps") or ()):
        spath = join_path("steps", index)
        targets = [("source", step["source"], join_path(spath, "source"))]
        targets.append(("destination", step["destination"], join_path(spath, "destination")))
        for name, lookup in (step.get("lookups") or {}).items():
            lpath = join_path(join_path(join_path(spath, "lookups"), name), "source")
            targets.append(("source", lookup["source"], lpath))
        for role, raw, path in targets:
            resolved = resolve_block(doc, raw, path)
            if resolved is None or resolved.connector is None:
                continue
            blocks.fields[path] = _check_block(doc, resolved, role, registry, blocks)
    for name, conn in (data.get("connections") or {}).items():
        connector = conn.get("connector")
        known = registry.connectors
        if isinstance(connector, str) and connector not in known:
            cpath = join_path(join_path("connections", name), "connector")
            doc.add(cpath, f"unknown connector {connector!r}; known: "
                           f"{', '.join(sorted(known)) or 'none'}{suggest(connector, known)}")
    return blocks


# --- semantics ---------------------------------------------------------------------------


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(doc: Document, name: str, path: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        doc.add(path, f"unknown time zone {name!r}; use an IANA name like America/Chicago"
                      f"{suggest(name, _timezones())}")


def _check_expr(doc: Document, text: str, path: str) -> None:
    # Parsing only: expressions are evaluated later by the sandboxed evaluator, never here.
    try:
        ast.parse(text, mode="eval")
    except SyntaxError as exc:
        doc.add(path, f"invalid expression {show(text)}: {exc.msg}")


def _filter_fields(node: Mapping[str, Any], path: str) -> Iterable[tuple[str, str, str]]:
    """``(kind, text, path)`` for every field name and expression in a filter tree."""
    if "field" in node:
        yield "field", node["field"], join_path(path, "field")
    if "expr" in node:
        yield "expr", node["expr"], join_path(path, "expr")
    for kind in ("all", "any"):
        for index, item in enumerate(node.get(kind) or ()):
            yield from _filter_fields(item, join_path(join_path(path, kind), index))
    if "not" in node:
        yield from _filter_fields(node["not"], join_path(path, "not"))


def _check_filter(doc: Document, node: Mapping[str, Any], path: str,
                  fields: Sequence[str] | None, what: str) -> None:
    for kind, text, fpath in _filter_fields(node, path):
        if kind == "expr":
            _check_expr(doc, text, fpath)
        else:
            check_path(doc, text, fpath, fields, what)


def _check_mapping(doc: Document, fm: FieldMap, raw: Any, path: str, step: Step,
                   fields: Sequence[str] | None) -> None:
    for name, npath, from_source in mapping_paths(fm, raw, path):
        check_path(doc, name, npath, fields if from_source else None)
    if fm.expr is not None:
        _check_expr(doc, fm.expr, join_path(path, "expr"))
    if fm.timezone is not None:
        _check_timezone(doc, fm.timezone, join_path(path, "timezone"))
    if fm.lookup is not None and fm.lookup.lookup not in step.lookups:
        known = ", ".join(step.lookups) or "none"
        doc.add(join_path(path, "lookup"),
                f"unknown lookup {fm.lookup.lookup!r}; this step defines: {known}"
                f"{suggest(fm.lookup.lookup, step.lookups)}")


def _check_take(doc: Document, fm: FieldMap, path: str, step: Step, blocks: _Blocks,
                spath: str) -> None:
    if fm.lookup is None or fm.lookup.lookup not in step.lookups:
        return
    lpath = join_path(join_path(join_path(spath, "lookups"), fm.lookup.lookup), "source")
    lfields = blocks.fields.get(lpath)
    if lfields is not None and fm.lookup.take not in lfields:
        doc.add(join_path(path, "take"),
                f"lookup {fm.lookup.lookup!r} has no field {fm.lookup.take!r}; it provides: "
                f"{', '.join(lfields)}{suggest(fm.lookup.take, lfields)}")


def _semantic_problems(doc: Document, job: Job, blocks: _Blocks, registry: Registry,
                       ask_connectors: bool) -> None:
    schedule = job.schedule
    cron = schedule.cron
    if cron is not None and not valid_cron(cron):
        doc.add("schedule.cron", f"{cron!r} is not a valid 5-field cron expression "
                                 "(minute hour day month weekday), e.g. '*/15 * * * *'")
    if "schedule" in doc.data and "timezone" in doc.data["schedule"]:
        _check_timezone(doc, schedule.timezone, "schedule.timezone")
    seen_steps: dict[str, int] = {}
    for index, step in enumerate(job.steps):
        spath = join_path("steps", index)
        raw = doc.data["steps"][index]
        if step.name in seen_steps:
            doc.add(join_path(spath, "name"), f"step name {step.name!r} is already used by "
                                              f"steps[{seen_steps[step.name]}]")
        seen_steps.setdefault(step.name, index)
        word = "sync" if job.version == 2 else "mode"  # the step's sync mode, in its version
        if step.mode == "incremental" and step.cursor is None:
            doc.add(join_path(spath, "mode"), "an incremental step needs a cursor: add "
                                              "`cursor: {field: modified_at}` or use "
                                              f"{word}: changes")
        if step.cursor is not None and step.mode != "incremental":
            doc.add(join_path(spath, "cursor"), f"the cursor is ignored in {word} "
                    f"{step.mode!r}; set {word}: incremental or remove it", severity="warning")
        fields = blocks.fields.get(join_path(spath, "source"))
        if step.cursor is not None:
            check_path(doc, step.cursor.field, join_path(join_path(spath, "cursor"), "field"),
                       fields)
        if "filter" in raw:
            _check_filter(doc, raw["filter"], join_path(spath, "filter"), fields, "the source")
        for name, lookup in step.lookups.items():
            lpath = join_path(join_path(spath, "lookups"), name)
            lfields = blocks.fields.get(join_path(lpath, "source"))
            if lfields is not None and lookup.key not in lfields:
                doc.add(join_path(lpath, "key"), f"lookup {name!r} has no field "
                        f"{lookup.key!r}; it provides: {', '.join(lfields)}"
                        f"{suggest(lookup.key, lfields)}")
            lraw = raw["lookups"][name]
            if "filter" in lraw:
                _check_filter(doc, lraw["filter"], join_path(lpath, "filter"), lfields,
                              f"lookup {name!r}")
        if step.nest is not None and fields is not None:
            for part, names in (("by", step.nest.by), ("fields", step.nest.fields)):
                for name in names:
                    if name not in fields:
                        doc.add(join_path(join_path(spath, "nest"), part),
                                f"the source has no field {name!r}; it provides: "
                                f"{', '.join(fields)}{suggest(name, fields)}")
        # Plugins and flattening make fields the validator cannot know about.
        available = None
        if fields is not None and step.flatten is None and not step.transforms:
            available = list(fields) + ([step.nest.into] if step.nest else [])
        if step.mappings is not None:
            mpath = join_path(spath, "map")
            for fm in step.mappings:
                _check_mapping(doc, fm, raw["map"][fm.target], join_path(mpath, fm.target), step,
                               available)
                _check_take(doc, fm, join_path(mpath, fm.target), step, blocks, spath)
            for target, message in order_problems(step.mappings):
                doc.add(join_path(join_path(join_path(mpath, target), "on"), "mapped"), message)
            targets = {fm.target for fm in step.mappings}
            if "keep" in raw:
                _check_filter(doc, raw["keep"], join_path(spath, "keep"), sorted(targets),
                              "the mapped record")
            if not step.transforms:
                for name in step.key:
                    if name not in targets:
                        doc.add(join_path(spath, "key"),
                                f"key field {name!r} is not produced by the mapping; map it "
                                f"or change the key{suggest(name, targets)}")
        else:  # records pass through: the key names (paths of) source fields
            for name in step.key:
                if (problem := path_error(name)) is not None:
                    doc.add(join_path(spath, "key"), f"malformed field path: {problem}")
                elif available is not None and root_field(name) not in available and (
                        name not in available):
                    doc.add(join_path(spath, "key"),
                            f"key field {name!r} is not a field of the source; it provides: "
                            f"{', '.join(available)}{suggest(name, available)}")
        if ask_connectors:
            _ask_connectors(doc, step, spath, blocks, fields)
        for tindex, plugin in enumerate(step.transforms):
            plugins = registry.plugins
            if plugin.plugin not in plugins:
                doc.add(join_path(join_path(join_path(spath, "transforms"), tindex), "plugin"),
                        f"unknown transform plugin {plugin.plugin!r}; known: "
                        f"{', '.join(sorted(plugins)) or 'none'}{suggest(plugin.plugin, plugins)}")


def _ask_connectors(doc: Document, step: Step, spath: str, blocks: _Blocks,
                    fields: Sequence[str] | None) -> None:
    for role in ("source", "destination"):
        found = blocks.valid.get(join_path(spath, role))
        if found is None:
            continue
        block, cls = found
        ctx = CheckContext(
            role=role,
            key_fields=step.key,
            fields=(record_fields(step, fields) if role == "destination"
                    else frozenset(fields) if fields is not None else None),
        )
        check_connector_block(doc, cls, block, ctx)


def check_document(doc: Document, registry: Registry | None = None, *,
                   envelope: bool = True, ask_connectors: bool = True) -> Job | None:
    """Run the schema, connector and semantic checks on one loaded document.

    Problems go to ``doc.problems``; returns the job when the document has no errors.
    ``registry`` defaults to the connectors and plugins installed now. ``envelope=False``
    skips the version 1 schema: a version 2 document read into the version 1 form was checked
    against the version 2 schema already, in the words it was written in.
    ``ask_connectors=False`` leaves out the connectors' own checks of their blocks in context
    (a GraphQL document parsed against the step's fields, say): for a file read only as the
    context of another, whose problems nobody sees.
    """
    registry = registry or Registry.current()
    if doc.has_errors or doc.data is None:
        return None
    if envelope and not schema_problems(doc, "pipeline-v1"):
        return None
    blocks = _connector_problems(doc, registry)
    job = build_job(doc)
    if job is None:
        return None
    _semantic_problems(doc, job, blocks, registry, ask_connectors)
    return None if doc.has_errors else job


# --- across files ------------------------------------------------------------------------


def _raw_name(doc: Document) -> str | None:
    if isinstance(doc.data, dict) and isinstance(doc.data.get("name"), str):
        return str(doc.data["name"])
    return None


def check_project(docs: Sequence[Document], jobs: Mapping[str, Job]) -> None:
    """Checks that need every loaded file: unique names, depends_on, composite members,
    keymap references to other jobs. ``jobs`` maps a document's file to its built job."""
    owners: dict[str, str] = {}
    for doc in sorted(docs, key=lambda d: d.file):
        name = _raw_name(doc)
        if name is None:
            continue
        if name in owners:
            doc.add("name", f"job name {name!r} is already used by {owners[name]}; "
                            "names must be unique")
        else:
            owners[name] = doc.file
    by_name = {job.name: job for job in jobs.values()}
    for doc in docs:
        job = jobs.get(doc.file)
        if job is None:
            continue
        for part, names in (("depends_on", job.depends_on), ("jobs", job.jobs)):
            for index, name in enumerate(names):
                if name == job.name:
                    doc.add(join_path(part, index), f"job {name!r} cannot include or depend "
                                                    "on itself")
                elif name not in owners:
                    doc.add(join_path(part, index),
                            f"unknown job {name!r}; loaded jobs: "
                            f"{', '.join(sorted(owners)) or 'none'}{suggest(name, owners)}")
        _check_keymaps(doc, job, by_name)
        check_echo_guards(doc, job, by_name)
    for part in ("depends_on", "jobs"):
        _check_cycles(docs, jobs, part)


def _check_keymaps(doc: Document, job: Job, by_name: Mapping[str, Job]) -> None:
    for index, step in enumerate(job.steps):
        for fm in step.mappings or ():
            if fm.keymap is None:
                continue
            path = join_path(join_path(join_path("steps", index), "map"), fm.target)
            owner_name = fm.keymap.job or job.name
            owner = by_name.get(owner_name)
            if owner is None:
                if fm.keymap.job is not None:
                    doc.add(join_path(path, "job"), f"unknown job {owner_name!r} in keymap"
                                                    f"{suggest(owner_name, by_name)}")
                continue
            entities = {s.entity_name for s in owner.steps}
            if fm.keymap.entity not in entities:
                doc.add(join_path(path, "keymap"),
                        f"job {owner_name!r} records no entity {fm.keymap.entity!r}; its "
                        f"entities: {', '.join(sorted(entities)) or 'none'}"
                        f"{suggest(fm.keymap.entity, entities)}")


def _check_cycles(docs: Sequence[Document], jobs: Mapping[str, Job], part: str) -> None:
    edges = {job.name: getattr(job, part) for job in jobs.values()}
    doc_of = {jobs[d.file].name: d for d in docs if d.file in jobs}
    reported: set[frozenset[str]] = set()
    for start in sorted(edges):
        stack: list[str] = []

        def visit(name: str, stack: list[str] = stack, start: str = start) -> None:
            if name in stack:
                cycle = [*stack[stack.index(name):], name]
                key = frozenset(cycle)
                if key not in reported and len(key) > 1:
                    reported.add(key)
                    first = cycle[0]
                    doc = doc_of[first]
                    index = edges[first].index(cycle[1])
                    doc.add(join_path(part, index),
                            f"{part} cycle: {' -> '.join(cycle)}; remove one of these links")
                return
            stack.append(name)
            for nxt in edges.get(name, ()):
                if nxt in edges and nxt != name:
                    visit(nxt)
            stack.pop()

        visit(start)
