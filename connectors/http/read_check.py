"""What ``validate`` can say about the paths a read names, without importing httpx (the
connector's ``check`` runs on every ``validate``, which must start fast)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .template import split_path

__all__ = ["path_problems"]


def path_problems(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(option path, message)`` for every malformed path a read names (records, select,
    paging, list keys): what opening would refuse, said to ``validate`` first."""
    found: list[tuple[str, str]] = []

    def check(where: str, path: Any) -> None:
        if isinstance(path, str):
            try:
                split_path(path)
            except ValueError as exc:
                found.append((where, str(exc)))

    for block, base in ((options, ""), (options.get("list") or {}, "list.")):
        check(f"{base}records", block.get("records"))
        for part in ("graphql", "jsonrpc"):
            check(f"{base}{part}.records", (block.get(part) or {}).get("records"))
            check(f"{base}{part}.page_info", (block.get(part) or {}).get("page_info"))
        for name in ("next_path", "page_info"):
            check(f"{base}pagination.{name}", (block.get("pagination") or {}).get(name))
        check(f"{base}id_path", block.get("id_path") if base else None)
        for i, key in enumerate(block.get("key_fields") or [] if base else []):
            check(f"{base}key_fields[{i}]", key)
    for name, spec in (options.get("select") or {}).items():
        check(f"select.{name}", spec if isinstance(spec, str) else spec.get("path"))
    return found
