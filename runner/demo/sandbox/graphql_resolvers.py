"""Resolvers of the sandbox's GraphQL schema: the root's queries and mutations. Stored documents
(snake_case, as the REST API serves them) become GraphQL objects (camelCase) here; typed error
results are dicts carrying their ``__typename``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLResolveInfo

from runner.demo.sandbox import orders, validation
from runner.demo.sandbox import queries as data
from runner.demo.sandbox.faults import FaultConfig
from runner.demo.sandbox.responses import ApiError
from runner.demo.sandbox.storage import SandboxStore, make_id, parse_id

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "Context", "Root"]

DEFAULT_PAGE = validation.DEFAULT_PAGE
MAX_PAGE = validation.MAX_PAGE
MAX_BULK = 250  # inputs of one productsCreate, Shopify's usual ceiling for a list argument


@dataclass(frozen=True)
class Context:
    store: SandboxStore
    faults: FaultConfig


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def to_graphql(value: Any) -> Any:
    """A stored document with camelCase keys, recursively."""
    if isinstance(value, dict):
        return {_camel(k): to_graphql(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_graphql(v) for v in value]
    return value


def from_input(value: Any) -> Any:
    """A GraphQL input object with the REST API's snake_case keys, recursively."""
    if isinstance(value, dict):
        return {_snake(k): from_input(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_input(v) for v in value]
    return value


def _cursor(kind: str, n: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{n}".encode()).decode()


def _after(kind: str, cursor: str) -> int:
    try:
        head, _, n = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if head == kind and n.isdigit():
            return int(n)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise GraphQLError("after is not a cursor of this connection; start again without it")


def _window(kind: str, args: dict[str, Any]) -> tuple[int | None, int | None, int]:
    """(after row, offset, limit) from relay (first/after) or offset (skip/take) arguments."""
    relay = args.get("first") is not None or args.get("after") is not None
    offset = args.get("skip") is not None or args.get("take") is not None
    if relay and offset:
        raise GraphQLError("page with first/after or with skip/take, not both")
    limit = args.get("take") if offset else args.get("first")
    limit = DEFAULT_PAGE if limit is None else limit
    if not 1 <= limit <= MAX_PAGE:
        raise GraphQLError(f"a page holds 1 to {MAX_PAGE} items, asked for {limit}")
    if offset:
        skip = args.get("skip") or 0
        if skip < 0:
            raise GraphQLError(f"skip must not be negative, got {skip}")
        return None, skip, limit
    after = args.get("after")
    return (_after(kind, after) if after else 0), None, limit


def _skus(args: dict[str, Any]) -> list[str] | None:
    skus: list[str] | None = args.get("skus")
    if skus is not None and len(skus) > MAX_PAGE:
        raise GraphQLError(f"skus holds at most {MAX_PAGE} values, got {len(skus)}")
    return skus


def _connection(
    kind: str, page: data.Page, node: Callable[[bytes], dict[str, Any]]
) -> dict[str, Any]:
    edges = [{"cursor": _cursor(kind, n), "node": node(body)} for n, body in page.rows]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": page.has_next,
            "hasPreviousPage": page.has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
        "totalCount": page.total,
    }


def _product(body: bytes | dict[str, Any]) -> dict[str, Any]:
    return to_graphql(orjson.loads(body) if isinstance(body, bytes) else body)


def _inventory(body: bytes) -> dict[str, Any]:
    level = orjson.loads(body)
    return {
        "sku": level["sku"],
        "location": level["warehouse"],
        "available": level["available"],
        "updatedAt": level["updated_at"],
    }


def _fulfillment(body: bytes | dict[str, Any]) -> dict[str, Any]:
    shipment = orjson.loads(body) if isinstance(body, bytes) else body
    return {"__typename": "Fulfillment", **to_graphql(shipment)}


def _order(store: SandboxStore) -> Callable[[bytes], dict[str, Any]]:
    def node(body: bytes) -> dict[str, Any]:
        order = orjson.loads(body)
        n = parse_id("ord", order["id"]) or 0
        converted: dict[str, Any] = to_graphql(order)
        converted["fulfillments"] = lambda info: [
            _fulfillment(b) for b in data.fulfillments_of(store, n)
        ]
        return converted

    return node


def _user_error(message: str, code: str, field: Sequence[str] | None = None) -> dict[str, Any]:
    if field is None:
        head = message.split(" ", 1)[0].rstrip(":")
        field = (
            ["input", _camel(head.split("[", 1)[0])] if head.isidentifier() or "[" in head else None
        )
    return {"field": list(field) if field else None, "message": message, "code": code}


def _refused(message: str, code: str, field: Sequence[str] | None = None) -> dict[str, Any]:
    """A product mutation's payload refusing it with one user error."""
    return {"product": None, "userErrors": [_user_error(message, code, field)]}


def _typed(typename: str, code: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"__typename": typename, "errorCode": code, "message": message, **fields}


class Root:
    """The root value: each method resolves the Query or Mutation field of its name."""

    # -- queries -------------------------------------------------------------------------------

    def products(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        after, offset, limit = _window("product", args)
        filters = data.products_filter(_skus(args), args.get("published"))
        page = data.page(info.context.store, "products", filters,
                         after=after, offset=offset, limit=limit)  # fmt: skip
        return _connection("product", page, _product)

    def product(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        n = parse_id("prd", id)
        found = info.context.store.get("products", n) if n is not None else None
        return _product(found) if found else None

    def inventoryLevels(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        after, offset, limit = _window("inventory", args)
        filters = data.inventory_filter(_skus(args), args.get("location"))
        page = data.page(info.context.store, "inventory", filters,
                         after=after, offset=offset, limit=limit)  # fmt: skip
        return _connection("inventory", page, _inventory)

    def orders(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        after, offset, limit = _window("order", args)
        since = args.get("updatedSince")
        if since is not None and not validation._DATE.match(since):
            raise GraphQLError(f"updatedSince must be an ISO-8601 timestamp, got {since!r}")
        filters = data.orders_filter(since, args.get("status"))
        page = data.page(info.context.store, "orders", filters,
                         after=after, offset=offset, limit=limit)  # fmt: skip
        return _connection("order", page, _order(info.context.store))

    def order(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
        n = parse_id("ord", id)
        found = info.context.store.get_order(n) if n is not None else None
        return _order(info.context.store)(orjson.dumps(found)) if found else None

    def fulfillments(self, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        after, offset, limit = _window("fulfillment", args)
        filters = []
        if (order_id := args.get("orderId")) is not None:
            filters.append(data.Filter("order_n = ?", (parse_id("ord", order_id) or 0,)))
        page = data.page(info.context.store, "shipments", filters,
                         after=after, offset=offset, limit=limit)  # fmt: skip
        return _connection("fulfillment", page, _fulfillment)

    # -- mutations -----------------------------------------------------------------------------

    def productCreate(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: Context = info.context
        checked = _checked_product(ctx, from_input(input))
        if isinstance(checked, list):
            return {"product": None, "userErrors": checked}
        always = ctx.faults.create_always
        existing = None if always else ctx.store.get_by_key("products", checked["sku"])
        if existing is not None:
            message = f"sku {checked['sku']} exists as {existing[1]['id']}; use productUpdate"
            return _refused(message, "TAKEN", ["input", "sku"])
        result = ctx.store.upsert("products", [checked], always_create=always)[0]
        if "error" in result:
            return _refused(result["error"], "TAKEN", ["input", "variants"])
        return {
            "product": _product(
                ctx.store.get("products", parse_id("prd", result["id"]) or 0) or {}
            ),
            "userErrors": [],
        }

    def productsCreate(  # each result is a Product or a typed error of its own input
        self, info: GraphQLResolveInfo, inputs: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        ctx: Context = info.context
        if len(inputs) > MAX_BULK:
            raise GraphQLError(f"at most {MAX_BULK} inputs per productsCreate, got {len(inputs)}")
        results: list[dict[str, Any] | None] = []
        normalized: list[dict[str, Any] | str] = []
        for raw in inputs:
            checked = _checked_product(ctx, from_input(raw))
            if isinstance(checked, list):
                results.append(_typed_refusal(checked[0]))
                normalized.append("refused")
            else:
                results.append(None)
                normalized.append(checked)
        written = ctx.store.upsert("products", normalized, always_create=ctx.faults.create_always)
        for index, outcome in enumerate(written):
            if results[index] is not None:
                continue
            if "error" in outcome:
                results[index] = _typed(
                    "SkuTakenError", "SKU_TAKEN", outcome["error"], sku=outcome["sku"]
                )
                continue
            found = ctx.store.get("products", parse_id("prd", outcome["id"]) or 0)
            results[index] = {"__typename": "Product", **_product(found or {})}
        return [result for result in results if result is not None]

    def productUpdate(
        self, info: GraphQLResolveInfo, id: str, input: dict[str, Any]
    ) -> dict[str, Any]:
        ctx: Context = info.context
        n = parse_id("prd", id)
        current = ctx.store.get("products", n) if n is not None else None
        if n is None or current is None:
            return _refused(f"no product {id}", "NOT_FOUND", ["id"])
        changes = from_input(input)
        if changes.get("sku", current["sku"]) != current["sku"]:
            message = "sku cannot change; delete the product and create it again"
            return _refused(message, "INVALID", ["input", "sku"])
        checked = _checked_product(ctx, {**current, **changes})
        if isinstance(checked, list):
            return {"product": None, "userErrors": checked}
        result = ctx.store.replace_product(n, checked, check_variants=not ctx.faults.create_always)
        if "error" in result:
            return _refused(result["error"], "TAKEN", ["input", "variants"])
        return {"product": _product(ctx.store.get("products", n) or {}), "userErrors": []}

    def productDelete(self, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        n = parse_id("prd", id)
        if n is None or not info.context.store.delete("products", n=n):
            return {
                "deletedProductId": None,
                "userErrors": [_user_error(f"no product {id}", "NOT_FOUND", ["id"])],
            }
        return {"deletedProductId": id, "userErrors": []}

    def inventorySet(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        store: SandboxStore = info.context.store
        sku, location = input["sku"], input["location"]
        if store.find_sku(sku) is None:
            return _typed(
                "SkuNotFoundError", "SKU_NOT_FOUND", f"no product or variant has sku {sku}", sku=sku
            )
        level = validation.inventory(
            {"sku": sku, "warehouse": location, "available": input["available"]}
        )
        store.upsert("inventory", [level])
        found = store.get_by_key("inventory", f"{sku}\x1f{location}")
        assert found is not None
        return {"__typename": "InventoryLevel", **_inventory(orjson.dumps(found[1]))}

    def priceSet(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: Context = info.context
        sku, price = input["sku"], input["price"]
        if price < 0:
            return _typed(
                "InvalidPriceError",
                "INVALID_PRICE",
                f"price must not be negative, got {price:g}",
                price=price,
            )
        holders = data.sku_holders(ctx.store, sku)
        if not holders:
            return _typed(
                "SkuNotFoundError", "SKU_NOT_FOUND", f"no product or variant has sku {sku}", sku=sku
            )
        if len(holders) > 1:
            ids = [make_id("prd", n) for n, _ in holders]
            return _typed(
                "AmbiguousSkuError",
                "AMBIGUOUS_SKU",
                f"sku {sku} is held by {len(ids)} products: {', '.join(ids)}",
                sku=sku,
                productIds=ids,
            )
        n, as_variant = holders[0]
        product = ctx.store.get("products", n)
        assert product is not None
        if as_variant:
            for variant in product["variants"]:
                if variant["sku"] == sku:
                    variant["price"] = price
        else:
            product["price"] = price
        ctx.store.replace_product(n, validation.product(product), check_variants=False)
        return {
            "__typename": "PriceSet",
            "sku": sku,
            "price": price,
            "product": _product(ctx.store.get("products", n) or {}),
        }

    def fulfillmentCreate(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ctx: Context = info.context
        order_id = input["orderId"]
        n = parse_id("ord", order_id)
        if n is None:
            return _typed(
                "OrderNotFoundError", "ORDER_NOT_FOUND", f"no order {order_id}", orderId=order_id
            )
        request = {k: v for k, v in from_input(input).items() if k != "order_id" and v is not None}
        if "lines" in request:
            request["lines"] = [
                {k: v for k, v in line.items() if v is not None} for line in request["lines"]
            ]
        if ctx.faults.errors_in_200 and (refused := validation.refusal(request, "tracking_number")):
            return _typed("RefusedError", "REFUSED", refused[1], field="trackingNumber")
        try:
            return _fulfillment(orders.ship_order(ctx.store, n, request))
        except ApiError as exc:
            if exc.status == 404:
                return _typed(
                    "OrderNotFoundError", "ORDER_NOT_FOUND", exc.message, orderId=order_id
                )
            if exc.status == 409:
                return _typed(
                    "OrderStateError",
                    "ORDER_STATE",
                    exc.message,
                    status=exc.details.get("from", ""),
                )
            return _typed("InvalidFulfillmentError", "INVALID_FULFILLMENT", exc.message)


def _typed_refusal(error: dict[str, Any]) -> dict[str, Any]:
    """A product's userError as the typed error result of a bulk create."""
    field = error["field"][-1] if error["field"] else None
    if error["code"] == "REFUSED":
        return _typed("RefusedError", "REFUSED", error["message"], field=field or "input")
    return _typed("InvalidProductError", "INVALID_PRODUCT", error["message"], field=field)


def _checked_product(ctx: Context, raw: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
    """The normalized product, or the userErrors refusing it."""
    try:
        checked = validation.product(raw)
    except validation.Invalid as exc:
        return [_user_error(str(exc), "INVALID")]
    if ctx.faults.errors_in_200 and (refused := validation.refusal(checked)):
        return [_user_error(refused[1], "REFUSED", ["input", _camel(refused[0])])]
    return checked
