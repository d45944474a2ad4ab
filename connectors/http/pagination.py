"""Page through a listing: page numbers, offsets, cursors, Link headers, next URLs, GraphQL.

Each generator yields one page (a list of raw items) at a time, so a source streams.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from runner.errors import FatalError

from .client import Decision, HttpClient, Reply
from .template import MISSING, get_path

__all__ = ["graphql_pages", "rest_pages"]


def _checked(reply: Reply, protocol: str = "rest") -> Any:
    """The decoded body of a page, or FatalError when the page is unusable."""
    if reply.decision not in (Decision.OK, Decision.IGNORE):
        embedded = reply.embedded_error("graphql") if protocol == "graphql" else None
        raise FatalError(
            f"{embedded or reply.describe()}; fix the request options or the credentials"
        )
    body = reply.json()
    if body is MISSING:
        raise FatalError(f"{reply.describe()}: the response is not JSON")
    return body


def _records(body: Any, path: str, reply: Reply) -> list[Any]:
    records = get_path(body, path)
    if records is None:
        return []
    if records is MISSING or not isinstance(records, list):
        raise FatalError(
            f"{reply.where()}: no list at records path {path!r} in the response; set `records` "
            "to the dotted path of the list (\"\" for a top-level list)"
        )
    return records


def rest_pages(
    client: HttpClient,
    *,
    method: str,
    path: str,
    params: Mapping[str, Any],
    body: Any,
    records_path: str,
    pagination: Mapping[str, Any] | None,
) -> Iterator[list[Any]]:
    kind = pagination.get("type") if pagination else None
    pg = pagination or {}
    query: dict[str, Any] = dict(params)
    target = path
    page = int(pg.get("start", 1))
    offset = 0
    if kind == "page":
        query[pg.get("param", "page")] = page
        if pg.get("size_param") and pg.get("size"):
            query[pg["size_param"]] = pg["size"]
    elif kind == "offset":
        query[pg.get("offset_param", "offset")] = offset
        query[pg.get("limit_param", "limit")] = pg.get("limit", 100)
    while True:
        reply = client.send(method, target, params=query, body=body)
        if reply.decision is Decision.IGNORE:
            return
        data = _checked(reply)
        records = _records(data, records_path, reply)
        if not records:
            return
        yield records
        if kind == "page":
            page += 1
            query[pg.get("param", "page")] = page
        elif kind == "offset":
            offset += len(records)
            query[pg.get("offset_param", "offset")] = offset
        elif kind == "cursor":
            token = get_path(data, pg.get("next_path", "next_cursor"))
            if token in (None, "", MISSING):
                return
            query[pg.get("param", "cursor")] = token
        elif kind in ("link", "next_url"):
            if kind == "link":
                link = reply.response.links.get("next", {}).get("url")
            else:
                link = get_path(data, pg.get("next_path", "links.next"))
            if not isinstance(link, str) or not link:
                return
            target = client.follow(link)
            query = {}  # the link carries its own query string
        else:
            return


def graphql_pages(
    client: HttpClient, options: Mapping[str, Any], variables: Mapping[str, Any]
) -> Iterator[list[Any]]:
    path = options.get("path", "/graphql")
    page_info_path = options.get("page_info")
    cursor_var = options.get("cursor_variable", "after")
    current = dict(variables)
    while True:
        reply = client.send(
            "POST", path, body={"query": options["query"], "variables": current},
            protocol="graphql",
        )
        if reply.decision is Decision.IGNORE:
            return
        data = _checked(reply, "graphql")
        records = _records(data, options["records"], reply)
        if not records:
            return
        yield records
        if not page_info_path:
            return
        info = get_path(data, page_info_path)
        if not isinstance(info, Mapping) or not info.get("hasNextPage") or not info.get(
            "endCursor"
        ):
            return
        current[cursor_var] = info["endCursor"]
