"""A loopback API listing ``state.items`` in every paging style, pages capped at ``state.cap``.

    state = PagingState.of(2500)
    with serve_app(make_paging_app(state)) as base_url:
        ...

Every style asks for more than the cap is allowed to return, as real stores do (Shopify caps at
250, many at 1,000), so a client that stops on a short page misses objects. Misbehaving
listings (``/loop/...``) exercise the never-ending guard. ``state.requests`` counts requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class PagingState:
    items: list[dict[str, Any]]
    cap: int = 1000
    requests: int = 0
    bodies: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, count: int, cap: int = 1000) -> PagingState:
        return cls([{"id": f"gid://p/{i}", "sku": f"SKU-{i:05d}",
                     "carrier_product": {"carrier_product.": f"C{i}"}}
                    for i in range(1, count + 1)], cap)


def _json(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), 200, headers, media_type="application/json")


def make_paging_app(state: PagingState) -> Starlette:
    def window(start: int, size: int) -> list[dict[str, Any]]:
        return state.items[start : start + min(size, state.cap)]

    async def seen(request: Request) -> Any:
        raw = await request.body()
        body = orjson.loads(raw) if raw else None
        with state.lock:
            state.requests += 1
            state.bodies.append(body)
        return body

    def q(request: Request, name: str, default: int) -> int:
        return int(request.query_params.get(name, default))

    async def by_page(request: Request) -> Response:
        await seen(request)
        size = q(request, "per_page", 50)
        return _json({"data": window((q(request, "page", 1) - 1) * size, size)})

    async def by_offset(request: Request) -> Response:
        await seen(request)
        return _json({"data": window(q(request, "offset", 0), q(request, "limit", 50))})

    async def by_skip_take(request: Request) -> Response:
        await seen(request)
        return _json({"items": window(q(request, "skip", 0), q(request, "take", 50))})

    async def by_cursor(request: Request) -> Response:
        await seen(request)
        start = int(request.query_params.get("cursor") or 0)
        rows = window(start, q(request, "limit", 50))
        end = start + len(rows)
        return _json({"data": rows, "next_cursor": str(end) if end < len(state.items) else None})

    async def by_link(request: Request) -> Response:
        await seen(request)
        start, size = q(request, "from", 0), q(request, "limit", 50)
        rows = window(start, size)
        end = start + len(rows)
        headers = {}
        if end < len(state.items):
            headers["Link"] = f'</link?from={end}&limit={size}>; rel="next"'
        return _json(rows, headers)

    async def by_next_url(request: Request) -> Response:
        await seen(request)
        start = q(request, "from", 0)
        rows = window(start, 5000)
        end = start + len(rows)
        nxt = f"{request.base_url}next?from={end}" if end < len(state.items) else None
        return _json({"data": rows, "links": {"next": nxt}})

    async def search(request: Request) -> Response:
        """A POST search: paging only in the body, as {"page": {"offset", "limit"}}."""
        body = await seen(request) or {}
        page = body.get("page") or {}
        return _json({"data": window(int(page.get("offset", 0)), int(page.get("limit", 50)))})

    async def rpc(request: Request) -> Response:
        """JSON-RPC: ``search_read`` with offset/limit in params (Odoo's shape)."""
        body = await seen(request) or {}
        params = body.get("params") or {}
        rows = window(int(params.get("offset", 0)), int(params.get("limit", 50)))
        return _json({"jsonrpc": "2.0", "id": body.get("id"), "result": {"records": rows}})

    async def graphql(request: Request) -> Response:
        body = await seen(request) or {}
        variables = body.get("variables") or {}
        if "skip" in variables or "take" in variables:
            rows = window(int(variables.get("skip", 0)), int(variables.get("take", 50)))
            return _json({"data": {"products": {"items": rows}}})
        start = int(variables.get("after") or 0)
        rows = window(start, int(variables.get("first", 50)))
        end = start + len(rows)
        info = {"hasNextPage": end < len(state.items), "endCursor": str(end)}
        return _json({"data": {"products": {
            "edges": [{"cursor": str(start + i + 1), "node": row} for i, row in enumerate(rows)],
            "nodes": rows, "pageInfo": info}}})

    # --- listings that never end ----------------------------------------------------------------

    async def loop_cursor(request: Request) -> Response:
        await seen(request)
        return _json({"data": window(int(request.query_params.get("cursor") or 0), 2),
                      "next_cursor": "2"})

    async def loop_same_items(request: Request) -> Response:
        await seen(request)  # ignores offset: the same first page for ever
        return _json({"data": window(0, 3)})

    async def loop_empty_more(request: Request) -> Response:
        await seen(request)
        return _json({"data": [], "next_cursor": "again"})

    async def loop_forever(request: Request) -> Response:
        await seen(request)  # always a new cursor and new items: only max_pages ends it
        n = int(request.query_params.get("cursor") or 0)
        return _json({"data": [{"id": n}], "next_cursor": str(n + 1)})

    routes = [
        Route("/page", by_page), Route("/offset", by_offset), Route("/skip-take", by_skip_take),
        Route("/cursor", by_cursor), Route("/link", by_link), Route("/next", by_next_url),
        Route("/search", search, methods=["POST"]), Route("/rpc", rpc, methods=["POST"]),
        Route("/graphql", graphql, methods=["POST"]),
        Route("/loop/cursor", loop_cursor), Route("/loop/same", loop_same_items),
        Route("/loop/empty", loop_empty_more), Route("/loop/forever", loop_forever),
    ]
    return Starlette(routes=routes)
