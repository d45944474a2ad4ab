"""Field paths: the one syntax every part of a pipeline uses to name a value inside a record.

``sku``, ``customer.email``, ``lines[0].sku`` or ``lines.0.sku`` (digits index a list),
``carrier["carrier_product."]`` or ``carrier."carrier_product."`` (a quoted key is taken whole,
dots and brackets included; ``\\"`` and ``\\\\`` escape inside quotes).

Two readers share the parser:

- :func:`getter` reads a path of a record for the pipeline language (``map``, filters, keys).
  A missing top-level field is null, as it always was. A path whose root is present but whose
  tail is not (a key absent from a mapping, an index past the end of a list, a scalar where a
  mapping was expected) raises :class:`~runner.errors.RecordError` naming the path and what was
  there, so the record is quarantined rather than given a silent null. A present key holding
  null is null. ``optional=True`` gives null instead (``missing: null`` in a pipeline).
- :func:`get_path` reads a JSON body for connectors (response paths: ``records``, ``id_path``,
  ``next_path``...): a missing part gives ``default`` (:data:`MISSING`), and the connector
  decides what that means.

A literal key containing a dot wins over the nested reading for flat rows (an SQL column named
``a.b``). This module sits beside ``runner.spec`` and ``runner.errors``: everything may import
it, and it imports only the errors. Connectors reach it through ``connectors.api``.

>>> split_path('lines[0].carrier["carrier_product."]')
('lines', '0', 'carrier', 'carrier_product.')
>>> getter("customer.email")({"customer": {"email": "a@b.c"}})
'a@b.c'
>>> getter("customer.email")({"customer": {"name": "A"}})
Traceback (most recent call last):
...
runner.errors.RecordError: customer.email: no key 'email' in customer (keys: name)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import RecordError

__all__ = [
    "MISSING", "Getter", "PathError", "format_path", "get_path", "getter", "is_plain",
    "path_error", "root_field", "split_path",
]

Getter = Callable[[Mapping[str, Any]], Any]

_SHOWN_KEYS = 10  # keys listed in a "no key" message; a wide object is cut short


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class PathError(ValueError):
    """A malformed path; the message says where (``column N``) and how to fix it."""


def is_plain(path: str) -> bool:
    """A top-level name read with ``row.get(path)``: no dot, bracket or quote."""
    # Three `in` tests, not any() over a generator: connectors ask this per record (6x faster).
    return "." not in path and "[" not in path and '"' not in path


@functools.lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str, ...]:
    """The keys of a path: dots separate keys; ``[0]`` indexes a list; a key quoted as
    ``"..."`` or ``["..."]`` is taken whole. Raises :class:`PathError` for a malformed path.

    >>> split_path('a."b.c"[2]')
    ('a', 'b.c', '2')
    """
    if not path:
        return ()  # the record (or body) itself
    if '"' not in path and "[" not in path:
        parts = tuple(path.split("."))
        if "" in parts:
            raise _dot_error(path)
        return parts
    parts_list: list[str] = []
    i, n = 0, len(path)
    while i < n:
        if path.startswith('["', i) or path[i] == '"':
            i = _quoted(path, i, parts_list)
        elif path[i] == "[":
            end = path.find("]", i)
            if end < 0 or not path[i + 1 : end].isdigit():
                raise PathError(f"expected [index] or [\"key\"] at column {i + 1} of path "
                                f"{path!r}")
            parts_list.append(path[i + 1 : end])
            i = end + 1
        else:
            end = min((j for j in (path.find(".", i), path.find("[", i)) if j >= 0), default=n)
            if end == i:
                raise _dot_error(path)
            if '"' in path[i:end]:
                column = path.index('"', i) + 1
                raise PathError(f"unexpected quote at column {column} of path {path!r}; quote "
                                'a whole key: a["b.c"]')
            parts_list.append(path[i:end])
            i = end
        if i < n and path[i] == ".":
            i += 1
            if i == n:
                raise _dot_error(path)
        elif i < n and path[i] != "[":
            raise PathError(f"expected . or [ at column {i + 1} of path {path!r}")
    return tuple(parts_list)


def _quoted(path: str, i: int, parts: list[str]) -> int:
    """Read the quoted key starting at ``i`` (``"..."`` or ``["..."]``) into ``parts``."""
    n = len(path)
    bracket = path[i] == "["
    i += 2 if bracket else 1
    key: list[str] = []
    while i < n and path[i] != '"':
        if path[i] == "\\" and i + 1 < n:
            i += 1
        key.append(path[i])
        i += 1
    if i >= n:
        raise PathError(f"unclosed quote in path {path!r}")
    i += 1
    if bracket:
        if not path.startswith("]", i):
            raise PathError(f"expected ] at column {i + 1} of path {path!r}")
        i += 1
    parts.append("".join(key))
    return i


def _dot_error(path: str) -> PathError:
    if path.endswith("."):
        return PathError(f"path {path!r} ends with a dot; quote a key that ends with one: "
                         f"{_suggest_quote(path)}")
    if path.startswith("."):
        return PathError(f"path {path!r} starts with a dot")
    return PathError(f"path {path!r} has an empty key between two dots")


def _suggest_quote(path: str) -> str:
    head, _, last = path[:-1].rpartition(".")
    quoted = f'["{last}."]'
    return f"{head}{quoted}" if head else f'"{last}."'


def path_error(path: str) -> str | None:
    """Why ``path`` is malformed, or None (for ``validate``)."""
    try:
        split_path(path)
    except PathError as exc:
        return str(exc)
    return None


def root_field(path: str) -> str:
    """The top-level field a path reads (what a source must select); a malformed path is its
    own root (validate reports it)."""
    if is_plain(path):
        return path
    try:
        return split_path(path)[0]
    except PathError:
        return path


def format_path(parts: tuple[str, ...]) -> str:
    """Parts written back as a path, quoting what needs it: ``('a', 'b.')`` -> ``a["b."]``."""
    out = ""
    for index, part in enumerate(parts):
        if part and is_plain(part):
            out += part if index == 0 else f".{part}"
        else:
            quoted = '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += quoted if index == 0 else f"[{quoted}]"
    return out


def get_path(data: Any, path: str, default: Any = MISSING) -> Any:
    """Follow ``path`` through dicts and lists; ``default`` when a part is missing. An empty
    path is ``data`` itself (a response whose body is the list).

    >>> get_path({"a": {"b.": [1, 2]}}, 'a["b."].1')
    2
    >>> get_path({"a": {}}, "a.b")
    MISSING
    """
    if not path:
        return data
    if type(data) is dict and "." not in path and "[" not in path and '"' not in path:
        return data.get(path, default)  # the common case, kept cheap for large batches
    node = data
    for part, position in _steps(path):
        kind = type(node)
        if kind is dict or (kind is not list and isinstance(node, Mapping)):
            if part not in node:
                return default
            node = node[part]
        elif kind is list and 0 <= position < len(node):
            node = node[position]
        else:
            return default
    return node


@functools.lru_cache(maxsize=4096)
def _steps(path: str) -> tuple[tuple[str, int], ...]:
    """The parts of ``path`` with their list position (-1: not a number), parsed once."""
    return tuple((part, int(part) if part.isdigit() else -1) for part in split_path(path))


def getter(path: str, *, where: str | None = None, optional: bool = False) -> Getter:
    """A function reading ``path`` of a record by the rules of the module docstring.

    ``where`` starts the message of a missing path (the mapped field, ``filter``...; default
    the path itself). Raises :class:`PathError` for a malformed path.

    >>> getter("sku")({}) is None
    True
    >>> getter("lines[1].sku")({"lines": [{"sku": "A"}, {"sku": "B"}]})
    'B'
    >>> getter("a.b", optional=True)({"a": {}}) is None
    True
    """
    if is_plain(path):
        def get(row: Mapping[str, Any]) -> Any:
            return row.get(path)

        return get
    parts = split_path(path)
    if len(parts) == 1:  # a quoted top-level key: "odd.key"
        (name,) = parts

        def get_quoted(row: Mapping[str, Any]) -> Any:
            return row.get(name)

        return get_quoted
    root, rest = parts[0], _steps(path)[1:]
    label = where or path

    def get_nested(row: Mapping[str, Any]) -> Any:
        if path in row:  # a flat row whose column is named like the path
            return row[path]
        node: Any = row.get(root)
        for index, (part, position) in enumerate(rest):
            kind = type(node)
            if kind is dict:
                if part in node:
                    node = node[part]
                    continue
            elif node is None:
                return None  # a present null stays null, however deep the path goes on
            elif kind is list or kind is tuple:
                if 0 <= position < len(node):
                    node = node[position]
                    continue
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
                continue
            if optional:
                return None
            raise RecordError(f"{label}: {_absence(parts[: index + 2], node)}", field=label)
        return node

    return get_nested


def _absence(parts: tuple[str, ...], node: Any) -> str:
    """What was there instead of ``parts[-1]``: ``no key 'code' in customer.carrier (keys:
    id, name)``."""
    part, where = parts[-1], format_path(parts[:-1])
    if isinstance(node, Mapping):
        keys = [str(k) for k in node]
        shown = ", ".join(keys[:_SHOWN_KEYS]) + (", ..." if len(keys) > _SHOWN_KEYS else "")
        return f"no key {part!r} in {where} (keys: {shown or 'none, it is empty'})"
    if isinstance(node, list | tuple):
        if part.isdigit():
            return f"no item {part} in {where} (a list of {len(node)})"
        return f"{where} is a list; index it with a number, not {part!r}"
    text = repr(node)
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{where} is {text} ({type(node).__name__}), not an object with a key {part!r}"
