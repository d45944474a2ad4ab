"""The http connector's options, typed: connection, authentication, response rules, and the
source and destination that assemble them with :mod:`~connectors.http.options_read` and
:mod:`~connectors.http.options_write`.

Their JSON Schemas are generated from these classes (every option described; credentials
``secret``, so the loader registers their values with the redactor and the docs mark them)."""

# No `from __future__ import annotations`: the option types are made once, when the class
# body runs, instead of compiled from strings when the schema is generated.

from typing import Any, ClassVar, Literal

from connectors.api import Options, option

from .options_read import (
    GraphqlRead,
    JsonrpcRead,
    ListOptions,
    Paging,
    ReadRequest,
    SelectPath,
    graphql_read_option,
    jsonrpc_read_option,
    list_option,
    pagination_option,
    select_option,
)
from .options_write import Action, IdempotencyKey, Level, Match, action_option, match_option

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_TIMEOUT",
    "ApiKeyAuth",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "HttpDestinationOptions",
    "HttpOptions",
    "HttpSourceOptions",
    "OAuth2Auth",
    "ResponseRule",
    "SessionAuth",
    "Timeouts",
]


DEFAULT_TIMEOUT = 30  # seconds, for connect and read alike
# Requests in flight at once: a destination's option; a source's client reads sequentially.
DEFAULT_MAX_IN_FLIGHT = 4


def _secret(description: str, example: str) -> Any:
    return option(description=description, examples=[example], secret=True)


class BearerAuth(Options):
    doc: ClassVar[str] = "`Authorization: Bearer <token>` on every request."
    type: Literal["bearer"] = option(description="Static bearer token.")
    token: str = _secret("The bearer token.", "${STORE_TOKEN}")


class BasicAuth(Options):
    doc: ClassVar[str] = "HTTP Basic authentication."
    type: Literal["basic"] = option(description="HTTP Basic.")
    username: str = option(
        description="User name. With an empty password it is the credential (an API key sent "
        "as the user name, e.g. Medusa's secret key) and is masked like one.",
        examples=["sync", "${MEDUSA_API_KEY}"])
    password: str = _secret("Password.", "${STORE_PASSWORD}")


class ApiKeyAuth(Options):
    doc: ClassVar[str] = "An API key sent in a header or a query parameter."
    type: Literal["api_key"] = option(description="API key.")
    key: str = _secret("The API key.", "${COMMERCE_API_KEY}")
    header: str = option(
        default="X-API-Key", description="Header carrying the key (unless `query`).",
        examples=["X-API-Key"])
    query: str | None = option(default=None, description="Query parameter carrying the key instead "
                               "of a header.", examples=["api_key"])


class OAuth2Auth(Options):
    doc: ClassVar[str] = (
        "OAuth 2 client credentials grant; the token is cached until 30 s before it expires "
        "and fetched again once on a 401.")
    type: Literal["oauth2_client_credentials"] = option(description="OAuth 2.")
    token_url: str = option(description="Token endpoint (absolute, or relative to base_url).",
                            examples=["https://auth.example.com/oauth/token"])
    client_id: str = option(description="Client id.", examples=["erp-sync"])
    client_secret: str = _secret("Client secret.", "${OAUTH_CLIENT_SECRET}")
    scope: str | None = option(default=None,
                               description="Requested scope.", examples=["orders:write"])


class SessionLogin(Options):
    method: str = option(default="POST", description="HTTP method of the login request.",
                         examples=["POST"])
    path: str = option(description="Login path (relative to base_url).", examples=["/v1/login"])
    body: Any = option(default=None, secret=True,
                       description="JSON body; put credentials here via ${ENV}.",
                       examples=[{"user": "sync", "password": "${STORE_PASSWORD}"}])


class SessionSendAs(Options):
    header: str = option(default="Authorization", description="Header name.",
                         examples=["Authorization"])
    prefix: str = option(default="Bearer ",
                         description="Text before the token.", examples=["Bearer "])


class SessionAuth(Options):
    doc: ClassVar[str] = (
        "Log in once (again on a 401) and send the session token it returns.")
    type: Literal["session"] = option(description="Login session.")
    login: SessionLogin = option(description="The login request.")
    token_path: str | None = option(
        default=None, description="Dotted path of the token in the login response body.",
        examples=["data.token"])
    token_header: str | None = option(
        default=None, description="Response header carrying the token (instead of token_path).",
        examples=["X-Session-Token"])
    send_as: SessionSendAs = option(default=SessionSendAs(),
                                    description="How the token is sent on later requests.")


Auth = BearerAuth | BasicAuth | ApiKeyAuth | OAuth2Auth | SessionAuth


class Retry(Options):
    attempts: int = option(default=5, minimum=1, description="Tries in all, the first included.",
                           examples=[5])
    backoff: float = option(default=0.5, minimum=0,
                            description="Base delay in seconds, doubled per "
                            "attempt.", examples=[0.5])
    max_backoff: float = option(default=30, minimum=0, description="Upper bound of one delay in "
                                "seconds (Retry-After included).", examples=[30])


class Timeouts(Options):
    doc: ClassVar[str] = "Separate timeouts."
    connect: float = option(default=DEFAULT_TIMEOUT, exclusiveMinimum=0,
                            description="Connect timeout (s).", examples=[5])
    read: float = option(default=DEFAULT_TIMEOUT, exclusiveMinimum=0,
                         description="Read timeout (s).",
                         examples=[60])


class ResponseMatch(Options):
    status: tuple[int, ...] | None = option(default=None, description="Status codes.",
                                            examples=[[409, 422]])
    path: str | None = option(
        default=None, description="Dotted path into the JSON body that must be present (and "
        "non-empty); `contains` then looks in it.", examples=["errors"])
    contains: str | None = option(
        default=None, description="Text the body (or the value at `path`) must contain.",
        examples=["already exists"])


class ResponseRule(Options):
    doc: ClassVar[str] = "One rule."
    match: ResponseMatch = option(description="All given conditions must hold.")
    action: Literal["ignore", "retry", "fail", "quarantine"] = option(
        description="ignore: treat as success; retry: retry like a 503; fail: stop the step; "
        "quarantine: the record(s) go to quarantine.", examples=["ignore"])


class HttpOptions(Options):
    """What a source and a destination share: the connection, its auth and response rules."""

    base_url: str = option(description="Root URL of the API.",
                           examples=["https://store.example.com/api"])
    headers: dict[str, str] = option(default={}, description="Headers sent on every request.",
                                     examples=[{"Accept": "application/json"}])
    timeout: float | Timeouts = option(
        default=DEFAULT_TIMEOUT, description="Seconds, or {connect, read}.",
        examples=[30, {"connect": 5, "read": 60}],
        variants=[{"exclusiveMinimum": 0, "description": "One timeout for all."}, {}])
    http2: bool = option(default=False, description="Use HTTP/2 (needs the h2 package: pip install "
                         "'httpx[http2]').", examples=[False])
    verify_tls: bool = option(default=True, description="Verify TLS certificates; false logs a "
                              "warning.", examples=[True])
    rate_limit: float | None = option(
        default=None, exclusiveMinimum=0,
        description="Maximum requests per second (token bucket over the client). Not needed "
        "for the server's own budget, which is followed from what it answers: Retry-After, "
        "X-RateLimit-* / RateLimit-*, BigCommerce's X-Rate-Limit-*, Shopify's "
        "X-Shopify-Shop-Api-Call-Limit and a GraphQL extensions.cost.",
        examples=[10])
    retry: Retry = option(
        default=Retry(),
        description="deprecated: use the step's errors.retry (durations). The http "
        "client makes one attempt per request; the step's retry policy decides when to send "
        "it again (429, 408, 5xx, timeouts; Retry-After is passed on).")
    auth: Auth | None = option(
        default=None, description="How requests authenticate; one of the forms selected by `type`.")
    responses: tuple[ResponseRule, ...] = option(
        default=(),
        description="Rules evaluated in order before the defaults; the first match decides.",
        examples=[[{"match": {"status": [409], "contains": "already exists"},
                    "action": "ignore"}]])


class HttpSourceOptions(HttpOptions):
    schema_extra: ClassVar[dict[str, Any]] = {
        "title": "http source",
        "description": "Read records from a REST, GraphQL or JSON-RPC API, page by page.",
    }
    schema_extra_after: ClassVar[dict[str, Any]] = {
        "oneOf": [{"required": ["request"]}, {"required": ["graphql"]},
                  {"required": ["jsonrpc"]}],
    }

    request: ReadRequest | None = option(
        default=None, description="The read request; `{cursor}` in params is the incremental "
        "watermark (the parameter is left out on a first run).")
    records: str = option(default="data", description="Dotted path of the records list (\"\" for a "
                          "top-level list).", examples=["data", ""])
    pagination: Paging | None = pagination_option()
    graphql: GraphqlRead | None = graphql_read_option()
    jsonrpc: JsonrpcRead | None = jsonrpc_read_option()
    select: dict[str, str | SelectPath] | None = select_option()
    fields: tuple[str, ...] | None = option(
        default=None, description="The fields records carry (checked by the validator).",
        examples=[["order_id", "status"]])


class HttpDestinationOptions(HttpOptions):
    schema_extra: ClassVar[dict[str, Any]] = {
        "title": "http destination",
        "description": "Write records to a REST, GraphQL or JSON-RPC API.",
    }
    schema_extra_after: ClassVar[dict[str, Any]] = {
        "anyOf": [{"required": ["upsert"]}, {"required": ["create"]}, {"required": ["update"]}],
    }

    max_in_flight: int = option(default=DEFAULT_MAX_IN_FLIGHT, minimum=1,
                                description="Requests in flight at once.", examples=[4])
    idempotency_key: IdempotencyKey | None = option(
        default=None, description="Send the op's idempotency key (a hash of them for a batch).")
    upsert: Action | None = action_option()
    create: Action | None = action_option()
    update: Action | None = action_option()
    delete: Action | None = action_option()
    unpublish: Action | None = action_option()
    list: ListOptions | None = list_option()
    match: Match | None = match_option()
    then: tuple[Level, ...] | None = option(
        default=None,
        description="Dependent calls per record, one entity in one step: e.g. the product's "
        "variants with the product's id, then each variant's stock. A level: `name`, `key` (an "
        "item's natural key), `for_each` (a list field of the parent item; absent: one call "
        "per parent item), `entity` (key map entity, default the name), `fields` (the items' "
        "fields, checked by validate), `upsert`/`create`/`update` and `match` as above, "
        "`from_parent` (`records`, `id_path`, `key_fields`: ids from the parent's answer when "
        "its call creates the children inline) and `then` (levels under it). Templates use "
        "`{item.field}`, `{parent.id}`, `{parent.key}`, `{parent.item.field}`. Each level keeps "
        "its ids in the key map, its hashes (`<step>.<level>`) and its own crash-safe intents.",
        examples=[[{"name": "variants", "for_each": "variants", "key": "sku",
                    "create": {"path": "/v1/products/{parent.id}/variants",
                               "body": "{item}", "id_path": "id"}}]])
