"""The sandbox store's GraphQL admin API (``POST /graphql``), described by
``schemas/sandbox.graphql``: the schema is built from that file, so what is served is what is
documented. Resolvers read and write the same :class:`SandboxStore` as the REST API, and obey
the same modes (create-always, errors-in-200) and budgets (the gate's cost budget).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from starlette.requests import Request
from starlette.responses import Response

from runner.demo.sandbox.graphql_cost import requested_cost
from runner.demo.sandbox.graphql_resolvers import DEFAULT_PAGE, Context, Root
from runner.demo.sandbox.responses import ORJSONResponse

if TYPE_CHECKING:
    from runner.demo.sandbox.faults import Gate
    from runner.demo.sandbox.storage import SandboxStore

__all__ = ["SCHEMA_PATH", "endpoint", "schema"]

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "sandbox.graphql"


@functools.cache
def schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


def _errors(*messages: str, code: str | None = None, status: int = 200) -> ORJSONResponse:
    extensions = {"extensions": {"code": code}} if code else {}
    return ORJSONResponse(
        {"errors": [{"message": m, **extensions} for m in messages]}, status_code=status
    )


def endpoint(store: SandboxStore, gate: Gate) -> Any:
    """The ``/graphql`` handler over ``store``; ``gate`` holds the modes and the cost budget."""
    root = Root()

    async def handle(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _errors("the request body is not valid JSON", status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return _errors('send {"query": "...", "variables": {...}}', status=400)
        variables = payload.get("variables") or {}
        name = payload.get("operationName")
        if not isinstance(variables, dict) or not isinstance(name, str | None):
            return _errors("variables must be an object and operationName a string", status=400)
        try:
            document = parse(payload["query"])
        except GraphQLError as exc:
            return ORJSONResponse({"errors": [exc.formatted]})
        problems = validate(schema(), document)
        if problems:
            return ORJSONResponse({"errors": [p.formatted for p in problems]})
        cost = requested_cost(schema(), document, name, variables, default_page=DEFAULT_PAGE)
        extensions: dict[str, Any] = {"requestedQueryCost": cost.requested}
        status = gate.reserve_cost(cost.requested)
        if status is not None:
            granted = status.pop("granted")
            if not granted:
                extensions |= {"actualQueryCost": None, "throttleStatus": status}
                body = _throttled(cost.requested, status)
                return ORJSONResponse({**body, "extensions": {"cost": extensions}})
        context = Context(store=store, faults=gate.faults)
        result = execute_sync(schema(), document, root, context, variables, name)
        actual = cost.actual(result.data)
        extensions["actualQueryCost"] = actual
        settled = gate.settle_cost(cost.requested, actual)
        if settled is not None:
            extensions["throttleStatus"] = settled
        return ORJSONResponse({**result.formatted, "extensions": {"cost": extensions}})

    return handle


def _throttled(requested: int, status: dict[str, Any]) -> dict[str, Any]:
    if requested > status["maximumAvailable"]:
        message = (
            f"Query cost is {requested}, which exceeds the single query max cost limit "
            f"({status['maximumAvailable']:g}); ask for smaller pages"
        )
        code = "MAX_COST_EXCEEDED"
    else:
        message = "Throttled: wait for the budget to restore (see extensions.cost.throttleStatus)"
        code = "THROTTLED"
    return {"errors": [{"message": message, "extensions": {"code": code}}]}
