"""The ``sql`` connector: read a table or query, write a table, on any SQLAlchemy database.

Tested on SQLite files, PostgreSQL (psycopg 3) and MariaDB (PyMySQL). See the options schemas
in ``connectors.sql._schemas`` for every option; ``commerce-sync connectors docs sql`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.api import Connector, ConnectorContext, Sink, Source, register_secret_options
from connectors.sql._schemas import DESTINATION_OPTIONS, SOURCE_OPTIONS
from connectors.sql._sink import SqlSink
from connectors.sql._source import SqlSource

__all__ = ["SqlConnector", "SqlSink", "SqlSource"]


class SqlConnector(Connector):
    name: ClassVar[str] = "sql"
    description: ClassVar[str] = (
        "A SQL database by SQLAlchemy URL (PostgreSQL, MariaDB/MySQL, SQLite...): stream a "
        "table or query; insert, upsert, update or delete rows, headers with their lines."
    )
    source_options: ClassVar[Mapping[str, Any] | None] = SOURCE_OPTIONS
    destination_options: ClassVar[Mapping[str, Any] | None] = DESTINATION_OPTIONS

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        register_secret_options(options, self.source_options)
        return SqlSource(options, ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        register_secret_options(options, self.destination_options)
        return SqlSink(options, ctx)
