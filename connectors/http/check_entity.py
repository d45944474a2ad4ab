"""``validate``'s checks of ``then`` (the dependent calls of one entity), without I/O.

Placeholders are checked against what each level's op carries: ``{item.field}`` against the
level's declared ``fields`` (and its key), ``{parent.id|key|item}``, ``{parent.item.field}``
against the parent's fields (the step's mapped fields at the top); ``for_each`` against the
parent's fields; each level's requests and ``match`` as the destination's own are checked.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from connectors.api import CheckContext, OptionProblem

from .entity import CHILD_SPECIALS, PARENT_PARTS, REQUESTS
from .options import HttpDestinationOptions
from .options_write import Action, Level, LevelLeaf
from .template import placeholders

__all__ = ["check_levels"]

WHAT = "available to a level; it can use {item.field}, {parent.id}, {parent.key}, " \
    "{parent.item.field} and the specials"


def _templates(level: LevelLeaf) -> Iterator[tuple[str, Any]]:
    """The templated parts of a level's requests (a GraphQL document is not a template)."""
    for name in REQUESTS:
        opts: Action | None = getattr(level, name)
        if opts is None:
            continue
        for part in ("path", "params", "headers", "body"):
            if getattr(opts, part) is not None:
                yield f"{name}.{part}", getattr(opts, part)
        if opts.graphql is not None:
            yield f"{name}.graphql.variables", opts.graphql.variables
        if opts.jsonrpc is not None:
            yield f"{name}.jsonrpc.params", opts.jsonrpc.params


def _unknown(name: str, allowed: frozenset[str], what: str) -> str:
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{name} is not {what}; {hint}known: {', '.join(sorted(allowed)) or 'none'}"


def _key(level: LevelLeaf) -> tuple[str, ...]:
    return (level.key,) if isinstance(level.key, str) else level.key


def _fields_of(level: LevelLeaf) -> frozenset[str] | None:
    if level.fields is None:
        return None
    return frozenset(level.fields) | frozenset(_key(level))


def _check_names(path: str, level: LevelLeaf, own: frozenset[str] | None,
                 parent: frozenset[str] | None) -> Iterator[OptionProblem]:
    for where, template in _templates(level):
        for name in sorted(placeholders(template)):
            head, _, rest = name.partition(".")
            sub, _, deeper = rest.partition(".")
            at = f"{path}.{where}"
            if head == "item" and sub and own is not None and sub not in own:
                yield OptionProblem(at, "placeholder {" + name + "}: " + _unknown(
                    sub, own, "a field of the level's items (its `fields`)"))
            elif head == "parent" and sub and sub not in PARENT_PARTS:
                yield OptionProblem(at, "placeholder {" + name + "}: " + _unknown(
                    sub, PARENT_PARTS, "a part of the parent"))
            elif head == "parent" and sub == "item" and deeper and parent is not None:
                field = deeper.split(".", 1)[0]
                if field not in parent:
                    yield OptionProblem(at, "placeholder {" + name + "}: " + _unknown(
                        field, parent, "a field of the parent item"))


def _check_level(path: str, level: LevelLeaf, parent: frozenset[str] | None,
                 parent_calls: bool, check_action: Any, check_match: Any
                 ) -> Iterator[OptionProblem]:
    own = _fields_of(level)
    for_each = level.for_each
    if for_each and parent is not None and for_each.split(".", 1)[0] not in parent:
        yield OptionProblem(f"{path}.for_each", _unknown(
            for_each.split(".", 1)[0], parent, "a field of the parent item"))
    if not for_each and own is None:
        own = parent  # one call per parent item: the item is the parent's
    if level.from_parent is not None and not parent_calls:
        yield OptionProblem(f"{path}.from_parent", "the level above makes no call whose "
                            "answer could hold these ids; give it a request, or take the ids "
                            "from this level's own requests (id_path)")
    declared = frozenset(level.fields) if level.fields is not None else own
    for field in _key(level):
        if declared is not None and field not in declared:
            yield OptionProblem(f"{path}.key", _unknown(field, declared,
                                                        "a field of the items"))
    for name in REQUESTS:
        action = getattr(level, name)
        if action is not None:
            for problem in check_action(name, action, CHILD_SPECIALS, None, WHAT):
                yield OptionProblem(f"{path}.{problem.path}", problem.message, problem.severity)
    yield from _check_names(path, level, own, parent)
    if level.match is not None:
        for problem in check_match(level.match, CheckContext("destination", _key(level))):
            yield OptionProblem(f"{path}.{problem.path}", problem.message, problem.severity)
    elif level.create is not None and level.idempotency_key is None:
        yield OptionProblem(f"{path}.create", "a crash here can create duplicates: this "
                            "level's creates are neither matched by key (add match) nor sent "
                            "with an idempotency key (add idempotency_key)", "warning")
    calls = any(getattr(level, name) is not None for name in REQUESTS)
    children = level.then if isinstance(level, Level) else None
    for index, child in enumerate(children or ()):
        yield from _check_level(f"{path}.then.{index}", child, own, calls, check_action,
                                check_match)


def check_levels(options: HttpDestinationOptions, ctx: CheckContext, check_action: Any,
                 check_match: Any) -> list[OptionProblem]:
    """Problems of ``options.then``; ``check_action``/``check_match`` are the checks of the
    destination's own requests (passed in: :mod:`.check` imports this module)."""
    problems: list[OptionProblem] = []
    seen: set[str] = set()
    for index, level in enumerate(options.then or ()):
        if level.name in seen:
            problems.append(OptionProblem(f"then.{index}.name", f"two levels are named "
                                          f"{level.name!r}; give each its own name"))
        seen.add(level.name)
        problems += _check_level(f"then.{index}", level, ctx.fields, True, check_action,
                                 check_match)
    return problems
