"""The read side of the http connector's options, typed: paging, the read request (REST,
GraphQL, JSON-RPC), field selection by path, and ``destination.list``. One description of
paging serves sources and listings alike (:mod:`connectors.http.pagination` implements it)."""

# No `from __future__ import annotations`: the option types are made once, when the class
# body runs, instead of compiled from strings when the schema is generated.

from typing import Any, ClassVar, Literal

from connectors.api import Options, option

__all__ = [
    "DEFAULT_MAX_PAGES",
    "CursorPaging",
    "GraphqlRead",
    "JsonrpcRead",
    "LinkPaging",
    "ListOptions",
    "NextUrlPaging",
    "OffsetPaging",
    "PagePaging",
    "Paging",
    "ReadRequest",
    "RelayPaging",
    "SelectPath",
]

DEFAULT_MAX_PAGES = 100000


# Every form of paging ends with the same two options: one declaration each.
def _in_option() -> Any:
    return option(
        default=None,
        description="Where the paging values go: the query string, or the request's data "
        "(the JSON body of a REST request, the variables of a GraphQL query, the params of a "
        "JSON-RPC call; a dotted name such as `page.offset` nests them). Default: query for "
        "REST, body for GraphQL and JSON-RPC.",
        examples=["body"], name="in")


def _max_pages_option() -> Any:
    return option(
        default=DEFAULT_MAX_PAGES, minimum=1,
        description="Refuse a listing longer than this many pages (a guard against an API "
        "that never stops claiming a next page).",
        examples=[100000])


class PagePaging(Options):
    doc: ClassVar[str] = "Page numbers."
    type: Literal["page"] = option(description=doc)
    param: str = option(default="page", description="Page parameter.", examples=["page"])
    size_param: str | None = option(default=None, description="Page size parameter.",
                                    examples=["per_page"])
    size: int | None = option(default=None, minimum=1, description="Page size.", examples=[100])
    start: int = option(default=1, description="First page number.", examples=[1])
    in_: Literal["query", "body"] | None = _in_option()
    max_pages: int = _max_pages_option()


class OffsetPaging(Options):
    doc: ClassVar[str] = (
        "Offset and limit; skip/take is this with other parameter names. The offset advances "
        "by the items received (servers may cap the limit).")
    type: Literal["offset"] = option(description=doc)
    offset_param: str = option(default="offset", description="Offset parameter.",
                               examples=["offset", "skip"])
    limit_param: str = option(default="limit",
                              description="Limit parameter.", examples=["limit", "take"])
    limit: int = option(default=100, minimum=1, description="Page size asked for.", examples=[100])
    in_: Literal["query", "body"] | None = _in_option()
    max_pages: int = _max_pages_option()


class CursorPaging(Options):
    doc: ClassVar[str] = "An opaque cursor from the body sent back as a parameter."
    type: Literal["cursor"] = option(description=doc)
    param: str = option(default="cursor", description="Cursor parameter.", examples=["cursor"])
    next_path: str = option(default="next_cursor",
                            description="Path of the next cursor in the body.",
                            examples=["meta.next_cursor"])
    in_: Literal["query", "body"] | None = _in_option()
    max_pages: int = _max_pages_option()


class RelayPaging(Options):
    doc: ClassVar[str] = (
        "Relay cursors: `pageInfo {hasNextPage endCursor}` (GraphQL connections).")
    type: Literal["relay"] = option(description=doc)
    page_info: str = option(description="Path of pageInfo.",
                            examples=["data.products.pageInfo"])
    param: str = option(default="after", description="Variable receiving endCursor.",
                        examples=["after"])
    in_: Literal["query", "body"] | None = _in_option()
    max_pages: int = _max_pages_option()


class LinkPaging(Options):
    doc: ClassVar[str] = "RFC 5988 `Link: <...>; rel=\"next\"` header."
    type: Literal["link"] = option(description=doc)
    in_: Literal["query", "body"] | None = _in_option()
    max_pages: int = _max_pages_option()


class NextUrlPaging(Options):
    doc: ClassVar[str] = "The next page's URL in the body."
    type: Literal["next_url"] = option(description=doc)
    next_path: str = option(default="links.next", description="Path of the next URL.",
                            examples=["links.next"])
    in_: Literal["query", "body"] | None = _in_option()
    max_pages: int = _max_pages_option()


Paging = PagePaging | OffsetPaging | CursorPaging | RelayPaging | LinkPaging | NextUrlPaging


def pagination_option() -> Any:
    return option(
        default=None,
        description="How to get the next page. Every page is read; an empty page ends a "
        "page/offset listing, a missing next cursor or link ends the others. A next cursor "
        "equal to the last, a page equal to the last, or an empty page claiming a next one "
        "stops the read with an error.",
        examples=[{"type": "offset", "offset_param": "skip", "limit_param": "take",
                   "limit": 1000, "in": "body"}])


class ReadRequest(Options):
    method: str = option(default="GET", description="HTTP method.", examples=["GET"])
    path: str = option(description="Path relative to base_url.", examples=["/v1/orders"])
    params: dict[str, Any] | None = option(
        default=None, description="Query parameters (templates).",
        examples=[{"updated_since": "{cursor}", "limit": 100}])
    body: Any = option(default=None,
                       description="JSON body template (POST searches).", examples=[{}])


class GraphqlRead(Options):
    path: str = option(default="/graphql",
                       description="GraphQL endpoint path.", examples=["/graphql"])
    query: str = option(
        description="The query document; declare the paging variables (`$after`, or "
        "`$skip`/`$take`).",
        examples=["query($after: String) { orders(after: $after) { ... } }"])
    variables: dict[str, Any] = option(
        default={}, description="Variables (templates; `{cursor}` available).",
        examples=[{"since": "{cursor}"}])
    records: str = option(description="Path of the records list.",
                          examples=["data.orders.nodes", "data.orders.edges"])
    page_info: str | None = option(
        default=None, description="Path of pageInfo {hasNextPage, endCursor}: the same as "
        "`pagination: {type: relay, page_info: ...}`.", examples=["data.orders.pageInfo"])
    cursor_variable: str = option(default="after",
                                  description="Variable receiving endCursor (with page_info).",
                                  examples=["after"])


def graphql_read_option() -> Any:
    return option(
        default=None,
        description="Read through a GraphQL query; page with `pagination` (relay cursors, "
        "offset or skip/take variables) or the shorter `page_info`.")


class JsonrpcRead(Options):
    path: str = option(default="", description="Endpoint path (relative to base_url).",
                       examples=["/jsonrpc"])
    method: str = option(description="Remote method.", examples=["product.search"])
    params: dict[str, Any] = option(
        default={}, description="Params (templates; `{cursor}` available).",
        examples=[{"domain": [], "fields": ["id", "default_code"]}])
    records: str = option(default="result", description="Path of the records list.",
                          examples=["result", "result.records"])


def jsonrpc_read_option() -> Any:
    return option(
        default=None,
        description="Read through a JSON-RPC 2.0 call; `pagination` values go into its "
        "params.")


class SelectPath(Options):
    doc: ClassVar[str] = "A path that may be absent."
    path: str = option(description="Path of the field's value.", examples=["customer.email"])
    optional: bool = option(default=False, description="Null instead of quarantine when absent.",
                            examples=[True])


def select_option() -> Any:
    return option(
        default=None,
        description="Build each record from paths into the item (`a.b`, `lines[0].sku`, "
        "quoted odd keys `carrier[\"carrier_product.\"]`). A path with no value sends the item "
        "to quarantine naming the path, unless the field is optional (then null).",
        examples=[{"sku": "variant.sku", "carrier": "carrier_product[\"carrier_product.\"]"}],
        variants=[{"description": "Path of the field's value."}, {}])


class ListOptions(Options):
    schema_extra: ClassVar[dict[str, Any]] = {
        "oneOf": [{"required": ["path"]}, {"required": ["graphql"]}, {"required": ["jsonrpc"]}],
    }

    method: str = option(default="GET", description="HTTP method.", examples=["GET", "POST"])
    path: str | None = option(default=None, description="List path.", examples=["/v1/products"])
    params: dict[str, Any] | None = option(default=None, description="Query parameters.",
                                           examples=[{"fields": "id,sku"}])
    body: Any = option(default=None, description="JSON body (POST searches).",
                       examples=[{"filter": {}}])
    graphql: GraphqlRead | None = graphql_read_option()
    jsonrpc: JsonrpcRead | None = jsonrpc_read_option()
    records: str = option(default="data", description="Path of the records list (REST; GraphQL and "
                          "JSON-RPC say it in their block).", examples=["data"])
    key_fields: tuple[str, ...] | None = option(
        default=None, description="Paths of the natural key's fields (default: the step key).",
        examples=[["sku"], ["node.sku"]])
    id_path: str = option(description="Path of the id in a record.", examples=["id", "node.id"])
    pagination: Paging | None = pagination_option()


def list_option() -> Any:
    return option(
        default=None,
        description="How to list the destination (natural key -> id) for a complete sync: a "
        "REST request, a GraphQL query or a JSON-RPC call, read to its last page.")
