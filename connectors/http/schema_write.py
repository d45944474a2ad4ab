"""JSON Schemas of the write requests of the http destination: one action, and ``match``.

Kept apart from :mod:`connectors.http.schema` (connection, auth, reads) so that each stays a
readable size; ``schema`` assembles the destination's options from both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ACTION", "level_schema", "match_schema"]

_STR = {"type": "string"}

_MATCH: dict[str, Any] = {
    "type": "object",
    "description": "Ask the destination which natural keys it already holds: a REST GET with "
    "the keys in the query (`{keys}`) or one key in the path (`{key}` or a key field), or a "
    "GraphQL query with the keys as a list variable. Used before re-sending creates a crash "
    "may have delivered, and before every create with `when: always`.",
    "additionalProperties": False,
    "required": ["id_path"],
    "properties": {
        "when": {"enum": ["recovery", "always"], "default": "recovery",
                 "description": "recovery: only for creates a crash may have sent; always: "
                 "before every create too (adopts objects made outside the runner).",
                 "examples": ["always"]},
        "method": {**_STR, "default": "GET", "description": "HTTP method (REST).",
                   "examples": ["GET"]},
        "path": {**_STR, "description": "Lookup path; a placeholder in it (`{key}`, `{sku}`) "
                 "means one key per request, and a 404 means absent (default /graphql with "
                 "`graphql`).", "examples": ["/v1/products", "/v1/products/by-sku/{key}"]},
        "params": {"type": "object", "description": "Query parameter templates; `{keys}` is "
                   "the keys of one request.", "examples": [{"sku": "{keys}"}]},
        "keys_as": {"enum": ["comma", "repeat"], "default": "comma",
                    "description": "How `{keys}` goes in a query parameter: joined with commas "
                    "or the parameter repeated.", "examples": ["repeat"]},
        "batch": {"type": "integer", "minimum": 1, "default": 1,
                  "description": "Keys per request where the API takes several; requests "
                  "run in parallel, bounded by max_in_flight.", "examples": [50]},
        "records": {**_STR, "default": "data", "description": "Dotted path of the list of "
                    "matching objects.", "examples": ["data", "data.products.nodes"]},
        "key_fields": {"type": "array", "items": {"type": "string"},
                       "description": "Fields of an object forming its natural key (default: "
                       "the step key).", "examples": [["sku"]]},
        "id_path": {**_STR, "description": "Dotted path of the id in one object.",
                    "examples": ["id"]},
        "graphql": {
            "type": "object",
            "description": "Match through a GraphQL query instead of REST.",
            "additionalProperties": False,
            "required": ["document"],
            "properties": {
                "document": {**_STR, "description": "The query, sent verbatim; declare "
                             "`$after` for paging.", "examples": [
                                 "query($skus: [String!]!, $after: String) { ... }"]},
                "variables": {"type": "object", "description": "Variables (templates; "
                              "`{keys}` is the list of keys).",
                              "examples": [{"skus": "{keys}"}]},
                "page_info": {**_STR, "description": "Dotted path of pageInfo {hasNextPage, "
                              "endCursor}; without it only one page is read.",
                              "examples": ["data.products.pageInfo"]},
                "cursor_variable": {**_STR, "default": "after",
                                    "description": "Variable receiving endCursor.",
                                    "examples": ["after"]},
            },
        },
    },
}

ACTION: dict[str, Any] = {
    "type": "object",
    "description": "The request for one action. Strings may hold `{field}`, `{field.sub}`, "
    "`{dest_id}`, `{key}`, `{idempotency_key}`; `\"{record}\"` is the whole record.",
    "additionalProperties": False,
    "properties": {
        "method": {**_STR, "default": "POST", "description": "HTTP method.",
                   "examples": ["PUT"]},
        "path": {**_STR, "description": "Path template (values are percent-encoded).",
                 "examples": ["/v1/orders/{order_id}/shipments"]},
        "params": {"type": "object", "description": "Query parameter templates.",
                   "examples": [{"notify": "false"}]},
        "headers": {"type": "object", "description": "Extra header templates.",
                    "examples": [{"X-Source": "erp"}]},
        "body": {"description": "JSON body template; omitted for none.",
                 "examples": ["{record}", {"sku": "{sku}", "qty": "{available}"}]},
        "id_path": {**_STR, "description": "Dotted path of the new id in the response.",
                    "examples": ["data.id"]},
        "graphql": {
            "type": "object",
            "description": "Send a GraphQL mutation instead of `body`. Top-level `errors`, a "
            "non-empty `userErrors` and results typed `...Error` or carrying `errorCode` "
            "quarantine the record (a `responses` rule can relax that).",
            "additionalProperties": False,
            "required": ["document"],
            "properties": {
                "document": {**_STR, "description": "The mutation, sent verbatim (not a "
                             "template: record values go in `variables`).",
                             "examples": ["mutation($input: OrderInput!) { ... }"]},
                "variables": {"description": "Variables template: the only way record "
                              "values reach the document.",
                              "examples": [{"input": "{record}"}]},
            },
        },
        "jsonrpc": {
            "type": "object",
            "description": "Send a JSON-RPC call instead of `body`; an `error` member in the "
            "answer (whatever its status) quarantines the record.",
            "additionalProperties": False,
            "required": ["method"],
            "properties": {
                "method": {**_STR, "description": "Remote method.", "examples": ["order.ship"]},
                "params": {"description": "Params template.", "examples": ["{record}"]},
                "version": {
                    "enum": ["2.0", "1.0", "none"], "default": "2.0",
                    "description": "The `jsonrpc` member sent: \"2.0\", \"1.0\", or none to "
                    "send plain `{id, method, params}` (servers that treat the member as "
                    "another protocol variant).",
                    "examples": ["2.0", "none"],
                },
            },
        },
        "batch": {
            "type": "object",
            "description": "Send many records per request: a REST list body, or a GraphQL "
            "document repeating the mutation under aliases (each record's answer, id and "
            "errors mapped back to it). Not for JSON-RPC.",
            "additionalProperties": False,
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "description": "Records per request.",
                         "examples": [500]},
                "method": {**_STR, "description": "Method of the batch request (default: the "
                           "action's).", "examples": ["POST"]},
                "path": {**_STR, "description": "Path of the batch request.",
                         "examples": ["/v1/orders/batch"]},
                "body": {"description": "Wrapper; `\"{records}\"` is the list of rendered "
                         "bodies.", "default": "{records}",
                         "examples": [{"records": "{records}"}]},
                "results": {**_STR, "description": "Dotted path of the per-record results "
                            "(in request order).", "examples": ["data"]},
                "id_path": {**_STR, "description": "Id path inside one result.",
                            "examples": ["id"]},
                "error_path": {**_STR, "default": "error",
                               "description": "Error path inside one result.",
                               "examples": ["error"]},
            },
        },
    },
}


def match_schema(pagination: Mapping[str, Any]) -> dict[str, Any]:
    """``match`` with the listing's pagination forms (declared in ``schema``)."""
    return {**_MATCH, "properties": {**_MATCH["properties"], "pagination": pagination}}


_FROM_PARENT: dict[str, Any] = {
    "type": "object",
    "description": "Take this level's ids from the parent's answer, for APIs whose parent call "
    "creates the children inline (a product create that returns its variants).",
    "additionalProperties": False,
    "required": ["records", "id_path"],
    "properties": {
        "records": {"description": "Dotted path of the children in the parent's answer; or "
                    "one path per parent action.", "oneOf": [
                        _STR, {"type": "object", "additionalProperties": _STR}],
                    "examples": ["data.productCreate.product.variants",
                                 {"create": "product.variants", "update": "product.variants"}]},
        "key_fields": {"type": "array", "items": _STR, "minItems": 1,
                       "description": "Fields of a child in the answer forming its key "
                       "(default: the level's key).", "examples": [["sku"]]},
        "id_path": {**_STR, "description": "Dotted path of the id in one child.",
                    "examples": ["id"]},
    },
}


def level_schema(pagination: Mapping[str, Any], depth: int = 2) -> dict[str, Any]:
    """One level of ``then``: dependent calls per record (nested ``depth`` levels deep)."""
    properties: dict[str, Any] = {
        "name": {**_STR, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                 "description": "The level's name; its state is kept as `<step>.<name>`.",
                 "examples": ["variants"]},
        "entity": {**_STR, "description": "Key map entity of the level's ids (default: its "
                   "name), readable by later steps.", "examples": ["variants"]},
        "for_each": {**_STR, "description": "Dotted path of a list of objects in the parent "
                     "item: one call per object. Absent: one call per parent item.",
                     "examples": ["variants"]},
        "key": {"description": "Field (or fields) of an item forming its natural key, unique "
                "within the entity.", "oneOf": [_STR, {"type": "array", "items": _STR,
                                                         "minItems": 1}],
                "examples": ["sku", ["sku", "location"]]},
        "fields": {"type": "array", "items": _STR, "description": "The fields an item "
                   "carries, if known: `validate` checks `{item.field}` against them.",
                   "examples": [["sku", "size", "available"]]},
        "from_parent": _FROM_PARENT,
        "upsert": ACTION, "create": ACTION, "update": ACTION,
        "match": match_schema(pagination),
        "idempotency_key": {"type": "object", "additionalProperties": False,
                            "description": "Send each call's idempotency key.",
                            "properties": {"header": {**_STR, "default": "Idempotency-Key",
                                                      "description": "Header name.",
                                                      "examples": ["Idempotency-Key"]}}},
    }
    if depth > 1:
        properties["then"] = {"type": "array", "items": level_schema(pagination, depth - 1),
                              "description": "Levels under this one.",
                              "examples": [[{"name": "stock", "key": "sku", "upsert": {
                                  "path": "/v1/inventory", "body": "{item}"}}]]}
    return {
        "type": "object",
        "description": "Calls per item of a record: templates can use `{item.field}`, "
        "`{parent.id}` (the parent's id at the destination), `{parent.key}`, "
        "`{parent.item.field}`, `{key}`, `{dest_id}`, `{idempotency_key}`.",
        "additionalProperties": False,
        "required": ["name", "key"],
        "anyOf": [{"required": r} for r in (["upsert"], ["create"], ["update"],
                                            ["from_parent"], ["then"])],
        "properties": properties,
    }
