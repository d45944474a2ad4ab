"""A starlette app exercising every feature of the http connector, served over loopback.

    state = ApiState()
    with serve_app(make_app(state)) as base_url:
        ...

Items: ``state.items`` (dicts with ``id``, ``sku``, ``updated_at``). Every request is recorded
in ``state.requests`` (method, path, query, headers, body) so tests can assert what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import graphql
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BEARER = "bearer-token-123456"
BASIC = ("sync", "basic-pass-987")
API_KEY = "apikey-abcdef-555"
CLIENT_ID = "erp-sync"
CLIENT_SECRET = "client-secret-xyz-42"
LOGIN_PASSWORD = "login-pass-777"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class ApiState:
    items: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"id": i, "sku": f"SKU-{i:03d}", "updated_at": f"2024-01-{1 + i % 28:02d}"}
            for i in range(1, 24)
        ]
    )
    requests: list[Seen] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    token_lifetime: float = 3600.0
    sessions: set[str] = field(default_factory=set)
    created: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The store of the write-side tests (/graphql/store, /rpc/plain, /v1/products): creates
    # always make a new object, so natural keys need not be unique.
    products: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Back to a fresh state, so one server can serve a whole test module."""
        fresh = ApiState()
        with self.lock:
            for name in ("items", "requests", "counters", "tokens", "sessions", "created",
                         "products"):
                setattr(self, name, getattr(fresh, name))
            self.token_lifetime = fresh.token_lifetime

    def bump(self, name: str) -> int:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            return self.counters[name]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def make_app(state: ApiState) -> Starlette:
    async def record(request: Request) -> Any:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw.decode(errors="replace")
        with state.lock:
            state.requests.append(Seen(request.method, request.url.path,
                                       dict(request.query_params), dict(request.headers), body))
        return body

    def page_of(items: list[dict[str, Any]], start: int, size: int) -> list[dict[str, Any]]:
        return items[start : start + size]

    def selected(request: Request) -> list[dict[str, Any]]:
        since = request.query_params.get("updated_since")
        return [i for i in state.items if since is None or i["updated_at"] >= since]

    # --- pagination ---------------------------------------------------------------------------

    async def by_page(request: Request) -> Response:
        await record(request)
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("per_page", "10"))
        return _json({"data": page_of(selected(request), (page - 1) * size, size)})

    async def by_offset(request: Request) -> Response:
        await record(request)
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", "10"))
        return _json({"data": page_of(selected(request), offset, limit)})

    async def by_cursor(request: Request) -> Response:
        await record(request)
        start = int(request.query_params.get("cursor") or 0)
        rows = page_of(state.items, start, 7)
        nxt = start + 7 if start + 7 < len(state.items) else None
        return _json({"items": rows, "meta": {"next_cursor": str(nxt) if nxt else None}})

    async def by_link(request: Request) -> Response:
        await record(request)
        start = int(request.query_params.get("from", "0"))
        rows = page_of(state.items, start, 5)
        headers = {}
        if start + 5 < len(state.items):
            headers["Link"] = f'</v1/link-items?from={start + 5}>; rel="next", </v1/x>; rel="first"'
        return _json(rows, headers=headers)

    async def by_next_url(request: Request) -> Response:
        await record(request)
        start = int(request.query_params.get("from", "0"))
        rows = page_of(state.items, start, 9)
        nxt = None
        if start + 9 < len(state.items):
            nxt = f"{request.base_url}v1/next-items?from={start + 9}"
        return _json({"data": rows, "links": {"next": nxt}})

    async def evil_next(request: Request) -> Response:
        await record(request)
        return _json({"data": [{"id": 1}], "links": {"next": "http://evil.example/steal"}})

    # --- auth ---------------------------------------------------------------------------------

    def deny() -> Response:
        return _json({"error": "unauthorized"}, 401)

    async def auth_bearer(request: Request) -> Response:
        await record(request)
        if request.headers.get("authorization") != f"Bearer {BEARER}":
            return deny()
        return _json({"data": state.items[:3]})

    async def auth_basic(request: Request) -> Response:
        await record(request)
        expected = base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return deny()
        return _json({"data": state.items[:3]})

    async def auth_key(request: Request) -> Response:
        await record(request)
        if API_KEY not in (request.headers.get("x-api-key"), request.query_params.get("api_key")):
            return deny()
        return _json({"data": state.items[:3]})

    async def oauth_token(request: Request) -> Response:
        await record(request)
        # parsed by hand: starlette's form parser needs python-multipart, not a dependency
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return _json({"error": "invalid_client"}, 401)
        state.bump("tokens_issued")
        token = secrets.token_hex(12)
        state.tokens[token] = time.monotonic() + state.token_lifetime
        return _json({"access_token": token, "token_type": "Bearer",
                      "expires_in": state.token_lifetime})

    def token_ok(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        expiry = state.tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    async def oauth_items(request: Request) -> Response:
        await record(request)
        if not token_ok(request):
            return deny()
        return _json({"data": state.items[:2]})

    async def login(request: Request) -> Response:
        body = await record(request)
        if not isinstance(body, dict) or body.get("password") != LOGIN_PASSWORD:
            return _json({"error": "bad login"}, 403)
        state.bump("logins")
        token = secrets.token_hex(12)
        state.sessions.add(token)
        return _json({"session": {"token": token}}, headers={"X-Session": token})

    async def session_items(request: Request) -> Response:
        await record(request)
        if request.headers.get("x-session-token") not in state.sessions:
            return deny()
        return _json({"data": state.items[:2]})

    # --- failures -----------------------------------------------------------------------------

    async def rate_limited(request: Request) -> Response:
        await record(request)
        if state.bump("rate_limited") == 1:
            return _json({"error": "slow down"}, 429, {"Retry-After": "0.6"})
        return _json({"data": [{"id": 1}]})

    async def flaky(request: Request) -> Response:
        await record(request)
        if state.bump("flaky") <= 2:
            return _json({"error": "boom"}, 503 if state.counters["flaky"] == 1 else 500)
        return _json({"data": [{"id": 1}]})

    async def always_down(request: Request) -> Response:
        await record(request)
        return _json({"error": "down"}, 502)

    async def slow(request: Request) -> Response:
        await record(request)
        await asyncio.sleep(float(request.query_params.get("delay", "1")))
        return _json({"data": [{"id": 1}]})

    async def forbidden(request: Request) -> Response:
        await record(request)
        return _json({"error": "nope"}, 404)

    # --- writes -------------------------------------------------------------------------------

    async def create_order(request: Request) -> Response:
        body = await record(request)
        if not isinstance(body, dict) or not body.get("order_id"):
            return _json({"errors": [{"message": "order_id is required"}]}, 422)
        if body["order_id"] in state.created:
            return _json({"errors": "order already exists"}, 409)
        new_id = f"ord_{len(state.created) + 1}"
        state.created[body["order_id"]] = {**body, "id": new_id}
        return _json({"data": {"id": new_id}}, 201)

    async def update_order(request: Request) -> Response:
        body = await record(request)
        dest = request.path_params["dest_id"]
        for rec in state.created.values():
            if rec["id"] == dest:
                rec.update(body or {})
                return _json({"data": {"id": dest}})
        return _json({"error": "not found"}, 404)

    async def delete_order(request: Request) -> Response:
        await record(request)
        return Response(status_code=204)

    async def shipments(request: Request) -> Response:
        await record(request)
        return _json({"data": {"id": f"shp_{request.path_params['order_id']}"}}, 201)

    async def batch(request: Request) -> Response:
        body = await record(request)
        results = []
        for rec in (body or {}).get("records", []):
            if rec.get("qty", 0) < 0:
                results.append({"error": f"qty must not be negative for {rec.get('sku')}"})
            else:
                results.append({"id": f"p_{rec.get('sku')}"})
        return _json({"data": results})

    async def bench_batch(request: Request) -> Response:
        body = orjson.loads(await request.body())
        return _json({"data": [{"id": i} for i in range(len(body["records"]))]})

    async def graphql(request: Request) -> Response:
        body = await record(request)
        query = body.get("query", "")
        variables = body.get("variables") or {}
        if "mutation" in query:
            order = variables.get("input") or {}
            if order.get("order_id") == "BAD":
                return _json({"data": None, "errors": [{"message": "order BAD is invalid"}]})
            return _json({"data": {"createOrder": {"order": {"id": f"g_{order['order_id']}"}}}})
        if "broken" in query:
            return _json({"errors": [{"message": "Cannot query field broken"}]})
        start = int(variables.get("after") or 0)
        rows = state.items[start : start + 8]
        end = start + len(rows)
        return _json({"data": {"orders": {"nodes": rows, "pageInfo": {
            "hasNextPage": end < len(state.items), "endCursor": str(end)}}}})

    async def rpc(request: Request) -> Response:
        body = await record(request)
        params = body.get("params") or {}
        if params.get("tracking") == "":
            return _json({"jsonrpc": "2.0", "id": body.get("id"),
                          "error": {"code": -32602, "message": "tracking is required"}})
        return _json({"jsonrpc": "2.0", "id": body.get("id"),
                      "result": {"shipment_id": f"r_{params.get('order_id')}"}})

    store = _store_routes(state, record)
    routes = [
        *store,
        Route("/v1/page-items", by_page),
        Route("/v1/offset-items", by_offset),
        Route("/v1/cursor-items", by_cursor),
        Route("/v1/link-items", by_link),
        Route("/v1/next-items", by_next_url),
        Route("/v1/evil-next", evil_next),
        Route("/v1/auth/bearer", auth_bearer),
        Route("/v1/auth/basic", auth_basic),
        Route("/v1/auth/key", auth_key),
        Route("/oauth/token", oauth_token, methods=["POST"]),
        Route("/v1/oauth/items", oauth_items),
        Route("/v1/login", login, methods=["POST"]),
        Route("/v1/session/items", session_items),
        Route("/v1/rate-limited", rate_limited),
        Route("/v1/flaky", flaky),
        Route("/v1/down", always_down, methods=["GET", "POST"]),
        Route("/v1/slow", slow),
        Route("/v1/missing", forbidden),
        Route("/v1/orders", create_order, methods=["POST"]),
        Route("/v1/orders/{dest_id}", update_order, methods=["PUT"]),
        Route("/v1/orders/{dest_id}", delete_order, methods=["DELETE"]),
        Route("/v1/orders/{order_id}/shipments", shipments, methods=["POST"]),
        Route("/v1/products/batch", batch, methods=["POST"]),
        Route("/bench/batch", bench_batch, methods=["POST"]),
        Route("/graphql", graphql, methods=["POST"]),
        Route("/rpc", rpc, methods=["POST"]),
    ]
    return Starlette(routes=routes)


_HTML_500 = """<!DOCTYPE html>
<html><head><title>500 Internal Server Error</title>
<style>body { font-family: sans-serif; }</style></head>
<body><h1>Internal   Server Error</h1>
<p>Invalid value for field <b>date_order</b>:
   '2024-13-01'</p><script>console.log("x")</script></body></html>"""


def _store_routes(state: ApiState, record: Any) -> list[Route]:
    """A store and an ERP that answer like real ones: errors inside 200 (GraphQL userErrors,
    typed error results, JSON-RPC error members), JSON-RPC errors with 400/500, HTML error
    pages; lookups by natural key for ``match`` (REST query, REST path, GraphQL)."""

    def new_product(sku: str, title: str = "") -> dict[str, Any]:
        with state.lock:
            item = {"id": f"p{len(state.products) + 1}", "sku": sku, "title": title}
            state.products.append(item)
        return item

    def product_error(sku: str) -> dict[str, Any] | None:
        if sku == "TAKEN":
            return {"product": None, "userErrors": [
                {"field": ["input", "sku"], "message": "SKU has already been taken"}]}
        if sku == "TYPED":
            return {"__typename": "ProductCreateError", "errorCode": "INVALID_PRICE",
                    "message": "price must be positive"}
        if sku == "CODED":
            return {"errorCode": "OUT_OF_RANGE", "message": "weight is out of range"}
        return None

    def run_mutation(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Each root field (aliases included: batches) creates one product from its
        ``input`` variable, in order, like a GraphQL server runs mutation fields."""
        operation = graphql.parse(query).definitions[0]
        assert isinstance(operation, graphql.OperationDefinitionNode)
        data: dict[str, Any] = {}
        errors = []
        for node in operation.selection_set.selections:
            assert isinstance(node, graphql.FieldNode)
            key = (node.alias or node.name).value
            arg = next(a.value for a in node.arguments if a.name.value == "input")
            assert isinstance(arg, graphql.VariableNode)
            given = variables.get(arg.name.value) or {}
            sku = str(given.get("sku", ""))
            if sku == "TOP":
                data[key] = None
                errors.append({"message": "Access denied for sku", "path": [key]})
                continue
            refused = product_error(sku)
            if refused is not None:
                data[key] = refused
                continue
            item = new_product(sku, str(given.get("title", "")))
            data[key] = {"__typename": "ProductCreatePayload", "product": {"id": item["id"]},
                         "userErrors": []}
        return {"data": data, **({"errors": errors} if errors else {})}

    async def graphql_store(request: Request) -> Response:
        body = await record(request)
        query = body.get("query", "")
        variables = body.get("variables") or {}
        if query.lstrip().startswith("mutation"):
            return _json(run_mutation(query, variables))
        if "products" in query:
            wanted = set(variables.get("skus") or [])
            found = [p for p in state.products if p["sku"] in wanted]
            start = int(variables.get("after") or 0)
            rows = found[start : start + 2]
            end = start + len(rows)
            return _json({"data": {"products": {"nodes": rows, "pageInfo": {
                "hasNextPage": end < len(found), "endCursor": str(end)}}}})
        return _json({"data": {"__typename": "Query"}})

    async def rpc_plain(request: Request) -> Response:
        body = await record(request)
        params = body.get("params") or {}
        code = str(params.get("ref", ""))
        answer: dict[str, Any] = {"id": body.get("id")}
        if code == "ERR200":
            return _json({**answer, "error": {"code": 7, "message": "partner is archived"}})
        if code == "ERR400":
            return _json({**answer, "error": {"code": 400, "message": "bad order line"}}, 400)
        if code == "ERR500":
            return _json({**answer, "error": {"code": 200, "message": "Odoo Server Error",
                                              "data": "ValidationError: missing partner"}}, 500)
        if code == "HTML500":
            return Response(_HTML_500, 500, media_type="text/html")
        if code == "HTML400":
            return Response(_HTML_500.replace("500 Internal Server Error", "400 Bad Request"),
                            400, media_type="text/html")
        return _json({**answer, "result": {"id": f"r_{code}"}})

    def of_skus(skus: list[str]) -> list[dict[str, Any]]:
        wanted = set(skus)
        return [p for p in state.products if p["sku"] in wanted]

    async def products(request: Request) -> Response:
        await record(request)
        if request.method == "POST":
            body = orjson.loads(await request.body())
            item = new_product(str(body.get("sku")), str(body.get("title", "")))
            return _json({"data": item}, 201)
        skus = [s for v in request.query_params.getlist("sku") for s in v.split(",") if s]
        found = of_skus(skus)
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", "100"))
        return _json({"data": found[offset : offset + limit]})

    async def product_by_sku(request: Request) -> Response:
        await record(request)
        found = of_skus([request.path_params["sku"]])
        if not found:
            return _json({"error": "not found"}, 404)
        return _json({"data": found})

    return [
        Route("/graphql/store", graphql_store, methods=["POST"]),
        Route("/rpc/plain", rpc_plain, methods=["POST"]),
        Route("/v1/products", products, methods=["GET", "POST"]),
        Route("/v1/products/by-sku/{sku}", product_by_sku),
    ]


def open_http_source(options: dict[str, Any], **ctx: Any) -> Any:
    """Open the http connector as a source, as the engine would."""
    from connectors.api import ConnectorContext
    from connectors.http import HttpConnector

    return HttpConnector().open_source(options, ConnectorContext(job="t", step="s", **ctx))


def open_http_sink(options: dict[str, Any], **ctx: Any) -> Any:
    """Open the http connector as a destination, as the engine would."""
    from connectors.api import ConnectorContext
    from connectors.http import HttpConnector

    return HttpConnector().open_sink(options, ConnectorContext(job="t", step="s", **ctx))
