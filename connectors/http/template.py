"""Safe ``{field}`` placeholder substitution for request templates, and dotted-path lookups.

Templates are JSON-like values (dicts, lists, strings, numbers) from the pipeline file. A string
may hold ``{name}`` or ``{name.sub}`` placeholders; ``{{`` and ``}}`` stand for literal braces.
Lookups only index dicts by key and lists by position: there is no attribute access and no
formatting mini-language, so ``{0.__class__}`` is plain text and ``{__import__}`` is refused.
(``str.format`` would let a pipeline file reach Python objects through attribute access.)

>>> render("/v1/orders/{order_id}/shipments", {"order_id": "A/1"}, url=True)
'/v1/orders/A%2F1/shipments'
>>> render({"qty": "{qty}", "note": "x {qty}"}, {"qty": 3})
{'qty': 3, 'note': 'x 3'}
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from runner.errors import ConfigError, RecordError

__all__ = [
    "MATCH_SPECIALS", "MISSING", "Template", "check_template", "get_path", "placeholders",
    "render", "split_path",
]

# The placeholders of a match request: the keys of one request, or the one key of its path.
MATCH_SPECIALS = frozenset({"keys", "key"})

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def get_path(data: Any, path: str, default: Any = MISSING) -> Any:
    """Follow a dotted path (``data.orders.nodes``, ``items.0.id``) through dicts and lists.
    An empty path is ``data`` itself. A key with dots or other odd characters is quoted:
    ``carrier["carrier_product."]`` or ``carrier."carrier_product."`` (see :func:`split_path`).

    >>> get_path({"a": {"b.": [1, 2]}}, 'a["b."].1')
    2
    """
    if not path:
        return data
    if type(data) is dict and "." not in path and '"' not in path and "[" not in path:
        return data.get(path, default)  # the common case, kept cheap for large batches
    node = data
    for part in split_path(path):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


@functools.lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str, ...]:
    """The keys of a path: dots separate keys; ``[0]`` indexes a list; a key quoted as
    ``"..."`` or ``["..."]`` is taken whole (``\\"`` and ``\\\\`` escape inside quotes).
    Raises ValueError with the position of a malformed path.

    >>> split_path('lines[0].carrier["carrier_product."]')
    ('lines', '0', 'carrier', 'carrier_product.')
    """
    if '"' not in path and "[" not in path:
        return tuple(path.split("."))
    parts: list[str] = []
    i, n = 0, len(path)
    while i < n:
        if path.startswith('["', i) or path[i] == '"':
            bracket = path[i] == "["
            i += 2 if bracket else 1
            key: list[str] = []
            while i < n and path[i] != '"':
                if path[i] == "\\" and i + 1 < n:
                    i += 1
                key.append(path[i])
                i += 1
            if i >= n:
                raise ValueError(f"unclosed quote in path {path!r}")
            i += 1
            if bracket:
                if not path.startswith("]", i):
                    raise ValueError(f"expected ] at column {i + 1} of path {path!r}")
                i += 1
            parts.append("".join(key))
        elif path[i] == "[":
            end = path.find("]", i)
            if end < 0 or not path[i + 1 : end].isdigit():
                raise ValueError(f"expected [index] or [\"key\"] at column {i + 1} of path "
                                 f"{path!r}")
            parts.append(path[i + 1 : end])
            i = end + 1
        else:
            end = min((j for j in (path.find(".", i), path.find("[", i)) if j >= 0), default=n)
            parts.append(path[i:end])
            i = end
        if i < n and path[i] == ".":
            i += 1
            if i == n:
                raise ValueError(f"path {path!r} ends with a dot; quote a key that ends with one")
        elif i < n and path[i] != "[":
            raise ValueError(f"expected . or [ at column {i + 1} of path {path!r}")
    return tuple(parts)


def placeholders(template: Any) -> set[str]:
    """Every placeholder name used anywhere in ``template``."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(m.group(1) for m in _TOKEN.finditer(template) if m.group(1))
    elif isinstance(template, Mapping):
        for value in template.values():
            found |= placeholders(value)
    elif isinstance(template, list):
        for value in template:
            found |= placeholders(value)
    return found


def check_template(template: Any, where: str) -> None:
    """Refuse placeholders naming dunder keys: nothing legitimate needs them, and refusing them
    at open time makes an injection attempt a configuration error instead of a lookup."""
    for name in placeholders(template):
        if any(part.startswith("__") for part in name.split(".")):
            raise ConfigError(
                f"{where}: placeholder {{{name}}} is not allowed; placeholder names are record "
                "fields and cannot start with '__'"
            )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


Lookup = Callable[[str], Any]


def _lookup_in(context: Mapping[str, Any]) -> Lookup:
    return lambda name: get_path(context, name)


def render(
    template: Any,
    context: Mapping[str, Any] | Lookup,
    *,
    url: bool = False,
    missing: str = "error",
) -> Any:
    """Fill the placeholders of ``template`` from ``context``.

    A string that is exactly one placeholder keeps the value's type; otherwise values are
    inserted as text (percent-encoded when ``url``). ``missing``: ``"error"`` raises
    RecordError for an absent value; ``"omit"`` drops a dict entry whose whole value is an
    absent or null placeholder (query parameters such as ``updated_since: "{cursor}"``).
    """
    return Template(template, url=url, missing=missing).render(context)


Compiled = Callable[[Lookup], Any]


class Template:
    """A template parsed once (at open time) and rendered per record without re-parsing."""

    def __init__(self, source: Any, *, url: bool = False, missing: str = "error") -> None:
        self.source = source
        self._url = url
        self._missing = missing
        self._fn = self._compile(source)

    def render(self, context: Mapping[str, Any] | Lookup) -> Any:
        lookup = context if callable(context) else _lookup_in(context)
        return self._fn(lookup)

    def _compile(self, node: Any) -> Compiled:
        if isinstance(node, str):
            return self._compile_str(node)
        if isinstance(node, Mapping):
            items = [(key, self._compile(value)) for key, value in node.items()]

            def render_dict(lookup: Lookup) -> Any:
                out: dict[str, Any] = {}
                for key, fn in items:
                    value = fn(lookup)
                    if value is not MISSING:
                        out[key] = value
                return out

            return render_dict
        if isinstance(node, list):
            fns = [self._compile(value) for value in node]
            return lambda lookup: [fn(lookup) for fn in fns]
        return lambda lookup: node

    def _compile_str(self, text: str) -> Compiled:
        url, missing = self._url, self._missing
        whole = _TOKEN.fullmatch(text)
        if whole and whole.group(1):
            name = whole.group(1)
            _refuse_dunder(name)

            def render_one(lookup: Lookup) -> Any:
                value = _resolve(name, lookup, missing)
                if value is MISSING or (value is None and missing == "omit"):
                    return MISSING
                return quote(_text(value), safe="") if url else value

            return render_one
        pieces: list[tuple[bool, str]] = []  # (is_placeholder, literal text or name)
        last = 0
        for match in _TOKEN.finditer(text):
            pieces.append((False, text[last : match.start()]))
            token = match.group(0)
            if token in ("{{", "}}"):
                pieces.append((False, token[0]))
            else:
                _refuse_dunder(match.group(1))
                pieces.append((True, match.group(1)))
            last = match.end()
        pieces.append((False, text[last:]))
        if not any(is_name for is_name, _ in pieces):
            constant = "".join(part for _, part in pieces)
            return lambda lookup: constant

        def render_mixed(lookup: Lookup) -> str:
            out = []
            for is_name, part in pieces:
                if not is_name:
                    out.append(part)
                    continue
                value = _resolve(part, lookup, missing)
                value_text = _text(None if value is MISSING else value)
                out.append(quote(value_text, safe="") if url else value_text)
            return "".join(out)

        return render_mixed


def _refuse_dunder(name: str) -> None:
    if any(part.startswith("__") for part in name.split(".")):
        raise RecordError(f"placeholder {{{name}}} is not allowed (names cannot start with '__')")


def _resolve(name: str, lookup: Lookup, missing: str) -> Any:
    value = lookup(name)
    if value is MISSING and missing == "error":
        raise RecordError(
            f"template placeholder {{{name}}} has no value in the record; add the field in the "
            "step's map or fix the template",
            field=name,
        )
    return value
