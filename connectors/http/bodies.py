"""What a response body says went wrong: errors inside successful answers, HTML error pages.

A system may answer an error with 200 (GraphQL, JSON-RPC), and some answer with an HTML page
whose markup says nothing useful in a quarantine reason. These functions find the system's own
message in both, so the reason a record is quarantined with is the one its owner can act on.

>>> graphql_error({"data": {"productCreate": {"product": None,
...     "userErrors": [{"field": ["input", "sku"], "message": "SKU taken"}]}}})
'userErrors: input.sku: SKU taken'
>>> html_text("<html><head><title>500 Oops</title></head><body><p>Bad  <b>date</b></p></body>")
'500 Oops: Bad date'
"""

from __future__ import annotations

import html.parser
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["graphql_error", "html_text", "jsonrpc_error", "looks_like_html"]

_CAP = 300  # characters of a reason: enough for a message, not a whole page


def _fold(text: str, cap: int = _CAP) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= cap else text[: cap - 1].rstrip() + "…"


def _user_errors(items: Any) -> list[str]:
    found = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, Mapping):
            field = item.get("field")
            if isinstance(field, list):
                field = ".".join(str(part) for part in field)
            message = str(item.get("message") or item.get("code") or item)
            found.append(f"{field}: {message}" if field else message)
        else:
            found.append(str(item))
    return found


def _typed_error(node: Mapping[str, Any]) -> str | None:
    typename = node.get("__typename")
    is_error = isinstance(typename, str) and typename.endswith("Error")
    if not is_error and "errorCode" not in node:
        return None
    code = node.get("errorCode")
    message = node.get("message") or typename or "error"
    label = typename if isinstance(typename, str) else "error"
    return f"{label}{f' {code}' if code is not None else ''}: {message}"


def _walk(node: Any, found: list[str]) -> None:
    """Collect ``userErrors`` and typed error results anywhere in a GraphQL ``data`` tree."""
    if isinstance(node, Mapping):
        typed = _typed_error(node)
        if typed is not None:
            found.append(typed)
            return
        for key, value in node.items():
            if key == "userErrors":
                if value:
                    found.append("userErrors: " + "; ".join(_user_errors(value)))
            else:
                _walk(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, found)


def graphql_error(body: Any) -> str | None:
    """The errors a GraphQL answer carries: top-level ``errors``, a non-empty ``userErrors``
    anywhere in ``data``, or a result whose ``__typename`` ends in ``Error`` or that has an
    ``errorCode``; None when the answer is a success."""
    if not isinstance(body, Mapping):
        return None
    found: list[str] = []
    errors = body.get("errors")
    if errors:
        messages = [
            str(e.get("message", e)) if isinstance(e, Mapping) else str(e)
            for e in (errors if isinstance(errors, list) else [errors])
        ]
        found.append("GraphQL error: " + "; ".join(messages))
    _walk(body.get("data"), found)
    return _fold("; ".join(found)) if found else None


def rest_error(body: Any) -> str | None:
    """A REST answer that says it failed while its status says 200: a non-empty top-level
    ``errors`` (WooCommerce, Magento and others answer so); None otherwise. A batch answer's
    per-record errors are read by the batch's ``error_path``, not here."""
    if not isinstance(body, Mapping):
        return None
    errors = body.get("errors")
    if not errors:
        return None
    return _fold("; ".join(_user_errors(errors)))


def jsonrpc_error(body: Any) -> str | None:
    """A JSON-RPC ``error`` member, whatever the ``jsonrpc`` key says (1.0 servers send
    ``"error": null`` on success, so null is no error)."""
    if not isinstance(body, Mapping) or body.get("error") is None:
        return None
    err = body["error"]
    if isinstance(err, Mapping):
        data = err.get("data")
        detail = f" ({data})" if isinstance(data, str | int | float) and data != "" else ""
        return _fold(f"JSON-RPC error {err.get('code')}: {err.get('message')}{detail}")
    return _fold(f"JSON-RPC error: {err}")


class _TextOf(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.body: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        (self.title if self._in_title else self.body).append(data)


def looks_like_html(content_type: str, text: str) -> bool:
    return "html" in content_type.lower() or text.lstrip()[:15].lower().startswith(
        ("<!doctype html", "<html")
    )


def html_text(markup: str, cap: int = _CAP) -> str:
    """The text of an HTML page (title, then body text), tags stripped and whitespace folded:
    what a person reading the page would see, never its markup."""
    parser = _TextOf()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:  # pragma: no cover - html.parser raises on rare broken input
        return _fold(re.sub(r"<[^>]*>", " ", markup), cap)
    title = _fold(" ".join(parser.title), cap)
    body = _fold(" ".join(parser.body), cap)
    if title and body.startswith(title):
        body = body[len(title):].lstrip(" :-")
    text = f"{title}: {body}" if title and body else title or body
    return _fold(text, cap)
