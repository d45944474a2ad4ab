"""Safe ``{field}`` placeholder substitution for request templates.

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

from connectors.api import MISSING, get_path
from runner.errors import ConfigError, RecordError

__all__ = ["MATCH_SPECIALS", "Template", "check_template", "placeholders", "render"]

# The placeholders of a match request: the keys of one request, or the one key of its path.
MATCH_SPECIALS = frozenset({"keys", "key"})

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")


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
