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
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from runner.errors import ConfigError, RecordError

__all__ = ["MISSING", "check_template", "get_path", "placeholders", "render"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def get_path(data: Any, path: str, default: Any = MISSING) -> Any:
    """Follow a dotted path (``data.orders.nodes``, ``items.0.id``) through dicts and lists.
    An empty path is ``data`` itself."""
    if not path:
        return data
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


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
    lookup = context if callable(context) else _lookup_in(context)
    return _render(template, lookup, url, missing)


def _render(template: Any, lookup: Lookup, url: bool, missing: str) -> Any:
    if isinstance(template, str):
        return _render_str(template, lookup, url, missing)
    if isinstance(template, Mapping):
        out: dict[str, Any] = {}
        for key, value in template.items():
            rendered = _render(value, lookup, url, missing)
            if rendered is MISSING:
                continue
            out[key] = rendered
        return out
    if isinstance(template, list):
        return [_render(value, lookup, url, missing) for value in template]
    return template


def _render_str(template: str, lookup: Lookup, url: bool, missing: str) -> Any:
    whole = _TOKEN.fullmatch(template)
    if whole and whole.group(1):
        value = _resolve(whole.group(1), lookup, missing)
        if value is MISSING or (value is None and missing == "omit"):
            return MISSING
        if url:
            return quote(_text(value), safe="")
        return value

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = _resolve(match.group(1), lookup, missing)
        if value is MISSING:
            value = None
        text = _text(value)
        return quote(text, safe="") if url else text

    return _TOKEN.sub(substitute, template)


def _resolve(name: str, lookup: Lookup, missing: str) -> Any:
    if any(part.startswith("__") for part in name.split(".")):
        raise RecordError(f"placeholder {{{name}}} is not allowed (names cannot start with '__')")
    value = lookup(name)
    if value is MISSING and missing == "error":
        raise RecordError(
            f"template placeholder {{{name}}} has no value in the record; add the field in the "
            "step's map or fix the template",
            field=name,
        )
    return value
