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

from connectors.api import BadRecord, ConnectorContext, ReadRequest
from runner.errors import ConfigError
from runner.spec import Filter

from .client import HttpClient
from .pagination import PageRequest, Paging, pages
from .template import MISSING, check_template, get_path, render, split_path

__all__ = ["HttpSource", "plan_read"]

log = logging.getLogger(__name__)
_rpc_ids = itertools.count(1)


def plan_read(
    options: Mapping[str, Any], context: Mapping[str, Any], *, records_default: str = "data"
) -> tuple[PageRequest, Paging]:
    """The first request and the paging of a read described by ``options`` (a source's
    options, or ``destination.list``): ``graphql``, ``jsonrpc`` or a REST request."""
    pagination = options.get("pagination")
    if "graphql" in options:
        gql = options["graphql"]
        variables = render(gql.get("variables") or {}, context, missing="omit")
        if pagination is None and gql.get("page_info"):
            # the form kept from before `pagination` applied to GraphQL
            pagination = {"type": "relay", "page_info": gql["page_info"],
                          "param": gql.get("cursor_variable", "after")}
        request = PageRequest(
            "POST", gql.get("path", "/graphql"),
            records=gql.get("records", options.get("records", "data")),
            body={"query": gql["query"], "variables": variables},
            protocol="graphql", data_key="variables",
        )
        return request, Paging.from_options(pagination, where="body")
    if "jsonrpc" in options:
        rpc = options["jsonrpc"]
        call: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_rpc_ids), "method": rpc["method"],
                                "params": render(rpc.get("params") or {}, context,
                                                 missing="omit")}
        request = PageRequest("POST", rpc.get("path", ""),
                              records=rpc.get("records", "result"), body=call,
                              protocol="jsonrpc", data_key="params")
        return request, Paging.from_options(pagination, where="body")
    req = options.get("request", options)  # destination.list keeps path/params at its top
    body = req.get("body", MISSING)
    request = PageRequest(
        str(req.get("method", "GET")).upper(),
        render(req["path"], context, url=True, missing="omit"),
        records=options.get("records", records_default),
        query=render(req.get("params") or {}, context, missing="omit"),
        body=MISSING if body is MISSING else render(body, context, missing="omit"),
    )
    return request, Paging.from_options(pagination)


@dataclass(frozen=True)
class Field:
    name: str
    path: str
    optional: bool


def _selection(options: Mapping[str, Any]) -> tuple[Field, ...] | None:
    select = options.get("select")
    if not select:
        return None
    fields = []
    for name, spec in select.items():
        path = spec if isinstance(spec, str) else spec["path"]
        optional = False if isinstance(spec, str) else bool(spec.get("optional", False))
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
    def __init__(self, options: Mapping[str, Any], ctx: ConnectorContext) -> None:
        self._options = options
        self._ctx = ctx
        for part in ("request", "graphql", "jsonrpc"):
            if part in options:
                check_template(options[part], part)
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
