"""What the http connector would refuse at open or write time, said before a run, without I/O.

``validate`` calls :meth:`HttpConnector.check` with the step's fields, so a misspelled
placeholder, a GraphQL document that does not parse or an unquoted ``{record}`` is a located
configuration error instead of every record quarantined mid-job. Paths are dotted, inside the
options block (``upsert.graphql.variables.input``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.api import CheckContext, OptionProblem

from .options import HttpDestinationOptions, HttpSourceOptions
from .options_write import Action, Match
from .template import MATCH_SPECIALS, placeholders

__all__ = ["check_options"]

ACTIONS = ("upsert", "create", "update", "delete", "unpublish")
SPECIALS = frozenset({"record", "dest_id", "key", "idempotency_key"})
_DOUBLED = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_.]*)\}\}")
_PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _error(path: str, message: str) -> OptionProblem:
    return OptionProblem(path, message)


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a template with its dotted path."""
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}.{index}")


def _unquoted(node: Any, path: str, names: frozenset[str]) -> Iterator[OptionProblem]:
    """``body: {record}`` unquoted is the YAML mapping ``{record: null}``."""
    if isinstance(node, Mapping):
        if len(node) == 1:
            (key, value), = node.items()
            if value is None and isinstance(key, str) and key in names:
                where = path.rsplit(".", 1)[-1]
                yield _error(path, f"{{{key}}} unquoted is a YAML mapping, not a placeholder; "
                                   f"quote it: {where}: \"{{{key}}}\"")
                return
        for key, value in node.items():
            yield from _unquoted(value, f"{path}.{key}", names)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _unquoted(value, f"{path}.{index}", names)


def _unknown(name: str, allowed: frozenset[str], what: str) -> str:
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    hint = f"did you mean {{{close[0]}}}? " if close else ""
    listed = ", ".join(sorted(allowed)) or "none"
    return f"placeholder {{{name}}} is not {what}; {hint}it can use: {listed}"


def check_template(
    node: Any, path: str, allowed: frozenset[str] | None, what: str
) -> Iterator[OptionProblem]:
    """Placeholders of a template: dunder names, ``{{name}}`` typed for ``{name}``, and names
    outside ``allowed`` (None: the step does not say which fields its records carry)."""
    for where, text in _strings(node, path):
        for doubled in _DOUBLED.findall(text):
            yield _error(where, f"{{{{{doubled}}}}} is the literal text {{{doubled}}}, not a "
                                f"placeholder; write {{{doubled}}} (double braces are "
                                "escapes for a literal brace)")
        for name in sorted(placeholders(text)):
            head = name.split(".", 1)[0]
            if any(part.startswith("__") for part in name.split(".")):
                yield _error(where, f"placeholder {{{name}}} is not allowed; names cannot "
                                    "start with '__'")
            elif allowed is not None and head not in allowed:
                yield _error(where, _unknown(head, allowed, what))


def check_graphql(*args: Any, **kw: Any) -> Iterator[OptionProblem]:
    from .check_graphql import check_graphql as check  # graphql-core only when needed

    return check(*args, **kw)


def _check_graphql_batch(name: str, opts: Action) -> list[OptionProblem]:
    from .check_graphql import check_graphql_batch

    return check_graphql_batch(name, opts)


def check_options(
    options: HttpSourceOptions | HttpDestinationOptions, ctx: CheckContext
) -> list[OptionProblem]:
    if isinstance(options, HttpSourceOptions):
        return _check_source(options)
    problems: list[OptionProblem] = []
    fields = None if ctx.fields is None else frozenset(ctx.fields) | SPECIALS
    for name in ACTIONS:
        action = getattr(options, name)
        if action is not None:
            problems += _check_action(name, action, fields, ctx.fields)
    if options.list is not None:
        problems += check_template(options.list.to_dict(), "list", frozenset(),
                                   "available: a listing is sent as written, without a record")
    if options.match is not None:
        problems += _check_match(options.match, ctx)
    problems += _unsafe_create(options)
    if options.then:
        from .check_entity import check_levels

        problems += check_levels(options, ctx, _check_action, _check_match)
    return problems


def _check_action(
    name: str, opts: Action, fields: frozenset[str] | None,
    record_fields: frozenset[str] | None,
    what: str = "a field of the record (the step's map) nor a special",
) -> list[OptionProblem]:
    """``fields``: what placeholders can name (the record's fields and the specials);
    ``record_fields``: the record's fields alone (what ``"{record}"`` holds)."""
    problems: list[OptionProblem] = []
    if opts.graphql is not None:
        gql = opts.graphql
        problems += check_graphql(gql.document, gql.variables, f"{name}.graphql",
                                  record_fields)
        problems += check_template(gql.variables, f"{name}.graphql.variables", fields, what)
        problems += _unquoted(gql.variables, f"{name}.graphql.variables", _names(fields))
    if opts.jsonrpc is not None:
        params = opts.jsonrpc.params
        problems += check_template(params, f"{name}.jsonrpc.params", fields, what)
        problems += _unquoted(params, f"{name}.jsonrpc.params", _names(fields))
    protocol = "graphql" if opts.graphql else "jsonrpc" if opts.jsonrpc else None
    if opts.batch is not None and protocol == "jsonrpc":
        problems.append(_error(
            f"{name}.batch", "batch is supported for REST and GraphQL only, not jsonrpc; "
            "remove batch (each record is one request) or use a REST endpoint that takes a list"))
    if opts.batch is not None and protocol == "graphql":
        problems += _check_graphql_batch(name, opts)
    if protocol is None and not opts.path:
        problems.append(_error(name, f"{name} has no path; add the request path"))
    for part in ("path", "params", "headers", "body"):
        value = getattr(opts, part)
        if value is not None:
            problems += check_template(value, f"{name}.{part}", fields, what)
    problems += _unquoted(opts.body, f"{name}.body", _names(fields))
    if name == "create" and "dest_id" in placeholders(opts.path or ""):
        problems.append(_error(f"{name}.path", "a create has no {dest_id} yet (the destination "
                                               "assigns it); use a natural key field"))
    if opts.batch is not None and protocol is None:
        batch = opts.batch
        for part in ("path", "body"):
            value = getattr(batch, part)
            if value is not None:
                problems += check_template(value, f"{name}.batch.{part}",
                                           frozenset({"records", "count"}), "a batch value")
    return problems


def _names(fields: frozenset[str] | None) -> frozenset[str]:
    return SPECIALS if fields is None else fields


def _check_match(match: Match, ctx: CheckContext) -> list[OptionProblem]:
    key_fields = match.key_fields or ctx.key_fields
    allowed = MATCH_SPECIALS | frozenset(key_fields)
    what = "a key field nor {keys} or {key}"
    problems: list[OptionProblem] = []
    if not key_fields:
        problems.append(_error("match.key_fields", "match needs key_fields (or a step key)"))
    for part, value in (("path", match.path), ("params", match.params)):
        if value is not None:
            problems += check_template(value, f"match.{part}", allowed, what)
    if match.graphql is not None:
        gql = match.graphql
        variables = gql.variables or {}
        problems += check_graphql(gql.document, variables, "match.graphql", None,
                                  supplied=frozenset({gql.cursor_variable}))
        problems += check_template(variables, "match.graphql.variables", allowed, what)
    elif not match.path:
        problems.append(_error("match", "match has no path; add the lookup path or graphql"))
    elif len(key_fields) > 1 and "keys" in placeholders(match.params or {}):
        problems.append(_error("match.params", "{keys} of a composite key cannot go in a "
                                               "query string; look one key up per request "
                                               "(its fields in the path) or use graphql"))
    return problems


def _unsafe_create(options: HttpDestinationOptions) -> list[OptionProblem]:
    create = options.create
    if create is None or options.match is not None:
        return []
    if options.idempotency_key is not None and create.batch is None:
        return []
    return [OptionProblem("create", "a crash here can create duplicates: the destination's "
                          "creates are neither matched by key (add match) nor sent with an "
                          "idempotency key per record (add idempotency_key)", "warning")]


def _check_source(options: HttpSourceOptions) -> list[OptionProblem]:
    """A read has no record: its templates can use only ``{cursor}``."""
    cursor = frozenset({"cursor"})
    what = "available to a read; it can use only {cursor}, the incremental watermark"
    problems: list[OptionProblem] = []
    if options.request is not None:
        problems += check_template(options.request.to_dict(), "request", cursor, what)
    if options.graphql is not None:
        gql = options.graphql
        problems += check_graphql(gql.query, gql.variables, "graphql", None,
                                  supplied=frozenset({gql.cursor_variable}), doc_key="query")
        problems += check_template(gql.variables, "graphql.variables", cursor, what)
    return problems
