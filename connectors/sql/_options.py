"""The sql connector's options, typed: the JSON Schemas (2020-12) that validate and document
them are generated from these classes (:func:`connectors.options.schema_of`)."""

# No `from __future__ import annotations`: the option types are made once, when the class
# body runs, instead of compiled from strings when the schema is generated.

from typing import Any, ClassVar, Literal

from connectors.api import Options, option

__all__ = ["LinesOptions", "SqlDestinationOptions", "SqlSourceOptions", "UnpublishOptions"]

_URL_DESCRIPTION = (
    "SQLAlchemy database URL. It usually carries a password, so it is treated as a secret "
    "(logs show it with the password hidden). Bare postgresql:// and mysql:// pick the "
    "bundled psycopg 3 and PyMySQL drivers. A relative sqlite path resolves against the "
    "current directory."
)
_URL_EXAMPLES = [
    "sqlite:///var/erp.db",
    "postgresql+psycopg://erp:${ERP_DB_PASSWORD}@db.internal/erp",
    "mysql+pymysql://erp:${ERP_DB_PASSWORD}@127.0.0.1:3306/erp",
]
_SCHEMA_DESCRIPTION = "Database schema holding the table (PostgreSQL schema, MySQL database)."
_COLUMN = {"minLength": 1}


class SqlSourceOptions(Options):
    schema_extra: ClassVar[dict[str, Any]] = {
        "oneOf": [{"required": ["table"]}, {"required": ["query"]}],
        "dependentRequired": {"since_query": ["query"]},
    }

    url: str = option(description=_URL_DESCRIPTION, examples=_URL_EXAMPLES, secret=True)
    schema: str | None = option(
        default=None, nullable=True, description=_SCHEMA_DESCRIPTION, examples=["public", "erp"])
    table: str | None = option(
        default=None, minLength=1,
        description="Table (or view) to read. Give either `table` or `query`.",
        examples=["products", "on_hand"])
    query: str | None = option(
        default=None, minLength=1,
        description=(
            "A SELECT to read instead of a table, with named bind parameters (:name) whose "
            "values come from `params`. It is wrapped as a subquery so the cursor and "
            "pushed-down filters apply to its result columns; declare them in `fields`."
        ),
        examples=[
            "SELECT v.sku, v.item_id, o.physical - o.reserved AS available, o.modified_at "
            "FROM on_hand o JOIN variants v ON v.sku = o.sku WHERE o.warehouse = :wh"
        ],
    )
    since_query: str | None = option(
        default=None, minLength=1,
        description=(
            "The query for an incremental read that has a cursor value: the same columns "
            "as `query`, with the start of the read's window (the stored cursor minus the "
            "lookback) as the bind parameter `:since`. Lets the database use an index when "
            "the cursor is computed, e.g. the newest change time of a product and its "
            "variants. The window still applies to its result (`cursor.field >= since`); "
            "a first or full read uses `query`."
        ),
        examples=[
            "SELECT p.item_id, p.name, p.modified_at FROM products p WHERE p.item_id IN "
            "(SELECT item_id FROM products WHERE modified_at >= :since UNION SELECT "
            "item_id FROM variants WHERE modified_at >= :since)"
        ],
    )
    params: dict[str, Any] = option(
        default={},
        description="Values of the query's named bind parameters (never pasted as text).",
        examples=[{"wh": "MAIN"}])
    fields: tuple[str, ...] | None = option(
        default=None, items=_COLUMN,
        description=(
            "The columns this source provides. Lets the validator check mappings without "
            "connecting, limits a table read to these columns, and names a query's columns."
        ),
        examples=[["item_id", "name", "list_price", "sell_online", "modified_at"]],
    )
    order_by: tuple[str, ...] = option(
        default=(), items=_COLUMN,
        description=(
            "Columns to sort by. An incremental read sorts by its cursor field first and "
            "then by these, which keeps rows that belong together (for nest) consecutive."
        ),
        examples=[["item_id"]],
    )
    chunk_size: int = option(
        default=5000, minimum=1, maximum=1000000,
        description=(
            "Rows fetched from the server per round trip; rows are streamed through a "
            "server-side cursor, so memory stays flat whatever the table size."
        ),
        examples=[1000, 20000],
    )


class UnpublishOptions(Options):
    set: dict[str, Any] = option(
        minProperties=1, description="Column -> value written on the unpublished row.",
        examples=[{"sell_online": False}])


class LinesOptions(Options):
    table: str = option(minLength=1, description="Table of the lines.",
                        examples=["sales_order_lines"])
    field: str = option(default="lines", minLength=1,
                        description="Record field holding the list of lines.",
                        examples=["lines"])
    parent_key: str = option(
        minLength=1, description="Column of the lines table that references the header's id.",
        examples=["sales_order_id"])
    key: tuple[str, ...] = option(
        default=(), items=_COLUMN,
        description="Columns that identify a line within its header (checked to exist).",
        examples=[["line_number"]])


class SqlDestinationOptions(Options):
    url: str = option(description=_URL_DESCRIPTION, examples=_URL_EXAMPLES, secret=True)
    schema: str | None = option(
        default=None, nullable=True, description=_SCHEMA_DESCRIPTION, examples=["public", "erp"])
    table: str = option(minLength=1, description="Table to write.",
                        examples=["sales_orders", "online_stores"])
    mode: Literal["insert", "upsert", "update", "delete"] = option(
        default="upsert",
        description=(
            "What a record does to the table: insert (a duplicate key is a bad record), "
            "upsert (insert or update by key; needs a primary key or unique index on the key "
            "columns), update (existing rows only; a missing row is a bad record) or delete "
            "(remove the rows with these keys)."
        ),
        examples=["upsert", "insert"],
    )
    key: tuple[str, ...] | None = option(
        default=None, items=_COLUMN, minItems=1,
        description="Key columns that identify a row. Default: the step's key fields.",
        examples=[["item_id"], ["store_id", "store_order_id"]])
    columns: tuple[str, ...] | None = option(
        default=None, items=_COLUMN,
        description=(
            "Record fields to write (each must be a column). Default: every record field "
            "that is a column of the table; other fields are ignored (logged once)."
        ),
        examples=[["store_id", "store_order_id", "status", "total"]],
    )
    unpublish: UnpublishOptions | None = option(
        default=None,
        description=(
            "How an `unpublish` (a record no longer selected) is applied: the columns to set "
            "on its row."
        ),
        examples=[{"set": {"sell_online": False}}, {"set": {"active": 0}}],
    )
    lines: LinesOptions | None = option(
        default=None,
        description=(
            "Write a header and its lines in one transaction: the list under `field` goes "
            "into the lines `table`, each line getting the header's generated id in "
            "`parent_key`. Rewriting a header replaces its lines, so a rerun adds none."
        ),
        examples=[{
            "table": "sales_order_lines", "field": "lines",
            "parent_key": "sales_order_id", "key": ["line_number"],
        }],
    )
