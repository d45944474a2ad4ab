"""The ``sql`` connector: read a table or query, write a table, on any SQLAlchemy database.

Tested on SQLite files, PostgreSQL (psycopg 3) and MariaDB (PyMySQL). See the options schemas
in ``connectors.sql._schemas`` for every option; ``commerce-sync connectors docs sql`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.api import Connector, ConnectorContext, Sink, Source, register_secret_options
from connectors.sql._schemas import DESTINATION_OPTIONS, SOURCE_OPTIONS

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
    source_options: ClassVar[Mapping[str, Any] | None] = SOURCE_OPTIONS
    destination_options: ClassVar[Mapping[str, Any] | None] = DESTINATION_OPTIONS

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        from connectors.sql._source import SqlSource

        register_secret_options(options, self.source_options)
        return SqlSource(options, ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        from connectors.sql._sink import SqlSink

        register_secret_options(options, self.destination_options)
        return SqlSink(options, ctx)
