"""Who may see the console and who may press its buttons.

- Bound to loopback the console is open to the machine's users, like ``/metrics``. Bound to
  any other address it needs ``COMMERCE_SYNC_CONSOLE_TOKEN`` and refuses to start without it
  (:func:`check_bind`). When a token is set it is checked on every request: an
  ``Authorization: Bearer`` header, or the cookie the login form sets. The cookie holds an HMAC
  of the token, never the token itself.
- Every POST carries a CSRF token (double-submit: a random cookie that a form repeats in a
  hidden field; another site can make the browser send the cookie but cannot read it).
  Missing or wrong: 403. The cookies are ``SameSite=Strict`` as a second line.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets

from starlette.requests import Request

from runner.errors import ConfigError

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "TOKEN_ENV",
    "authorized",
    "check_bind",
    "csrf_ok",
    "is_loopback",
    "new_csrf",
    "session_value",
]

TOKEN_ENV = "COMMERCE_SYNC_CONSOLE_TOKEN"
SESSION_COOKIE = "cs_console_session"
CSRF_COOKIE = "cs_console_csrf"
_MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a console reachable from other machines without a token (exit 2)."""
    if token is not None and len(token) < _MIN_TOKEN:
        raise ConfigError(
            f"{TOKEN_ENV} is shorter than {_MIN_TOKEN} characters; set a long random value, "
            "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--console-host {host}: the console would be reachable from other machines; set "
            f"{TOKEN_ENV} to a long random value in the environment, or bind 127.0.0.1"
        )


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"commerce-sync console session", hashlib.sha256).hexdigest()


def authorized(request: Request, token: str | None) -> bool:
    if not token:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not submitted:
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())
