"""What ``validate`` can say about the paths a read names, without importing httpx (the
connector's ``check`` runs on every ``validate``, which must start fast)."""

from __future__ import annotations

from connectors.api import split_path

from .options import HttpDestinationOptions, HttpSourceOptions
from .options_read import CursorPaging, ListOptions, NextUrlPaging, RelayPaging

__all__ = ["path_problems"]


def path_problems(
    options: HttpSourceOptions | HttpDestinationOptions,
) -> list[tuple[str, str]]:
    """``(option path, message)`` for every malformed path a read names (records, select,
    paging, list keys): what opening would refuse, said to ``validate`` first."""
    found: list[tuple[str, str]] = []

    def check(where: str, path: str | None) -> None:
        if path is not None:
            try:
                split_path(path)
            except ValueError as exc:
                found.append((where, str(exc)))

    def read(block: HttpSourceOptions | ListOptions, base: str) -> None:
        check(f"{base}records", block.records)
        if block.graphql is not None:
            check(f"{base}graphql.records", block.graphql.records)
            check(f"{base}graphql.page_info", block.graphql.page_info)
        if block.jsonrpc is not None:
            check(f"{base}jsonrpc.records", block.jsonrpc.records)
        paging = block.pagination
        if isinstance(paging, CursorPaging | NextUrlPaging):
            check(f"{base}pagination.next_path", paging.next_path)
        if isinstance(paging, RelayPaging):
            check(f"{base}pagination.page_info", paging.page_info)

    if isinstance(options, HttpSourceOptions):
        read(options, "")
        for name, spec in (options.select or {}).items():
            check(f"select.{name}", spec if isinstance(spec, str) else spec.path)
    elif options.list is not None:
        read(options.list, "list.")
        check("list.id_path", options.list.id_path)
        for i, key in enumerate(options.list.key_fields or ()):
            check(f"list.key_fields[{i}]", key)
    return found
