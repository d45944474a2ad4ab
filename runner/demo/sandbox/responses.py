"""JSON responses and the one exception the sandbox's handlers raise for a client error."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["ApiError", "ORJSONResponse", "error_response"]


class ORJSONResponse(Response):
    """A JSON response rendered by orjson (several times faster than the standard library on
    the big batch bodies the benchmarks send)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):  # already rendered, e.g. a stored idempotent reply
            return content
        return orjson.dumps(content)


class ApiError(Exception):
    """A request the store refuses: becomes ``{"error": message, ...details}`` with ``status``."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


def error_response(status: int, message: str, **details: Any) -> ORJSONResponse:
    return ORJSONResponse({"error": message, **details}, status_code=status)
