"""The ``http`` connector: REST, GraphQL and JSON-RPC APIs as sources and destinations.

Options are declared in :mod:`connectors.http.schema`; requests are JSON-like templates with
safe ``{field}`` placeholders (:mod:`connectors.http.template`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jsonschema

from connectors.api import (
    CheckContext,
    Connector,
    ConnectorContext,
    OptionProblem,
    Sink,
    Source,
    register_secret_options,
)
from runner.errors import ConfigError, ConfigProblem, redact

from .read_check import path_problems
from .schema import DESTINATION_OPTIONS, SOURCE_OPTIONS
from .sink import HttpSink, ListableHttpSink
from .source import HttpSource

__all__ = ["HttpConnector", "HttpSink", "HttpSource"]


def _validate(options: Mapping[str, Any], schema: Mapping[str, Any], role: str) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        ConfigProblem(
            "", 0, 0,
            ".".join([role, *(str(p) for p in error.absolute_path)]),
            redact(error.message),
        )
        for error in validator.iter_errors(dict(options))
    ]
    if problems:
        raise ConfigError(problems)


class HttpConnector(Connector):
    name = "http"
    description = "REST, GraphQL and JSON-RPC APIs: paged reads, templated and batched writes."
    source_options: ClassVar[Mapping[str, Any] | None] = SOURCE_OPTIONS
    destination_options: ClassVar[Mapping[str, Any] | None] = DESTINATION_OPTIONS

    def check(self, options: Mapping[str, Any], ctx: CheckContext) -> list[OptionProblem]:
        del ctx
        return [OptionProblem(where, message) for where, message in path_problems(options)]

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        register_secret_options(options, SOURCE_OPTIONS)
        _validate(options, SOURCE_OPTIONS, "source")
        return HttpSource(options, ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        register_secret_options(options, DESTINATION_OPTIONS)
        _validate(options, DESTINATION_OPTIONS, "destination")
        return ListableHttpSink(options, ctx) if options.get("list") else HttpSink(options, ctx)
