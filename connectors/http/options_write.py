"""The write side of the http destination's options, typed: one action's request, ``match``,
and the levels of ``then``.

Kept apart from :mod:`connectors.http.options` (connection, auth, reads) so that each stays a
readable size; ``options`` assembles the destination from both."""

# No `from __future__ import annotations`: the option types are made once, when the class
# body runs, instead of compiled from strings when the schema is generated.

from typing import Any, ClassVar, Literal

from connectors.api import Options, option

from .options_read import Paging, pagination_option

__all__ = [
    "Action",
    "ActionBatch",
    "ActionGraphql",
    "ActionJsonrpc",
    "FromParent",
    "IdempotencyKey",
    "Level",
    "LevelLeaf",
    "Match",
    "MatchGraphql",
]


class MatchGraphql(Options):
    document: str = option(
        description="The query, sent verbatim; declare `$after` for paging.",
        examples=["query($skus: [String!]!, $after: String) { ... }"])
    variables: dict[str, Any] | None = option(
        default=None, description="Variables (templates; `{keys}` is the list of keys).",
        examples=[{"skus": "{keys}"}])
    page_info: str | None = option(
        default=None,
        description="Dotted path of pageInfo {hasNextPage, endCursor}; without it only "
        "one page is read.", examples=["data.products.pageInfo"])
    cursor_variable: str = option(default="after", description="Variable receiving endCursor.",
                                  examples=["after"])


class Match(Options):
    when: Literal["recovery", "always"] = option(
        default="recovery", description="recovery: only for creates a crash may have sent; always: "
        "before every create too (adopts objects made outside the runner).",
        examples=["always"])
    method: str = option(default="GET", description="HTTP method (REST).", examples=["GET"])
    path: str | None = option(
        default=None,
        description="Lookup path; a placeholder in it (`{key}`, `{sku}`) means one key "
        "per request, and a 404 means absent (default /graphql with `graphql`).",
        examples=["/v1/products", "/v1/products/by-sku/{key}"])
    params: dict[str, Any] | None = option(
        default=None, description="Query parameter templates; `{keys}` is the keys of one request.",
        examples=[{"sku": "{keys}"}])
    keys_as: Literal["comma", "repeat"] = option(
        default="comma",
        description="How `{keys}` goes in a query parameter: joined with commas or "
        "the parameter repeated.", examples=["repeat"])
    batch: int = option(default=1, minimum=1, description="Keys per request where the API takes "
                        "several; requests run in parallel, bounded by max_in_flight.",
                        examples=[50])
    records: str = option(default="data",
                          description="Dotted path of the list of matching objects.",
                          examples=["data", "data.products.nodes"])
    key_fields: tuple[str, ...] | None = option(
        default=None, description="Fields of an object forming its natural key (default: the step "
        "key).", examples=[["sku"]])
    id_path: str = option(description="Dotted path of the id in one object.", examples=["id"])
    graphql: MatchGraphql | None = option(
        default=None, description="Match through a GraphQL query instead of REST.")
    pagination: Paging | None = pagination_option()


def match_option() -> Any:
    return option(
        default=None,
        description="Ask the destination which natural keys it already holds: a REST GET with "
        "the keys in the query (`{keys}`) or one key in the path (`{key}` or a key field), or "
        "a GraphQL query with the keys as a list variable. Used before re-sending creates a "
        "crash may have delivered, and before every create with `when: always`.")


class ActionGraphql(Options):
    document: str = option(
        description="The mutation, sent verbatim (not a template: record values go in "
        "`variables`).", examples=["mutation($input: OrderInput!) { ... }"])
    variables: Any = option(
        default={},
        description="Variables template: the only way record values reach the document.",
        examples=[{"input": "{record}"}])


class ActionJsonrpc(Options):
    method: str = option(description="Remote method.", examples=["order.ship"])
    params: Any = option(default=None, description="Params template.", examples=["{record}"])
    version: Literal["2.0", "1.0", "none"] = option(
        default="2.0",
        description="The `jsonrpc` member sent: \"2.0\", \"1.0\", or none to send plain "
        "`{id, method, params}` (servers that treat the member as another protocol variant).",
        examples=["2.0", "none"])


class ActionBatch(Options):
    size: int = option(minimum=1, description="Records per request.", examples=[500])
    method: str | None = option(
        default=None, description="Method of the batch request (default: the action's).",
        examples=["POST"])
    path: str | None = option(default=None, description="Path of the batch request.",
                              examples=["/v1/orders/batch"])
    body: Any = option(default="{records}", description="Wrapper; `\"{records}\"` is the list of "
                       "rendered bodies.", examples=[{"records": "{records}"}])
    results: str | None = option(
        default=None, description="Dotted path of the per-record results (in request order).",
        examples=["data"])
    id_path: str | None = option(default=None, description="Id path inside one result.",
                                 examples=["id"])
    error_path: str = option(default="error", description="Error path inside one result.",
                             examples=["error"])


class Action(Options):
    doc: ClassVar[str] = (
        "The request for one action. Strings may hold `{field}`, `{field.sub}`, `{dest_id}`, "
        "`{key}`, `{idempotency_key}`; `\"{record}\"` is the whole record.")

    method: str = option(default="POST", description="HTTP method.", examples=["PUT"])
    path: str | None = option(default=None,
                              description="Path template (values are percent-encoded).",
                              examples=["/v1/orders/{order_id}/shipments"])
    params: dict[str, Any] | None = option(default=None, description="Query parameter templates.",
                                           examples=[{"notify": "false"}])
    headers: dict[str, Any] | None = option(default=None, description="Extra header templates.",
                                            examples=[{"X-Source": "erp"}])
    body: Any = option(default=None, description="JSON body template; omitted for none.",
                       examples=["{record}", {"sku": "{sku}", "qty": "{available}"}])
    id_path: str | None = option(default=None,
                                 description="Dotted path of the new id in the response.",
                                 examples=["data.id"])
    graphql: ActionGraphql | None = option(
        default=None,
        description="Send a GraphQL mutation instead of `body`. Top-level `errors`, a "
        "non-empty `userErrors` and results typed `...Error` or carrying `errorCode` quarantine "
        "the record (a `responses` rule can relax that).")
    jsonrpc: ActionJsonrpc | None = option(
        default=None,
        description="Send a JSON-RPC call instead of `body`; an `error` member in the "
        "answer (whatever its status) quarantines the record.")
    batch: ActionBatch | None = option(
        default=None, description="Send many records per request: a REST list body, or a GraphQL "
        "document repeating the mutation under aliases (each record's answer, id and errors "
        "mapped back to it). Not for JSON-RPC.")


def action_option() -> Any:
    return option(default=None, description=Action.doc)


class IdempotencyKey(Options):
    header: str = option(default="Idempotency-Key", description="Header name.",
                         examples=["Idempotency-Key"])


class FromParent(Options):
    records: str | dict[str, str] = option(
        description="Dotted path of the children in the parent's answer; or one path per "
        "parent action.",
        examples=["data.productCreate.product.variants",
                  {"create": "product.variants", "update": "product.variants"}])
    key_fields: tuple[str, ...] | None = option(
        default=None, minItems=1, description="Fields of a child in the answer forming its key "
        "(default: the level's key).", examples=[["sku"]])
    id_path: str = option(description="Dotted path of the id in one child.", examples=["id"])


class LevelLeaf(Options):
    """A level of ``then`` with no levels under it (the innermost of two)."""

    doc: ClassVar[str] = (
        "Calls per item of a record: templates can use `{item.field}`, `{parent.id}` (the "
        "parent's id at the destination), `{parent.key}`, `{parent.item.field}`, `{key}`, "
        "`{dest_id}`, `{idempotency_key}`.")
    schema_extra: ClassVar[dict[str, Any]] = {
        "anyOf": [{"required": [r]} for r in ("upsert", "create", "update", "from_parent",
                                              "then")],
    }

    name: str = option(pattern="^[A-Za-z_][A-Za-z0-9_]*$",
                       description="The level's name; its state is kept as `<step>.<name>`.",
                       examples=["variants"])
    entity: str | None = option(
        default=None,
        description="Key map entity of the level's ids (default: its name), readable by "
        "later steps.", examples=["variants"])
    for_each: str | None = option(
        default=None,
        description="Dotted path of a list of objects in the parent item: one call per "
        "object. Absent: one call per parent item.", examples=["variants"])
    key: str | tuple[str, ...] = option(
        description="Field (or fields) of an item forming its natural key, unique within the "
        "entity.", examples=["sku", ["sku", "location"]], variants=[{}, {"minItems": 1}])
    fields: tuple[str, ...] | None = option(
        default=None, description="The fields an item carries, if known: `validate` checks "
        "`{item.field}` against them.", examples=[["sku", "size", "available"]])
    from_parent: FromParent | None = option(
        default=None, description="Take this level's ids from the parent's answer, for APIs whose "
        "parent call creates the children inline (a product create that returns its "
        "variants).")
    upsert: Action | None = action_option()
    create: Action | None = action_option()
    update: Action | None = action_option()
    match: Match | None = match_option()
    idempotency_key: IdempotencyKey | None = option(
        default=None, description="Send each call's idempotency key.")


class Level(LevelLeaf):
    then: tuple[LevelLeaf, ...] | None = option(
        default=None, description="Levels under this one.",
        examples=[[{"name": "stock", "key": "sku", "upsert": {
            "path": "/v1/inventory", "body": "{item}"}}]])
