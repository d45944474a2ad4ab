"""The ``http`` connector: REST, GraphQL and JSON-RPC APIs as sources and destinations.

Options are typed in :mod:`connectors.http.options` (their schemas are generated from it);
requests are JSON-like templates with safe ``{field}`` placeholders
(:mod:`connectors.http.template`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.api import (
    CheckContext,
    Connector,
    ConnectorContext,
    OptionProblem,
    Sink,
    Source,
    register_secret_options,
    schema_of,
    validate_options,
)

from .check import check_options
from .options import HttpDestinationOptions, HttpSourceOptions
from .read_check import path_problems

# httpx's own command-line program (httpx._main) imports click, rich and pygments wherever
# they are installed (uvicorn, which serves the sandbox and the console, brings click): ~25 ms
# of every run's start, for a module this process never calls. A None entry in sys.modules
# makes that import fail, and httpx answers a failed import of it with a stub of its own.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

if TYPE_CHECKING:
    from .sink import HttpSink
    from .source import HttpSource

__all__ = ["HttpConnector", "HttpSink", "HttpSource"]


def __getattr__(name: str) -> Any:
    # The source and sink import httpx (~0.1 s): loaded when a step opens them, so that
    # `validate`, which only needs the options schemas, does not pay for it.
    if name in ("HttpSink", "ListableHttpSink"):
        from . import sink

        return getattr(sink, name)
    if name == "HttpSource":
        from .source import HttpSource

        return HttpSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SOURCE = schema_of(HttpSourceOptions)
_DESTINATION = schema_of(HttpDestinationOptions)


class HttpConnector(Connector):
    name = "http"
    description = "REST, GraphQL and JSON-RPC APIs: paged reads, templated and batched writes."
    source_options: ClassVar[Mapping[str, Any] | None] = _SOURCE
    destination_options: ClassVar[Mapping[str, Any] | None] = _DESTINATION

    def check(self, options: Mapping[str, Any], ctx: CheckContext) -> list[OptionProblem]:
        """Placeholders against the step's fields, GraphQL documents parsed with their
        variables, option combinations the sink would refuse: no I/O."""
        parsed = (HttpSourceOptions.parse(options) if ctx.role == "source"
                  else HttpDestinationOptions.parse(options))
        paths = [OptionProblem(where, message) for where, message in path_problems(parsed)]
        return check_options(parsed, ctx) + paths

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        register_secret_options(options, _SOURCE)
        validate_options(options, _SOURCE, "source")
        from .source import HttpSource

        return HttpSource(HttpSourceOptions.parse(options), ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        register_secret_options(options, _DESTINATION)
        validate_options(options, _DESTINATION, "destination")
        from .sink import open_http_sink

        return open_http_sink(HttpDestinationOptions.parse(options), ctx)
