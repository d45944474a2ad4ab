"""``destination.list``: every (natural key, destination id) pair the destination holds.

Read to the last page with the sources' paging (REST, GraphQL, JSON-RPC; every style), and
streamed: memory stays flat however long the listing. Several ids for one key are all yielded:
the engine reports natural keys claimed twice instead of silently keeping one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from connectors.api import MISSING, ConnectorContext, get_path, split_path
from runner.errors import ConfigError, FatalError

from .client import HttpClient
from .options_read import ListOptions
from .pagination import pages
from .source import plan_read

__all__ = ["list_keys", "list_records"]

log = logging.getLogger(__name__)


def _key_fields(spec: ListOptions, ctx: ConnectorContext) -> tuple[str, ...]:
    key_fields = spec.key_fields or ctx.key_fields
    if not key_fields:
        raise FatalError("destination.list needs key_fields (or a step key) to list keys")
    for path in (*key_fields, spec.id_path):
        try:
            split_path(path)
        except ValueError as exc:
            raise ConfigError(f"destination.list: {exc}") from exc
    return key_fields


def list_records(
    client: HttpClient, spec: ListOptions, ctx: ConnectorContext
) -> Iterator[tuple[tuple[Any, ...], str, dict[str, Any]]]:
    """Yield ``(key, id, object)`` for every listed object (an audit compares its fields); an
    object without its key or id is counted and logged once at the end (it cannot be put in
    the key map)."""
    key_fields = _key_fields(spec, ctx)
    id_path = spec.id_path
    first, paging = plan_read(spec, {})
    listed = skipped = 0
    for page in pages(client, first, paging):
        for item in page:
            dest_id = get_path(item, id_path)
            key = tuple(get_path(item, f) for f in key_fields)
            if dest_id in (None, MISSING) or any(part is MISSING for part in key) \
                    or not isinstance(item, dict):
                skipped += 1
                continue
            listed += 1
            yield key, str(dest_id), item
    extra = {"job": ctx.job, "step": ctx.step, "rows": listed, "skipped": skipped}
    if skipped:
        log.warning("http.list_items_skipped", extra={
            **extra, "reason": f"no id at {id_path!r} or no key at {list(key_fields)}"})
    log.info("http.list_done", extra=extra)


def list_keys(
    client: HttpClient, spec: ListOptions, ctx: ConnectorContext
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Yield ``(key, id)`` for every listed object (several ids for one key all yielded)."""
    for key, dest_id, _item in list_records(client, spec, ctx):
        yield key, dest_id
