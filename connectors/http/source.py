"""The http source: one request template (or a GraphQL query), paged, streamed."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.api import BadRecord, ConnectorContext, ReadRequest
from runner.spec import Filter

from .client import HttpClient
from .pagination import graphql_pages, rest_pages
from .template import MISSING, check_template, render

__all__ = ["HttpSource"]

log = logging.getLogger(__name__)


class HttpSource:
    def __init__(self, options: Mapping[str, Any], ctx: ConnectorContext) -> None:
        self._options = options
        self._ctx = ctx
        for part in ("request", "graphql"):
            if part in options:
                check_template(options[part], part)
        self._client = HttpClient(options, ctx)

    def pushdown(self, flt: Filter) -> Filter | None:
        return flt  # nothing is pushed down: the engine filters

    def read(self, request: ReadRequest) -> Iterator[dict[str, Any] | BadRecord]:
        since = request.cursor.since if request.cursor is not None else None
        context = {"cursor": since}
        if "graphql" in self._options:
            gql = self._options["graphql"]
            variables = render(gql.get("variables") or {}, context, missing="omit")
            pages = graphql_pages(self._client, gql, variables)
        else:
            req = self._options["request"]
            body = req.get("body", MISSING)
            pages = rest_pages(
                self._client,
                method=req.get("method", "GET"),
                path=render(req["path"], context, url=True, missing="omit"),
                params=render(req.get("params") or {}, context, missing="omit"),
                body=MISSING if body is MISSING else render(body, context, missing="omit"),
                records_path=self._options.get("records", "data"),
                pagination=self._options.get("pagination"),
            )
        count = 0
        for page in pages:
            for item in page:
                if isinstance(item, dict):
                    count += 1
                    yield item
                else:
                    yield BadRecord(raw=item, reason="list item is not a JSON object")
        log.info("http.read_done", extra={"job": self._ctx.job, "step": self._ctx.step,
                                          "rows": count})

    def close(self) -> None:
        self._client.close()
