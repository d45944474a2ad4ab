"""The sandbox store's HTTP API (described by schemas/sandbox.openapi.yaml).

Handlers are ``async`` and do their SQLite work inline: a request's work is a few milliseconds
in one transaction, and staying on the event loop avoids a thread hop per request. Every POST,
PUT and PATCH honours ``Idempotency-Key``: the first response is stored with a fingerprint of
the request, replayed for the same request, and a different request with the same key is 422.

Two behaviours of real stores can be switched on (``PUT /v1/_admin/faults``): ``create:
"always"`` ignores ``Idempotency-Key`` and makes every product create a new product, whatever
its sku; ``errors_in_200`` answers a refused write (409, 422, and records whose title or
tracking number starts with ``REFUSE:``) with 200 and ``{"errors": [{"field", "message"}]}``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runner.demo.sandbox import graphql_api, orders, queries, validation
from runner.demo.sandbox.faults import FaultConfig, Gate
from runner.demo.sandbox.responses import ApiError, ORJSONResponse, error_response
from runner.demo.sandbox.storage import SandboxStore, parse_id

__all__ = ["MAX_BATCH", "MAX_KEYS", "MAX_PAGE", "create_app"]

MAX_BATCH = 5000
MAX_KEYS = 250  # natural keys matched by one listing request (?sku=A&sku=B...)
MAX_PAGE = validation.MAX_PAGE
DEFAULT_PAGE = validation.DEFAULT_PAGE

Reader = Callable[[Request], Awaitable[Response]]
Writer = Callable[[Request, Any], Awaitable[Response]]


def _page(data: list[bytes], cursor: str | None) -> ORJSONResponse:
    # Stored bodies are already JSON: splice them instead of decoding and encoding again.
    head = b'{"data":[' + b",".join(data) + b'],"next_cursor":'
    return ORJSONResponse(head + orjson.dumps(cursor) + b"}")


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError(422, f"limit must be a whole number from 1 to {MAX_PAGE}, got {raw!r}")
    return int(raw)


def _row_cursor(request: Request) -> int:
    raw = request.query_params.get("cursor") or "0"
    if not raw.isdigit():
        raise ApiError(422, "cursor is not one this API handed out; start again without it")
    return int(raw)


def _records(payload: Any, field: str = "records") -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get(field), list):
        raise ApiError(422, f'send {{"{field}": [...]}}')
    records = payload[field]
    if len(records) > MAX_BATCH:
        raise ApiError(413, f"at most {MAX_BATCH} {field} per request, got {len(records)}")
    return records


def _reader(handler: Reader) -> Reader:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, **exc.details)

    return endpoint


def create_app(
    data_path: str,
    api_key: str,
    *,
    faults: FaultConfig | None = None,
    rate_limit: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Gate:
    """The sandbox store as an ASGI app, persisting to the SQLite file ``data_path``.

    The returned :class:`Gate` wraps the Starlette app (reachable as ``.app``); its
    ``set_faults`` and ``set_rate_limit`` change behaviour at runtime, as ``PUT
    /v1/_admin/faults`` does. ``clock`` (seconds, monotonic) drives the rate budgets, so tests
    can move time instead of sleeping.
    """
    store = SandboxStore(data_path)

    def _refused(exc: ApiError) -> Response:
        if gate.faults.errors_in_200 and exc.status in (409, 422):
            field = exc.details.get("field")
            detail = {k: v for k, v in exc.details.items() if k != "field"}
            error = {"field": [field] if field else None, "message": exc.message, **detail}
            return ORJSONResponse({"errors": [error]})
        return error_response(exc.status, exc.message, **exc.details)

    def _refuse_triggered(record: dict[str, Any], field: str = "title") -> None:
        if gate.faults.errors_in_200 and (refused := validation.refusal(record, field)):
            raise ApiError(422, refused[1], field=refused[0])

    def _writer(handler: Writer) -> Reader:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            # The create-always mode stands for stores that do not honour idempotency keys.
            key = None if gate.faults.create_always else request.headers.get("idempotency-key")
            fingerprint = ""
            if key:
                digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
                digest.update(raw)
                fingerprint = digest.hexdigest()
                stored = store.idempotent_reply(key)
                if stored is not None:
                    if stored[0] != fingerprint:
                        return error_response(
                            422,
                            "this Idempotency-Key was used for a different request; use a new"
                            " key for a new request",
                        )
                    replay = ORJSONResponse(stored[2], status_code=stored[1])
                    replay.headers["Idempotent-Replayed"] = "true"
                    return replay
            try:
                payload = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                response: Response = error_response(400, "the request body is not valid JSON")
            else:
                try:
                    response = await handler(request, payload)
                except ApiError as exc:
                    response = _refused(exc)
            if key and response.status_code < 500:
                store.remember_reply(key, fingerprint, response.status_code, bytes(response.body))
            return response

        return endpoint

    def _product_n(request: Request) -> int:
        n = parse_id("prd", request.path_params["id"])
        if n is None or (found := store.get("products", n)) is None:
            raise ApiError(404, f"no product {request.path_params['id']}")
        request.state.product = found
        return n

    def _order_n(request: Request) -> int:
        n = parse_id("ord", request.path_params["id"])
        if n is None:
            raise ApiError(404, f"no order {request.path_params['id']}")
        return n

    def _batch(resource: str, check: Callable[[Any], dict[str, Any]]) -> Writer:
        async def handler(request: Request, payload: Any) -> Response:
            normalized: list[dict[str, Any] | str] = []
            refusing = gate.faults.errors_in_200 and resource == "products"
            for index, record in enumerate(_records(payload)):
                try:
                    checked = check(record)
                except validation.Invalid as exc:
                    normalized.append(f"records[{index}]: {exc}")
                    continue
                refused = validation.refusal(checked) if refusing else None
                normalized.append(f"records[{index}]: {refused[1]}" if refused else checked)
            always = gate.faults.create_always and resource == "products"
            results = store.upsert(resource, normalized, always_create=always)
            for record, result in zip(payload["records"], results, strict=True):
                if "error" in result and isinstance(record, dict):
                    # Echo the client's key so it can match the error to its record.
                    key_field = (
                        "code"
                        if resource == "delivery-modes"
                        else ("id" if resource == "prices" else "sku")
                    )
                    result.setdefault(key_field, record.get(key_field))
            return ORJSONResponse({"data": results})

        return handler

    def _lister(resource: str, key_param: str | None = None) -> Reader:
        async def handler(request: Request) -> Response:
            keys = request.query_params.getlist(key_param) if key_param else []
            if len(keys) > MAX_KEYS:
                raise ApiError(422, f"at most {MAX_KEYS} {key_param} values per request")
            key = keys[0] if len(keys) == 1 else (keys or None)
            data, more = store.list_page(
                resource, limit=_limit(request), after=_row_cursor(request), key=key
            )
            return _page(data, str(more) if more is not None else None)

        return handler

    # -- products -------------------------------------------------------------------------------

    async def create_product(request: Request, payload: Any) -> Response:
        try:
            record = validation.product(payload)
        except validation.Invalid as exc:
            raise ApiError(422, str(exc)) from None
        _refuse_triggered(record)
        always = gate.faults.create_always
        existing = None if always else store.get_by_key("products", record["sku"])
        if existing is not None:
            raise ApiError(
                409,
                f"sku {record['sku']} exists as {existing[1]['id']}; "
                "PUT /v1/products/{id} to change it",
                id=existing[1]["id"],
            )
        result = store.upsert("products", [record], always_create=always)[0]
        if "error" in result:
            raise ApiError(409, result["error"])
        return ORJSONResponse(store.get("products", parse_id("prd", result["id"]) or 0), 201)

    async def get_product(request: Request) -> Response:
        _product_n(request)
        return ORJSONResponse(request.state.product)

    async def put_product(request: Request, payload: Any) -> Response:
        n = _product_n(request)
        try:
            record = validation.product(payload)
        except validation.Invalid as exc:
            raise ApiError(422, str(exc)) from None
        if record["sku"] != request.state.product["sku"]:
            raise ApiError(422, "sku cannot change; delete the product and create it again")
        _refuse_triggered(record)
        result = store.replace_product(n, record, check_variants=not gate.faults.create_always)
        if "error" in result:
            raise ApiError(409, result["error"])
        return ORJSONResponse(store.get("products", n))

    async def delete_product(request: Request, payload: Any) -> Response:
        n = _product_n(request)
        store.delete("products", n=n)
        return Response(status_code=204)

    async def unpublish_one(request: Request, payload: Any) -> Response:
        _product_n(request)
        store.set_published([request.state.product["sku"]], False)
        return ORJSONResponse(store.get("products", _product_n(request)))

    async def unpublish_many(request: Request, payload: Any) -> Response:
        skus = _records(payload, "skus")
        if not all(isinstance(s, str) for s in skus):
            raise ApiError(422, "skus must be strings")
        return ORJSONResponse({"data": store.set_published(skus, False)})

    # -- prices and delivery modes --------------------------------------------------------------

    async def delete_price(request: Request, payload: Any = None) -> Response:
        if not store.delete("prices", key=request.path_params["id"]):
            raise ApiError(404, f"no price agreement {request.path_params['id']}")
        return Response(status_code=204)

    async def delete_inventory(request: Request, payload: Any = None) -> Response:
        # Stock is kept per (sku, warehouse); a store fed one total per SKU has warehouse "".
        warehouse = request.query_params.get("warehouse", "")
        if not store.delete("inventory", key=f"{request.path_params['sku']}\x1f{warehouse}"):
            raise ApiError(404, f"no stock record for sku {request.path_params['sku']}")
        return Response(status_code=204)

    async def delete_delivery_mode(request: Request, payload: Any = None) -> Response:
        if not store.delete("delivery-modes", key=request.path_params["code"]):
            raise ApiError(404, f"no delivery mode {request.path_params['code']}")
        return Response(status_code=204)

    async def list_stores(request: Request) -> Response:
        return ORJSONResponse({"data": store.stores(), "next_cursor": None})

    # -- orders ---------------------------------------------------------------------------------

    async def list_orders(request: Request) -> Response:
        since = request.query_params.get("updated_since")
        if since is not None and not validation._DATE.match(since):
            raise ApiError(422, f"updated_since must be an ISO-8601 timestamp, got {since!r}")
        after = None
        if cursor := request.query_params.get("cursor"):
            try:
                stamp, _, n = base64.urlsafe_b64decode(cursor.encode()).decode().rpartition("|")
                after = (stamp, int(n))
            except ValueError:
                raise ApiError(422, "cursor is not one this API handed out") from None
        data, more = store.list_orders(since=since, after=after, limit=_limit(request))
        token = None
        if more is not None:
            token = base64.urlsafe_b64encode(f"{more[0]}|{more[1]}".encode()).decode()
        return _page(data, token)

    async def get_order(request: Request) -> Response:
        found = store.get_order(_order_n(request))
        if found is None:
            raise ApiError(404, f"no order {request.path_params['id']}")
        return ORJSONResponse(found)

    async def patch_order(request: Request, payload: Any) -> Response:
        return ORJSONResponse(orders.change_status(store, _order_n(request), payload))

    async def ship(request: Request, payload: Any) -> Response:
        if isinstance(payload, dict):
            _refuse_triggered(payload, "tracking_number")
        return ORJSONResponse(orders.ship_order(store, _order_n(request), payload), 201)

    async def order_shipments(request: Request) -> Response:
        n = _order_n(request)
        if store.get_order(n) is None:
            raise ApiError(404, f"no order {request.path_params['id']}")
        data, more = store.list_shipments(
            order_n=n, after=_row_cursor(request), limit=_limit(request)
        )
        return _page(data, str(more) if more is not None else None)

    async def all_shipments(request: Request) -> Response:
        data, more = store.list_shipments(
            order_n=None, after=_row_cursor(request), limit=_limit(request)
        )
        return _page(data, str(more) if more is not None else None)

    async def place(request: Request, payload: Any) -> Response:
        return ORJSONResponse(orders.place_order(store, payload), 201)

    # -- administration -------------------------------------------------------------------------

    async def reset(request: Request) -> Response:
        store.reset()
        return ORJSONResponse({"status": "reset"})

    async def admin_stats(request: Request) -> Response:
        return ORJSONResponse(store.stats())

    async def get_faults(request: Request) -> Response:
        return ORJSONResponse(gate.faults.to_json())

    async def put_faults(request: Request) -> Response:
        try:
            fields = validation.fault_config_fields(orjson.loads(await request.body() or b"{}"))
        except (validation.Invalid, orjson.JSONDecodeError) as exc:
            raise ApiError(422, str(exc)) from None
        gate.set_faults(FaultConfig(**fields))
        return ORJSONResponse(gate.faults.to_json())

    async def admin_keys(request: Request) -> Response:
        resource = request.query_params.get("resource", "products")
        if resource not in ("products", "variants"):
            raise ApiError(422, f"resource must be products or variants, got {resource!r}")
        asked = request.query_params.getlist("key")
        ids = queries.key_counts(store, resource, asked)
        return ORJSONResponse(
            {
                "resource": resource,
                "objects": sum(len(found) for found in ids.values()),
                "counts": {key: len(found) for key, found in ids.items()},
                "duplicates": {key: found for key, found in ids.items() if len(found) > 1},
                "missing": [key for key in asked if not ids.get(key)],
            }
        )

    async def admin_rate(request: Request) -> Response:
        return ORJSONResponse(gate.rate_report())

    async def healthz(request: Request) -> Response:
        return ORJSONResponse({"status": "ok"})

    routes = [
        Route("/healthz", _reader(healthz), methods=["GET"]),
        Route("/v1/products", _reader(_lister("products", "sku")), methods=["GET"]),
        Route("/v1/products", _writer(create_product), methods=["POST"]),
        Route(
            "/v1/products/batch", _writer(_batch("products", validation.product)), methods=["POST"]
        ),
        Route("/v1/products/unpublish", _writer(unpublish_many), methods=["POST"]),
        Route("/v1/products/{id}", _reader(get_product), methods=["GET"]),
        Route("/v1/products/{id}", _writer(put_product), methods=["PUT"]),
        Route("/v1/products/{id}", _writer(delete_product), methods=["DELETE"]),
        Route("/v1/products/{id}/unpublish", _writer(unpublish_one), methods=["POST"]),
        Route("/v1/inventory", _reader(_lister("inventory")), methods=["GET"]),
        Route(
            "/v1/inventory/batch",
            _writer(_batch("inventory", validation.inventory)),
            methods=["POST"],
        ),
        Route("/v1/inventory/{sku}", _writer(delete_inventory), methods=["DELETE"]),
        Route("/v1/prices", _reader(_lister("prices")), methods=["GET"]),
        Route("/v1/prices/batch", _writer(_batch("prices", validation.price)), methods=["POST"]),
        Route("/v1/prices/{id}", _writer(delete_price), methods=["DELETE"]),
        Route("/v1/delivery-modes", _reader(_lister("delivery-modes")), methods=["GET"]),
        Route(
            "/v1/delivery-modes/batch",
            _writer(_batch("delivery-modes", validation.delivery_mode)),
            methods=["POST"],
        ),
        Route("/v1/delivery-modes/{code}", _writer(delete_delivery_mode), methods=["DELETE"]),
        Route("/v1/stores", _reader(list_stores), methods=["GET"]),
        Route("/v1/orders", _reader(list_orders), methods=["GET"]),
        Route("/v1/orders/{id}", _reader(get_order), methods=["GET"]),
        Route("/v1/orders/{id}", _writer(patch_order), methods=["PATCH"]),
        Route("/v1/orders/{id}/shipments", _reader(order_shipments), methods=["GET"]),
        Route("/v1/orders/{id}/shipments", _writer(ship), methods=["POST"]),
        Route("/v1/shipments", _reader(all_shipments), methods=["GET"]),
        Route("/v1/shop/orders", _writer(place), methods=["POST"]),
        Route("/v1/_admin/reset", _reader(reset), methods=["POST"]),
        Route("/v1/_admin/stats", _reader(admin_stats), methods=["GET"]),
        Route("/v1/_admin/faults", _reader(get_faults), methods=["GET"]),
        Route("/v1/_admin/faults", _reader(put_faults), methods=["PUT"]),
        Route("/v1/_admin/keys", _reader(admin_keys), methods=["GET"]),
        Route("/v1/_admin/rate", _reader(admin_rate), methods=["GET"]),
    ]
    starlette = Starlette(routes=routes)
    starlette.state.store = store
    gate = Gate(starlette, api_key, faults=faults, rate_limit=rate_limit, clock=clock)
    # Added once the gate exists: the GraphQL API reads its modes and its cost budget.
    starlette.router.routes.append(
        Route("/graphql", graphql_api.endpoint(store, gate), methods=["POST"])
    )
    return gate
