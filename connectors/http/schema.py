"""JSON Schemas (2020-12) of the http connector's source and destination options.

Every property has a description; credentials carry ``"secret": true`` so the loader registers
their values with the redactor and ``connectors docs`` marks them.
"""

from __future__ import annotations

from typing import Any

from .schema_read import GRAPHQL_READ, JSONRPC_READ, LIST, PAGINATION, REQUEST, SELECT
from .schema_write import ACTION as _ACTION
from .schema_write import level_schema, match_schema

__all__ = ["DESTINATION_OPTIONS", "SOURCE_OPTIONS"]

_STR = {"type": "string"}


def _secret(description: str, example: str) -> dict[str, Any]:
    return {"type": "string", "secret": True, "description": description, "examples": [example]}


_AUTH: dict[str, Any] = {
    "description": "How requests authenticate; one of the forms selected by `type`.",
    "type": "object",
    "required": ["type"],
    "oneOf": [
        {
            "description": "`Authorization: Bearer <token>` on every request.",
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "token"],
            "properties": {
                "type": {"const": "bearer", "description": "Static bearer token."},
                "token": _secret("The bearer token.", "${STORE_TOKEN}"),
            },
        },
        {
            "description": "HTTP Basic authentication.",
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "username", "password"],
            "properties": {
                "type": {"const": "basic", "description": "HTTP Basic."},
                "username": {**_STR, "description": "User name. With an empty password it is "
                             "the credential (an API key sent as the user name, e.g. Medusa's "
                             "secret key) and is masked like one.",
                             "examples": ["sync", "${MEDUSA_API_KEY}"]},
                "password": _secret("Password.", "${STORE_PASSWORD}"),
            },
        },
        {
            "description": "An API key sent in a header or a query parameter.",
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "key"],
            "properties": {
                "type": {"const": "api_key", "description": "API key."},
                "key": _secret("The API key.", "${COMMERCE_API_KEY}"),
                "header": {
                    **_STR,
                    "description": "Header carrying the key (default X-API-Key unless `query`).",
                    "examples": ["X-API-Key"],
                },
                "query": {
                    **_STR,
                    "description": "Query parameter carrying the key instead of a header.",
                    "examples": ["api_key"],
                },
            },
        },
        {
            "description": "OAuth 2 client credentials grant; the token is cached until 30 s "
            "before it expires and fetched again once on a 401.",
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "token_url", "client_id", "client_secret"],
            "properties": {
                "type": {"const": "oauth2_client_credentials", "description": "OAuth 2."},
                "token_url": {
                    **_STR,
                    "description": "Token endpoint (absolute, or relative to base_url).",
                    "examples": ["https://auth.example.com/oauth/token"],
                },
                "client_id": {**_STR, "description": "Client id.", "examples": ["erp-sync"]},
                "client_secret": _secret("Client secret.", "${OAUTH_CLIENT_SECRET}"),
                "scope": {**_STR, "description": "Requested scope.", "examples": ["orders:write"]},
            },
        },
        {
            "description": "Log in once (again on a 401) and send the session token it returns.",
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "login"],
            "properties": {
                "type": {"const": "session", "description": "Login session."},
                "login": {
                    "type": "object",
                    "description": "The login request.",
                    "additionalProperties": False,
                    "required": ["path"],
                    "properties": {
                        "method": {
                            **_STR,
                            "default": "POST",
                            "description": "HTTP method of the login request.",
                            "examples": ["POST"],
                        },
                        "path": {
                            **_STR,
                            "description": "Login path (relative to base_url).",
                            "examples": ["/v1/login"],
                        },
                        "body": {
                            "description": "JSON body; put credentials here via ${ENV}.",
                            "secret": True,
                            "examples": [{"user": "sync", "password": "${STORE_PASSWORD}"}],
                        },
                    },
                },
                "token_path": {
                    **_STR,
                    "description": "Dotted path of the token in the login response body.",
                    "examples": ["data.token"],
                },
                "token_header": {
                    **_STR,
                    "description": "Response header carrying the token (instead of token_path).",
                    "examples": ["X-Session-Token"],
                },
                "send_as": {
                    "type": "object",
                    "description": "How the token is sent on later requests.",
                    "additionalProperties": False,
                    "properties": {
                        "header": {
                            **_STR,
                            "default": "Authorization",
                            "description": "Header name.",
                            "examples": ["Authorization"],
                        },
                        "prefix": {
                            **_STR,
                            "default": "Bearer ",
                            "description": "Text before the token.",
                            "examples": ["Bearer "],
                        },
                    },
                },
            },
        },
    ],
}

_RETRY: dict[str, Any] = {
    "type": "object",
    "description": "deprecated: use the step's errors.retry (durations). The http client "
    "makes one attempt per request; the step's retry policy decides when to send it again "
    "(429, 408, 5xx, timeouts; Retry-After is passed on).",
    "additionalProperties": False,
    "default": {"attempts": 5, "backoff": 0.5, "max_backoff": 30},
    "properties": {
        "attempts": {
            "type": "integer",
            "minimum": 1,
            "default": 5,
            "description": "Tries in all, the first included.",
            "examples": [5],
        },
        "backoff": {
            "type": "number",
            "minimum": 0,
            "default": 0.5,
            "description": "Base delay in seconds, doubled per attempt.",
            "examples": [0.5],
        },
        "max_backoff": {
            "type": "number",
            "minimum": 0,
            "default": 30,
            "description": "Upper bound of one delay in seconds (Retry-After included).",
            "examples": [30],
        },
    },
}

_RESPONSES: dict[str, Any] = {
    "type": "array",
    "description": "Rules evaluated in order before the defaults; the first match decides.",
    "default": [],
    "examples": [[{"match": {"status": [409], "contains": "already exists"}, "action": "ignore"}]],
    "items": {
        "type": "object",
        "description": "One rule.",
        "additionalProperties": False,
        "required": ["match", "action"],
        "properties": {
            "match": {
                "type": "object",
                "description": "All given conditions must hold.",
                "additionalProperties": False,
                "properties": {
                    "status": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "Status codes.",
                        "examples": [[409, 422]],
                    },
                    "path": {
                        **_STR,
                        "description": "Dotted path into the JSON body that must be present "
                        "(and non-empty); `contains` then looks in it.",
                        "examples": ["errors"],
                    },
                    "contains": {
                        **_STR,
                        "description": "Text the body (or the value at `path`) must contain.",
                        "examples": ["already exists"],
                    },
                },
            },
            "action": {
                "enum": ["ignore", "retry", "fail", "quarantine"],
                "description": "ignore: treat as success; retry: retry like a 503; fail: stop "
                "the step; quarantine: the record(s) go to quarantine.",
                "examples": ["ignore"],
            },
        },
    },
}

_COMMON: dict[str, Any] = {
    "base_url": {**_STR, "description": "Root URL of the API.",
                 "examples": ["https://store.example.com/api"]},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "default": {},
                "description": "Headers sent on every request.",
                "examples": [{"Accept": "application/json"}]},
    "timeout": {
        "description": "Seconds, or {connect, read}.",
        "default": 30,
        "examples": [30, {"connect": 5, "read": 60}],
        "oneOf": [
            {"type": "number", "exclusiveMinimum": 0, "description": "One timeout for all."},
            {
                "type": "object",
                "description": "Separate timeouts.",
                "additionalProperties": False,
                "properties": {
                    "connect": {"type": "number", "exclusiveMinimum": 0,
                                "description": "Connect timeout (s).", "examples": [5]},
                    "read": {"type": "number", "exclusiveMinimum": 0,
                             "description": "Read timeout (s).", "examples": [60]},
                },
            },
        ],
    },
    "http2": {"type": "boolean", "default": False,
              "description": "Use HTTP/2 (needs the h2 package: pip install 'httpx[http2]').",
              "examples": [False]},
    "verify_tls": {"type": "boolean", "default": True,
                   "description": "Verify TLS certificates; false logs a warning.",
                   "examples": [True]},
    "rate_limit": {"type": "number", "exclusiveMinimum": 0,
                   "description": "Maximum requests per second (token bucket over the client).",
                   "examples": [10]},
    "retry": _RETRY,
    "auth": _AUTH,
    "responses": _RESPONSES,
}

SOURCE_OPTIONS: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "http source",
    "description": "Read records from a REST, GraphQL or JSON-RPC API, page by page.",
    "type": "object",
    "additionalProperties": False,
    "required": ["base_url"],
    "properties": {
        **_COMMON,
        "request": REQUEST,
        "records": {**_STR, "default": "data",
                    "description": "Dotted path of the records list (\"\" for a top-level list).",
                    "examples": ["data", ""]},
        "pagination": PAGINATION,
        "graphql": GRAPHQL_READ,
        "jsonrpc": JSONRPC_READ,
        "select": SELECT,
        "fields": {"type": "array", "items": {"type": "string"},
                   "description": "The fields records carry (checked by the validator).",
                   "examples": [["order_id", "status"]]},
    },
    "oneOf": [{"required": ["request"]}, {"required": ["graphql"]}, {"required": ["jsonrpc"]}],
}

DESTINATION_OPTIONS: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "http destination",
    "description": "Write records to a REST, GraphQL or JSON-RPC API.",
    "type": "object",
    "additionalProperties": False,
    "required": ["base_url"],
    "properties": {
        **_COMMON,
        "max_in_flight": {"type": "integer", "minimum": 1, "default": 4,
                          "description": "Requests in flight at once.", "examples": [4]},
        "idempotency_key": {
            "type": "object",
            "description": "Send the op's idempotency key (a hash of them for a batch).",
            "additionalProperties": False,
            "properties": {"header": {**_STR, "default": "Idempotency-Key",
                                      "description": "Header name.",
                                      "examples": ["Idempotency-Key"]}},
        },
        "upsert": _ACTION,
        "create": _ACTION,
        "update": _ACTION,
        "delete": _ACTION,
        "unpublish": _ACTION,
        "list": LIST,
        "match": match_schema(PAGINATION),
                "then": {
            "type": "array",
            "description": "Dependent calls per record, one entity in one step: e.g. the "
            "product's variants with the product's id, then each variant's stock. A level: "
            "`name`, `key` (an item's natural key), `for_each` (a list field of the parent "
            "item; absent: one call per parent item), `entity` (key map entity, default the "
            "name), `fields` (the items' fields, checked by validate), `upsert`/`create`/"
            "`update` and `match` as above, `from_parent` (`records`, `id_path`, `key_fields`: "
            "ids from the parent's answer when its call creates the children inline) and "
            "`then` (levels under it). Templates use `{item.field}`, `{parent.id}`, "
            "`{parent.key}`, `{parent.item.field}`. Each level keeps its ids in the key map, "
            "its hashes (`<step>.<level>`) and its own crash-safe intents.",
            "items": level_schema(PAGINATION),
            "examples": [[{"name": "variants", "for_each": "variants", "key": "sku",
                           "create": {"path": "/v1/products/{parent.id}/variants",
                                      "body": "{item}", "id_path": "id"}}]],
        },
    },
    "anyOf": [{"required": ["upsert"]}, {"required": ["create"]}, {"required": ["update"]}],
}
