"""The ``sql`` connector: read a table or query, write a table, on any SQLAlchemy database.

Tested on SQLite files, PostgreSQL (psycopg 3) and MariaDB (PyMySQL). Every option is a field
of ``connectors.sql._options`` (its schema is generated from it); ``commerce-sync connectors
docs`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.api import (
    Connector,
    ConnectorContext,
    Sink,
    Source,
    register_secret_options,
    schema_of,
)
from connectors.sql._options import SqlDestinationOptions, SqlSourceOptions

if TYPE_CHECKING:
    from connectors.sql._sink import SqlSink
    from connectors.sql._source import SqlSource

__all__ = ["SqlConnector", "SqlSink", "SqlSource"]


def __getattr__(name: str) -> Any:
    # The source and sink import SQLAlchemy (~0.15 s): loaded when a step opens them, so that
    # `validate`, which only needs the options schemas, does not pay for it.
    if name == "SqlSink":
        from connectors.sql._sink import SqlSink

        return SqlSink
    if name == "SqlSource":
        from connectors.sql._source import SqlSource

        return SqlSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SqlConnector(Connector):
    name: ClassVar[str] = "sql"
    description: ClassVar[str] = (
        "A SQL database by SQLAlchemy URL (PostgreSQL, MariaDB/MySQL, SQLite...): stream a "
        "table or query; insert, upsert, update or delete rows, headers with their lines."
    )
    source_options: ClassVar[Mapping[str, Any] | None] = schema_of(SqlSourceOptions)
    destination_options: ClassVar[Mapping[str, Any] | None] = schema_of(SqlDestinationOptions)

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        from connectors.sql._source import SqlSource

        register_secret_options(options, self.source_options)
        return SqlSource(SqlSourceOptions.parse(options), ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        from connectors.sql._sink import SqlSink

        register_secret_options(options, self.destination_options)
        return SqlSink(SqlDestinationOptions.parse(options), ctx)
