"""``then``: the dependent calls of one entity, made in the same step as its record.

A store's product is often several calls: create the product, create its variants with the
product's id, set each variant's stock. ``then`` declares them under the destination, as a
tree of levels::

    then:
      - name: variants
        for_each: variants            # a list field of the record: one call per item
        key: [sku]                    # an item's natural key (its own key map entity)
        create: {path: "/products/{parent.id}/variants", body: "{item}", id_path: id}
        match: {...}                  # recovery of a create a crash may have delivered
        then:
          - name: stock               # no for_each: one call per variant
            key: [sku]
            upsert: {graphql: {document: ..., variables: {sku: "{item.sku}"}}}

A level whose parent's call creates it inline (Shopify's and Medusa's product create return
the variants) takes its ids from the parent's answer instead (``from_parent``), with or without
requests of its own for later changes.

Each level with requests is an ordinary http sink on the destination's connection (same base
URL, auth, retries, responses rules); the engine writes the levels in order, each with its own
row hashes, key map entity and write-ahead intents (:class:`connectors.api.Nested`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connectors.api import ChildLevel, ConnectorContext, Sink

from .template import MISSING, get_path, placeholders

__all__ = ["CHILD_SPECIALS", "Capture", "build_levels", "captures", "level_options"]

Key = tuple[str, ...]

# What a level's templates can name besides ``key``, ``dest_id``, ``idempotency_key``:
# ``item`` (the level's item), ``parent`` (``id``, ``key``, ``item``: the item above).
CHILD_SPECIALS = frozenset({"item", "parent", "record", "key", "dest_id", "idempotency_key"})
PARENT_PARTS = frozenset({"id", "key", "item"})
REQUESTS = ("upsert", "create", "update")
# Options of the destination that are not its connection: a level has its own.
NOT_INHERITED = frozenset({
    "upsert", "create", "update", "delete", "unpublish", "list", "match", "then",
    "idempotency_key",
})


def _key_fields(level: Mapping[str, Any]) -> tuple[str, ...]:
    key = level["key"]
    return (key,) if isinstance(key, str) else tuple(key)


@dataclass(frozen=True)
class Capture:
    """Ids of a child level read from its parent's answer (children created inline)."""

    level: str
    records: Mapping[str, str]  # the parent's action -> path of the children; "*": any action
    key_fields: tuple[str, ...]
    id_path: str

    def ids(self, action: str, body: Any) -> dict[Key, str]:
        path = self.records.get(action, self.records.get("*"))
        found = MISSING if path is None else get_path(body, path)
        if not isinstance(found, list):
            return {}
        ids: dict[Key, str] = {}
        for child in found:
            key = tuple(get_path(child, f, None) for f in self.key_fields)
            dest_id = get_path(child, self.id_path, None)
            if dest_id is None or any(part is None for part in key):
                continue
            ids[tuple("" if part is None else str(part) for part in key)] = str(dest_id)
        return ids


def captures(then: Sequence[Mapping[str, Any]] | None, prefix: str) -> list[Capture]:
    """The ``from_parent`` of the levels directly under one sink."""
    found = []
    for level in then or ():
        spec = level.get("from_parent")
        if not spec:
            continue
        records = spec["records"]
        found.append(Capture(
            level=f"{prefix}.{level['name']}" if prefix else level["name"],
            records={"*": records} if isinstance(records, str) else dict(records),
            key_fields=tuple(spec.get("key_fields") or _key_fields(level)),
            id_path=spec["id_path"],
        ))
    return found


def level_options(connection: Mapping[str, Any], level: Mapping[str, Any]) -> dict[str, Any]:
    """A level's own sink options: the destination's connection with the level's requests."""
    options = {k: v for k, v in connection.items() if k not in NOT_INHERITED}
    options.update({k: level[k] for k in (*REQUESTS, "match", "idempotency_key") if k in level})
    return options


def iter_levels(then: Sequence[Mapping[str, Any]] | None, prefix: str = ""
                ) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """``(dotted name, parent name, level options)``, each level before its own levels."""
    for level in then or ():
        name = f"{prefix}.{level['name']}" if prefix else level["name"]
        yield name, prefix, level
        yield from iter_levels(level.get("then"), name)


def _sent_names(options: Mapping[str, Any]) -> set[str]:
    """Heads of the placeholders a sink's own write requests use (a GraphQL document is not
    a template: values reach it only through its variables)."""
    names: set[str] = set()
    for request in REQUESTS:
        opts = options.get(request)
        if isinstance(opts, Mapping):
            parts = {k: v for k, v in opts.items() if k != "graphql"}
            parts["variables"] = (opts.get("graphql") or {}).get("variables")
            names.update(name.split(".", 1)[0] for name in placeholders(parts))
    return names


def build_levels(
    options: Mapping[str, Any], ctx: ConnectorContext,
    open_sink: Callable[[Mapping[str, Any], ConnectorContext, list[Capture]], Sink],
) -> list[ChildLevel]:
    """Open a sink per level that has requests; ``open_sink(options, ctx, captures)``."""
    levels = []
    top_sends = _sent_names(options)
    for name, parent, level in iter_levels(options.get("then")):
        key_fields = _key_fields(level)
        sink = None
        if any(request in level for request in REQUESTS):
            child_ctx = replace(ctx, step=f"{ctx.step}.{name}", key_fields=key_fields)
            sink = open_sink(level_options(options, level), child_ctx,
                             captures(level.get("then"), name))
        levels.append(ChildLevel(
            name=name, parent=parent, entity=str(level.get("entity") or name.split(".")[-1]),
            key_fields=key_fields, for_each=level.get("for_each"), sink=sink,
            parent_sends=bool(parent) or "record" in top_sends
            or str(level.get("for_each") or "").split(".", 1)[0] in top_sends | {""},
        ))
    return levels
