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

from connectors.api import MISSING, ChildLevel, ConnectorContext, Sink, get_path

from .options import HttpDestinationOptions, HttpOptions
from .options_write import Level, LevelLeaf
from .template import placeholders

__all__ = ["CHILD_SPECIALS", "Capture", "build_levels", "captures", "level_options"]

Key = tuple[str, ...]

# What a level's templates can name besides ``key``, ``dest_id``, ``idempotency_key``:
# ``item`` (the level's item), ``parent`` (``id``, ``key``, ``item``: the item above).
CHILD_SPECIALS = frozenset({"item", "parent", "record", "key", "dest_id", "idempotency_key"})
PARENT_PARTS = frozenset({"id", "key", "item"})
REQUESTS = ("upsert", "create", "update")


def _key_fields(level: LevelLeaf) -> tuple[str, ...]:
    return (level.key,) if isinstance(level.key, str) else level.key


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


def captures(then: Sequence[LevelLeaf] | None, prefix: str) -> list[Capture]:
    """The ``from_parent`` of the levels directly under one sink."""
    found = []
    for level in then or ():
        spec = level.from_parent
        if spec is None:
            continue
        found.append(Capture(
            level=f"{prefix}.{level.name}" if prefix else level.name,
            records={"*": spec.records} if isinstance(spec.records, str) else spec.records,
            key_fields=spec.key_fields or _key_fields(level),
            id_path=spec.id_path,
        ))
    return found


def level_options(connection: HttpDestinationOptions, level: LevelLeaf
                  ) -> HttpDestinationOptions:
    """A level's own sink options: the destination's connection (every option of
    :class:`HttpOptions`, and max_in_flight) with the level's requests."""
    return HttpDestinationOptions(
        **{f: getattr(connection, f) for f in (*HttpOptions.option_names(), "max_in_flight")},
        upsert=level.upsert, create=level.create, update=level.update, match=level.match,
        idempotency_key=level.idempotency_key,
    )


def _then(level: LevelLeaf) -> tuple[LevelLeaf, ...] | None:
    return level.then if isinstance(level, Level) else None


def iter_levels(then: Sequence[LevelLeaf] | None, prefix: str = ""
                ) -> Iterator[tuple[str, str, LevelLeaf]]:
    """``(dotted name, parent name, level options)``, each level before its own levels."""
    for level in then or ():
        name = f"{prefix}.{level.name}" if prefix else level.name
        yield name, prefix, level
        yield from iter_levels(_then(level), name)


def _sent_names(options: HttpDestinationOptions) -> set[str]:
    """Heads of the placeholders a sink's own write requests use (a GraphQL document is not
    a template: values reach it only through its variables)."""
    names: set[str] = set()
    for action in (options.upsert, options.create, options.update):
        if action is not None:
            parts = action.to_dict()
            parts.pop("graphql", None)
            parts["variables"] = action.graphql.variables if action.graphql else None
            names.update(name.split(".", 1)[0] for name in placeholders(parts))
    return names


def build_levels(
    options: HttpDestinationOptions, ctx: ConnectorContext,
    open_sink: Callable[[HttpDestinationOptions, ConnectorContext, list[Capture]], Sink],
) -> list[ChildLevel]:
    """Open a sink per level that has requests; ``open_sink(options, ctx, captures)``."""
    levels = []
    top_sends = _sent_names(options)
    for name, parent, level in iter_levels(options.then):
        key_fields = _key_fields(level)
        sink = None
        if level.upsert or level.create or level.update:
            child_ctx = replace(ctx, step=f"{ctx.step}.{name}", key_fields=key_fields)
            sink = open_sink(level_options(options, level), child_ctx,
                             captures(_then(level), name))
        levels.append(ChildLevel(
            name=name, parent=parent, entity=level.entity or name.split(".")[-1],
            key_fields=key_fields, for_each=level.for_each, sink=sink,
            parent_sends=bool(parent) or "record" in top_sends
            or (level.for_each or "").split(".", 1)[0] in top_sends | {""},
        ))
    return levels
