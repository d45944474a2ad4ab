"""The http source: one REST request, GraphQL query or JSON-RPC call, paged, streamed.

The same read description (:func:`plan_read`) serves ``destination.list``, so a source and a
listing page the same way through :func:`connectors.http.pagination.pages`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.api import MISSING, BadRecord, ConnectorContext, ReadRequest, get_path, split_path
from runner.errors import ConfigError
from runner.spec import Filter

from .client import HttpClient
from .options import HttpSourceOptions
from .options_read import ListOptions
from .pagination import PageRequest, Paging, pages, relay
from .template import check_template, render

__all__ = ["HttpSource", "plan_read"]

log = logging.getLogger(__name__)
_rpc_ids = itertools.count(1)


def plan_read(
    read: HttpSourceOptions | ListOptions, context: Mapping[str, Any]
) -> tuple[PageRequest, Paging]:
    """The first request and the paging of a read described by ``read`` (a source's
    options, or ``destination.list``): ``graphql``, ``jsonrpc`` or a REST request."""
    if read.graphql is not None:
        gql = read.graphql
        variables = render(gql.variables, context, missing="omit")
        request = PageRequest(
            "POST", gql.path, records=gql.records,
            body={"query": gql.query, "variables": variables},
            protocol="graphql", data_key="variables",
        )
        pagination = read.pagination or relay(gql.page_info, gql.cursor_variable)
        return request, Paging.from_options(pagination, where="body")
    if read.jsonrpc is not None:
        rpc = read.jsonrpc
        call: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_rpc_ids), "method": rpc.method,
                                "params": render(rpc.params, context, missing="omit")}
        request = PageRequest("POST", rpc.path, records=rpc.records, body=call,
                              protocol="jsonrpc", data_key="params")
        return request, Paging.from_options(read.pagination, where="body")
    # destination.list keeps method, path, params and body at its top
    req = read.request if isinstance(read, HttpSourceOptions) else read
    if req is None or req.path is None:
        raise ConfigError("give `request` (with its path), `graphql` or `jsonrpc`")
    request = PageRequest(
        req.method.upper(),
        render(req.path, context, url=True, missing="omit"),
        records=read.records,
        query=render(req.params or {}, context, missing="omit"),
        body=MISSING if req.body is None else render(req.body, context, missing="omit"),
    )
    return request, Paging.from_options(read.pagination)


@dataclass(frozen=True)
class Field:
    name: str
    path: str
    optional: bool


def _selection(options: HttpSourceOptions) -> tuple[Field, ...] | None:
    if not options.select:
        return None
    fields = []
    for name, spec in options.select.items():
        path = spec if isinstance(spec, str) else spec.path
        optional = False if isinstance(spec, str) else spec.optional
        try:
            split_path(path)
        except ValueError as exc:
            raise ConfigError(f"source.select.{name}: {exc}") from exc
        fields.append(Field(name, path, optional))
    return tuple(fields)


def _project(item: dict[str, Any], fields: tuple[Field, ...]) -> dict[str, Any] | BadRecord:
    out: dict[str, Any] = {}
    for f in fields:
        value = get_path(item, f.path)
        if value is MISSING:
            if not f.optional:
                return BadRecord(raw=item, reason=(
                    f"select.{f.name}: no value at path {f.path!r} in the record; fix the path "
                    "(quote odd keys: a[\"key.\"]) or mark the field optional"))
            value = None
        out[f.name] = value
    return out


class HttpSource:
    read_ahead = True  # its client is thread-safe (see connectors.api.Source)

    def __init__(self, options: HttpSourceOptions, ctx: ConnectorContext) -> None:
        self._options = options
        self._ctx = ctx
        for part, value in (("request", options.request), ("graphql", options.graphql),
                            ("jsonrpc", options.jsonrpc)):
            if value is not None:
                check_template(value.to_dict(), part)
        self._select = _selection(options)
        self._client = HttpClient(options, ctx)

    def pushdown(self, flt: Filter) -> Filter | None:
        return flt  # nothing is pushed down: the engine filters

    def read(self, request: ReadRequest) -> Iterator[dict[str, Any] | BadRecord]:
        since = request.cursor.since if request.cursor is not None else None
        first, paging = plan_read(self._options, {"cursor": since})
        count = 0
        select = self._select
        for page in pages(self._client, first, paging):
            for item in page:
                if not isinstance(item, dict):
                    yield BadRecord(raw=item, reason="list item is not a JSON object")
                    continue
                if select is not None:
                    projected = _project(item, select)
                    if isinstance(projected, BadRecord):
                        yield projected
                        continue
                    item = projected
                count += 1
                yield item
        log.info("http.read_done", extra={"job": self._ctx.job, "step": self._ctx.step,
                                          "rows": count})

    def close(self) -> None:
        self._client.close()
