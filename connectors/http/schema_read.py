"""The read side of the http connector's options: paging, the read request (REST, GraphQL,
JSON-RPC), field selection by path, and ``destination.list``. One description of paging serves
sources and listings alike (:mod:`connectors.http.pagination` implements it)."""

from __future__ import annotations

from typing import Any

__all__ = ["GRAPHQL_READ", "JSONRPC_READ", "LIST", "PAGINATION", "REQUEST", "SELECT"]

_STR = {"type": "string"}

_PAGE_COMMON: dict[str, Any] = {
    "in": {
        "enum": ["query", "body"],
        "description": "Where the paging values go: the query string, or the request's data "
        "(the JSON body of a REST request, the variables of a GraphQL query, the params of a "
        "JSON-RPC call; a dotted name such as `page.offset` nests them). Default: query for "
        "REST, body for GraphQL and JSON-RPC.",
        "examples": ["body"],
    },
    "max_pages": {
        "type": "integer", "minimum": 1, "default": 100000,
        "description": "Refuse a listing longer than this many pages (a guard against an API "
        "that never stops claiming a next page).",
        "examples": [100000],
    },
}


def _paging(kind: str, description: str, **properties: Any) -> dict[str, Any]:
    required = [name for name, spec in properties.items() if spec.pop("required", False)]
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "required": ["type", *required],
        "properties": {"type": {"const": kind, "description": description},
                       **properties, **_PAGE_COMMON},
    }


PAGINATION: dict[str, Any] = {
    "type": "object",
    "description": "How to get the next page. Every page is read; an empty page ends a "
    "page/offset listing, a missing next cursor or link ends the others. A next cursor equal to "
    "the last, a page equal to the last, or an empty page claiming a next one stops the read "
    "with an error.",
    "required": ["type"],
    "examples": [{"type": "offset", "offset_param": "skip", "limit_param": "take",
                  "limit": 1000, "in": "body"}],
    "oneOf": [
        _paging(
            "page", "Page numbers.",
            param={**_STR, "default": "page", "description": "Page parameter.",
                   "examples": ["page"]},
            size_param={**_STR, "description": "Page size parameter.", "examples": ["per_page"]},
            size={"type": "integer", "minimum": 1, "description": "Page size.",
                  "examples": [100]},
            start={"type": "integer", "default": 1, "description": "First page number.",
                   "examples": [1]},
        ),
        _paging(
            "offset", "Offset and limit; skip/take is this with other parameter names. The "
            "offset advances by the items received (servers may cap the limit).",
            offset_param={**_STR, "default": "offset", "description": "Offset parameter.",
                          "examples": ["offset", "skip"]},
            limit_param={**_STR, "default": "limit", "description": "Limit parameter.",
                         "examples": ["limit", "take"]},
            limit={"type": "integer", "minimum": 1, "default": 100,
                   "description": "Page size asked for.", "examples": [100]},
        ),
        _paging(
            "cursor", "An opaque cursor from the body sent back as a parameter.",
            param={**_STR, "default": "cursor", "description": "Cursor parameter.",
                   "examples": ["cursor"]},
            next_path={**_STR, "default": "next_cursor",
                       "description": "Path of the next cursor in the body.",
                       "examples": ["meta.next_cursor"]},
        ),
        _paging(
            "relay", "Relay cursors: `pageInfo {hasNextPage endCursor}` (GraphQL connections).",
            page_info={**_STR, "required": True, "description": "Path of pageInfo.",
                       "examples": ["data.products.pageInfo"]},
            param={**_STR, "default": "after", "description": "Variable receiving endCursor.",
                   "examples": ["after"]},
        ),
        _paging("link", "RFC 5988 `Link: <...>; rel=\"next\"` header."),
        _paging(
            "next_url", "The next page's URL in the body.",
            next_path={**_STR, "default": "links.next", "description": "Path of the next URL.",
                       "examples": ["links.next"]},
        ),
    ],
}

REQUEST: dict[str, Any] = {
    "type": "object",
    "description": "The read request; `{cursor}` in params is the incremental watermark "
    "(the parameter is left out on a first run).",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "method": {**_STR, "default": "GET", "description": "HTTP method.", "examples": ["GET"]},
        "path": {**_STR, "description": "Path relative to base_url.", "examples": ["/v1/orders"]},
        "params": {
            "type": "object",
            "description": "Query parameters (templates).",
            "examples": [{"updated_since": "{cursor}", "limit": 100}],
        },
        "body": {"description": "JSON body template (POST searches).", "examples": [{}]},
    },
}

GRAPHQL_READ: dict[str, Any] = {
    "type": "object",
    "description": "Read through a GraphQL query; page with `pagination` (relay cursors, "
    "offset or skip/take variables) or the shorter `page_info`.",
    "additionalProperties": False,
    "required": ["query", "records"],
    "properties": {
        "path": {**_STR, "default": "/graphql", "description": "GraphQL endpoint path.",
                 "examples": ["/graphql"]},
        "query": {**_STR, "description": "The query document; declare the paging variables "
                  "(`$after`, or `$skip`/`$take`).",
                  "examples": ["query($after: String) { orders(after: $after) { ... } }"]},
        "variables": {"type": "object", "default": {},
                      "description": "Variables (templates; `{cursor}` available).",
                      "examples": [{"since": "{cursor}"}]},
        "records": {**_STR, "description": "Path of the records list.",
                    "examples": ["data.orders.nodes", "data.orders.edges"]},
        "page_info": {**_STR, "description": "Path of pageInfo {hasNextPage, endCursor}: the "
                      "same as `pagination: {type: relay, page_info: ...}`.",
                      "examples": ["data.orders.pageInfo"]},
        "cursor_variable": {**_STR, "default": "after",
                            "description": "Variable receiving endCursor (with page_info).",
                            "examples": ["after"]},
    },
}

JSONRPC_READ: dict[str, Any] = {
    "type": "object",
    "description": "Read through a JSON-RPC 2.0 call; `pagination` values go into its params.",
    "additionalProperties": False,
    "required": ["method"],
    "properties": {
        "path": {**_STR, "default": "", "description": "Endpoint path (relative to base_url).",
                 "examples": ["/jsonrpc"]},
        "method": {**_STR, "description": "Remote method.", "examples": ["product.search"]},
        "params": {"type": "object", "default": {},
                   "description": "Params (templates; `{cursor}` available).",
                   "examples": [{"domain": [], "fields": ["id", "default_code"]}]},
        "records": {**_STR, "default": "result", "description": "Path of the records list.",
                    "examples": ["result", "result.records"]},
    },
}

SELECT: dict[str, Any] = {
    "type": "object",
    "description": "Build each record from paths into the item (`a.b`, `lines[0].sku`, "
    "quoted odd keys `carrier[\"carrier_product.\"]`). A path with no value sends the item "
    "to quarantine naming the path, unless the field is optional (then null).",
    "examples": [{"sku": "variant.sku", "carrier": "carrier_product[\"carrier_product.\"]"}],
    "additionalProperties": {
        "oneOf": [
            {**_STR, "description": "Path of the field's value."},
            {
                "type": "object",
                "description": "A path that may be absent.",
                "additionalProperties": False,
                "required": ["path"],
                "properties": {
                    "path": {**_STR, "description": "Path of the field's value.",
                             "examples": ["customer.email"]},
                    "optional": {"type": "boolean", "default": False,
                                 "description": "Null instead of quarantine when absent.",
                                 "examples": [True]},
                },
            },
        ],
    },
}

LIST: dict[str, Any] = {
    "type": "object",
    "description": "How to list the destination (natural key -> id) for a complete sync: a "
    "REST request, a GraphQL query or a JSON-RPC call, read to its last page.",
    "additionalProperties": False,
    "required": ["id_path"],
    "oneOf": [{"required": ["path"]}, {"required": ["graphql"]}, {"required": ["jsonrpc"]}],
    "properties": {
        "method": {**_STR, "default": "GET", "description": "HTTP method.",
                   "examples": ["GET", "POST"]},
        "path": {**_STR, "description": "List path.", "examples": ["/v1/products"]},
        "params": {"type": "object", "description": "Query parameters.",
                   "examples": [{"fields": "id,sku"}]},
        "body": {"description": "JSON body (POST searches).", "examples": [{"filter": {}}]},
        "graphql": GRAPHQL_READ,
        "jsonrpc": JSONRPC_READ,
        "records": {**_STR, "default": "data", "description": "Path of the records list "
                    "(REST; GraphQL and JSON-RPC say it in their block).",
                    "examples": ["data"]},
        "key_fields": {"type": "array", "items": {"type": "string"},
                       "description": "Paths of the natural key's fields (default: the step "
                       "key).", "examples": [["sku"], ["node.sku"]]},
        "id_path": {**_STR, "description": "Path of the id in a record.",
                    "examples": ["id", "node.id"]},
        "pagination": PAGINATION,
    },
}

