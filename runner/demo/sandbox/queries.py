"""Reads of the sandbox's storage beyond the REST API's: pages of rows in id order, after a row
number (relay cursors) or at an offset (skip/take), with the filters the GraphQL schema offers;
the products holding a sku; ids per natural key (``GET /v1/_admin/keys``). Table and column
names here are this module's own; request values only ever reach SQL as parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner.demo.sandbox.storage import SandboxStore, make_id

__all__ = ["Filter", "Page", "fulfillments_of", "key_counts", "page", "sku_holders"]


@dataclass(frozen=True)
class Filter:
    """A SQL condition over one table (``?`` marks) and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Page:
    rows: list[tuple[int, bytes]]
    has_next: bool
    has_previous: bool
    total: int


def _in(column: str, values: Sequence[Any]) -> Filter:
    return Filter(f"{column} IN ({','.join('?' * len(values))})", tuple(values))


def products_filter(skus: Sequence[str] | None, published: bool | None) -> list[Filter]:
    filters = []
    if skus is not None:
        held = _in("key", skus)
        by_variant = _in("sku", skus)
        filters.append(
            Filter(
                f"({held.sql} OR n IN (SELECT product_n FROM variant_skus WHERE {by_variant.sql}))",
                held.params + by_variant.params,
            )
        )
    if published is not None:
        filters.append(Filter("json_extract(content, '$.published') = ?", (int(published),)))
    return filters


def inventory_filter(skus: Sequence[str] | None, location: str | None) -> list[Filter]:
    filters = []
    if skus is not None:
        filters.append(_in("json_extract(content, '$.sku')", skus))
    if location is not None:
        filters.append(Filter("json_extract(content, '$.warehouse') = ?", (location,)))
    return filters


def orders_filter(updated_since: str | None, status: str | None) -> list[Filter]:
    filters = []
    if updated_since is not None:
        filters.append(Filter("updated_at >= ?", (updated_since,)))
    if status is not None:
        filters.append(Filter("status = ?", (status,)))
    return filters


def page(
    store: SandboxStore,
    table: str,
    filters: Sequence[Filter],
    *,
    after: int | None,
    offset: int | None,
    limit: int,
) -> Page:
    """Rows ``(n, body)`` of ``table`` in id order: after row ``after``, or from ``offset``."""
    where = " AND ".join(f.sql for f in filters) or "1=1"
    params: list[Any] = [p for f in filters for p in f.params]
    sql = f"SELECT n, body FROM {table} WHERE {where}"
    page_params = list(params)
    if after is not None:
        sql += " AND n > ?"
        page_params.append(after)
    sql += " ORDER BY n LIMIT ? OFFSET ?"
    # One row more than asked says whether there is a next page.
    page_params += [limit + 1, offset or 0]
    with store.reading() as conn:
        rows = conn.execute(sql, page_params).fetchall()
        total = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]
    return Page(
        rows=[(n, body) for n, body in rows[:limit]],
        has_next=len(rows) > limit,
        has_previous=bool(after or offset),
        total=total,
    )


def fulfillments_of(store: SandboxStore, order_n: int) -> list[bytes]:
    with store.reading() as conn:
        rows = conn.execute(
            "SELECT body FROM shipments WHERE order_n = ? ORDER BY n", (order_n,)
        ).fetchall()
    return [body for (body,) in rows]


def sku_holders(store: SandboxStore, sku: str) -> list[tuple[int, bool]]:
    """Products holding ``sku``, oldest first: (row number, True if as a variant's sku)."""
    with store.reading() as conn:
        own = conn.execute("SELECT n FROM products WHERE key = ? ORDER BY n", (sku,)).fetchall()
        variant = conn.execute(
            "SELECT product_n FROM variant_skus WHERE sku = ? ORDER BY product_n", (sku,)
        ).fetchall()
    return [(n, False) for (n,) in own] + [(n, True) for (n,) in variant]


def key_counts(
    store: SandboxStore, resource: str, keys: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Ids per natural key: product sku (``products``) or variant sku (``variants``), only
    for ``keys`` if given (a key absent from the store maps to ``[]``)."""
    if resource == "products":
        sql = "SELECT key, n FROM products"
        column = "key"
    elif resource == "variants":
        sql = "SELECT sku, product_n FROM variant_skus"
        column = "sku"
    else:
        raise ValueError(f"no natural keys are counted for {resource!r}")
    found: dict[str, list[str]] = {key: [] for key in keys}
    with store.reading() as conn:
        if keys:
            unique = list(dict.fromkeys(keys))
            rows: list[tuple[str, int]] = []
            for start in range(0, len(unique), 900):
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                rows += conn.execute(f"{sql} WHERE {column} IN ({marks})", chunk).fetchall()
        else:
            rows = conn.execute(sql).fetchall()
    for key, n in sorted(rows, key=lambda row: row[1]):
        found.setdefault(key, []).append(make_id("prd", n))
    return found
