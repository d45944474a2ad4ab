"""Page through a listing: one description of paging, one implementation, shared by sources
and ``destination.list``.

Styles: page numbers, offset/limit (skip/take is the same with other parameter names), opaque
cursors from the body, Relay ``pageInfo {hasNextPage endCursor}``, RFC 5988 ``Link`` headers and
next-page URLs in the body. The values go into the query string or into the request's data (the
JSON body of a REST request, the variables of a GraphQL query, the params of a JSON-RPC call).

A listing that never ends is refused rather than followed: a next cursor (or URL) equal to the
one just used, a page whose items equal the previous page's, an empty page that still claims a
next one, and more than ``max_pages`` pages each raise FatalError naming what was seen.

:func:`pages` yields one page (a list of raw items) at a time, so a reader streams.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import orjson

from connectors.api import MISSING, get_path
from runner.errors import FatalError

from .client import Decision, HttpClient, Protocol, Reply
from .options_read import (
    DEFAULT_MAX_PAGES,
    CursorPaging,
    NextUrlPaging,
    OffsetPaging,
    PagePaging,
    RelayPaging,
)
from .options_read import Paging as PagingOptions

__all__ = ["PageRequest", "Paging", "graphql_pages", "pages", "relay", "rest_pages"]

Kind = Literal["page", "offset", "cursor", "relay", "link", "next_url"]


@dataclass(frozen=True)
class Paging:
    """What a ``pagination`` option says, flattened for the pager; the defaults are the option
    classes' (:mod:`connectors.http.options_read`), the values here only fill kinds that do
    not use a field."""

    kind: Kind | None = None  # None: one request, one page
    where: Literal["query", "body"] = "query"
    param: str = ""  # page number, cursor or relay variable
    size_param: str | None = None
    size: int | None = None
    start: int = 0
    offset_param: str = ""
    limit_param: str = ""
    limit: int = 0
    next_path: str = ""
    page_info: str = ""
    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def from_options(
        cls, options: PagingOptions | None, *, where: Literal["query", "body"] = "query"
    ) -> Paging:
        """``where`` is the protocol's default place for the values (GraphQL and JSON-RPC
        have no useful query string, so they default to the body)."""
        if options is None:
            return cls()
        common = cls(kind=options.type, where=options.in_ or where,
                     max_pages=options.max_pages)
        if isinstance(options, PagePaging):
            return replace(common, param=options.param, size_param=options.size_param,
                           size=options.size, start=options.start)
        if isinstance(options, OffsetPaging):
            return replace(common, offset_param=options.offset_param,
                           limit_param=options.limit_param, limit=options.limit)
        if isinstance(options, CursorPaging):
            return replace(common, param=options.param, next_path=options.next_path)
        if isinstance(options, RelayPaging):
            return replace(common, param=options.param, page_info=options.page_info)
        if isinstance(options, NextUrlPaging):
            return replace(common, next_path=options.next_path)
        return common  # link: the Link header says it all


@dataclass
class PageRequest:
    """The first page's request. ``body`` is the whole JSON body (MISSING for none);
    ``data_key`` names the member of it that paging values go into when ``in: body``
    (``variables`` for GraphQL, ``params`` for JSON-RPC, None for the body itself)."""

    method: str
    target: str
    records: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = MISSING
    protocol: Protocol = "rest"
    data_key: str | None = None


def _checked(reply: Reply, protocol: Protocol) -> Any:
    """The decoded body of a page, or FatalError when the page is unusable."""
    if reply.decision not in (Decision.OK, Decision.IGNORE):
        embedded = reply.embedded_error(protocol) if protocol != "rest" else None
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
            "to the path of the list (\"\" for a top-level list)"
        )
    return records


class _Walk:
    """One walk through a listing: where the next page is, and the never-ending guard."""

    def __init__(self, request: PageRequest, paging: Paging) -> None:
        self.req = request
        self.paging = paging
        self.query = dict(request.query)
        # paging values are written into a private copy of the body, page after page
        self.body = MISSING if request.body is MISSING else copy.deepcopy(request.body)
        self.target = request.target
        self.number = paging.start
        self.offset = 0
        self.token: Any = None  # the cursor or URL that fetched the current page
        self.fingerprint: bytes | None = None
        self.count = 0
        kind = paging.kind
        if kind == "page":
            self.place(paging.param, self.number)
            if paging.size_param and paging.size:
                self.place(paging.size_param, paging.size)
        elif kind == "offset":
            self.place(paging.offset_param, 0)
            self.place(paging.limit_param, paging.limit)

    def place(self, name: str, value: Any) -> None:
        if self.paging.where == "query":
            self.query[name] = value
            return
        if self.body is MISSING or self.body is None:
            self.body = {}
        node = self.body
        if self.req.data_key is not None:
            node = node.setdefault(self.req.data_key, {})
        *parents, last = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    def send(self, client: HttpClient) -> Reply:
        self.count += 1
        return client.send(self.req.method, self.target, params=self.query, body=self.body,
                           protocol=self.req.protocol)

    def next_token(self, data: Any, reply: Reply) -> Any:
        """The cursor or URL of the next page claimed by this response (None: none)."""
        kind, paging = self.paging.kind, self.paging
        if kind == "cursor":
            token = get_path(data, paging.next_path)
        elif kind == "relay":
            info = get_path(data, paging.page_info)
            if not isinstance(info, Mapping) or not info.get("hasNextPage"):
                return None
            token = info.get("endCursor")
            if token in (None, ""):
                raise FatalError(
                    f"{reply.where()}: pageInfo says hasNextPage but gives no endCursor at "
                    f"{paging.page_info!r}; ask for endCursor in the query"
                )
        elif kind == "link":
            token = reply.response.links.get("next", {}).get("url")
        elif kind == "next_url":
            token = get_path(data, paging.next_path)
        else:
            return None
        return None if token in (None, "", MISSING) else token

    def check(self, records: list[Any], token: Any, reply: Reply) -> None:
        """Refuse a listing that would never end (see the module docstring)."""
        where = reply.where()
        if not records and token is not None:
            raise FatalError(
                f"{where}: page {self.count} is empty but claims a next page ({token!r}); the "
                "listing would never end. Check the records path and the pagination options"
            )
        if token is not None and token == self.token:
            raise FatalError(
                f"{where}: page {self.count} points to the same next page as the one before "
                f"({token!r}); the API is not advancing. Check pagination.param and next_path"
            )
        if records:
            fingerprint = hashlib.blake2b(orjson.dumps(records), digest_size=16).digest()
            if fingerprint == self.fingerprint:
                raise FatalError(
                    f"{where}: page {self.count} holds the same items as the page before; the "
                    "API ignores the paging values. Check pagination (param names, `in`)"
                )
            self.fingerprint = fingerprint

    def advance(self, client: HttpClient, records: list[Any], token: Any) -> bool:
        """Set up the next request; False when the listing is complete."""
        kind, paging = self.paging.kind, self.paging
        # A short page is not the end of a page/offset listing: servers cap the page size.
        more = bool(records) if kind in ("page", "offset") else token is not None
        if not more:
            return False
        if self.count >= paging.max_pages:
            raise FatalError(
                f"{self.req.method} {self.req.target}: the listing goes on past "
                f"pagination.max_pages ({paging.max_pages}) pages; raise max_pages if it is "
                "really that long, otherwise the API is looping"
            )
        if kind == "page":
            self.number += 1
            self.place(paging.param, self.number)
        elif kind == "offset":
            self.offset += len(records)
            self.place(paging.offset_param, self.offset)
        elif kind in ("cursor", "relay"):
            self.place(paging.param, token)
        else:
            if not isinstance(token, str):
                raise FatalError(f"next-page link {token!r} is not a URL; check next_path")
            self.target = client.follow(token)
            self.query = {}  # the link carries its own query string
        self.token = token
        return True


def pages(client: HttpClient, request: PageRequest, paging: Paging) -> Iterator[list[Any]]:
    """Yield each page's items, from the first page to the last, streaming."""
    walk = _Walk(request, paging)
    while True:
        reply = walk.send(client)
        if reply.decision is Decision.IGNORE:
            return
        data = _checked(reply, request.protocol)
        records = _records(data, request.records, reply)
        token = walk.next_token(data, reply)
        walk.check(records, token, reply)
        if records:
            yield records
        if not walk.advance(client, records, token):
            return


def rest_pages(
    client: HttpClient, *, method: str, path: str, params: Mapping[str, Any], body: Any,
    records_path: str, pagination: PagingOptions | None,
) -> Iterator[list[Any]]:
    """:func:`pages` for one REST request (the form the write side's ``match`` calls)."""
    request = PageRequest(method.upper(), path, records=records_path, query=dict(params),
                          body=body)
    return pages(client, request, Paging.from_options(pagination))


def relay(page_info: str | None, cursor_variable: str) -> RelayPaging | None:
    """The paging a GraphQL block's shorter ``page_info`` (+ ``cursor_variable``) stands for:
    the form kept from before ``pagination`` applied to GraphQL."""
    if not page_info:
        return None
    return RelayPaging(type="relay", page_info=page_info, param=cursor_variable)


def graphql_pages(
    client: HttpClient, *, path: str, records: str, query: str, variables: Mapping[str, Any],
    pagination: PagingOptions | None,
) -> Iterator[list[Any]]:
    """:func:`pages` for a GraphQL query (the form the write side's ``match`` calls)."""
    request = PageRequest(
        "POST", path, records=records, body={"query": query, "variables": dict(variables)},
        protocol="graphql", data_key="variables",
    )
    return pages(client, request, Paging.from_options(pagination, where="body"))
