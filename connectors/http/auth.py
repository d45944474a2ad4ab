"""Authentication styles: each sets credentials on a request and may renew them after a 401.

Tokens obtained at run time (OAuth 2 access tokens, session tokens) are registered with the
redactor as soon as they arrive, like the configured credentials.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from connectors.api import MISSING, get_path
from runner.errors import FatalError, register_secret

from .options import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Auth, SessionAuth
from .options import Auth as AuthOptions

__all__ = ["Auth", "SendRaw", "build_auth"]

# Sends a request without auth, rate limit or retries: (method, url, **httpx kwargs) -> Response.
SendRaw = Callable[..., httpx.Response]

_REFRESH_MARGIN_S = 30.0


class Auth:
    """No authentication. Subclasses set credentials in :meth:`apply`."""

    def apply(self, request: httpx.Request) -> None:
        return None

    def renew(self) -> bool:
        """Forget cached credentials after a 401; True when asking again may help."""
        return False


class StaticHeader(Auth):
    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def apply(self, request: httpx.Request) -> None:
        request.headers[self._header] = self._value


class QueryKey(Auth):
    def __init__(self, param: str, key: str) -> None:
        self._param = param
        self._key = key

    def apply(self, request: httpx.Request) -> None:
        request.url = request.url.copy_merge_params({self._param: self._key})


def _failed(what: str, method: str, url: str, response: httpx.Response) -> FatalError:
    path = httpx.URL(url).path
    return FatalError(
        f"{what}: {method} {path} answered {response.status_code}; check the credentials in "
        "the connector's auth options"
    )


class _TokenAuth(Auth):
    """A token fetched on demand, cached, and fetched again near expiry or after a 401."""

    def __init__(self, send_raw: SendRaw, header: str, prefix: str) -> None:
        self._send_raw = send_raw
        self._header = header
        self._prefix = prefix
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None

    def _fetch(self) -> tuple[str, float | None]:
        raise NotImplementedError

    def apply(self, request: httpx.Request) -> None:
        with self._lock:
            now = time.monotonic()
            if self._token is None or (
                self._expires_at is not None and now >= self._expires_at - _REFRESH_MARGIN_S
            ):
                token, lifetime = self._fetch()
                register_secret(token)
                self._token = token
                self._expires_at = None if lifetime is None else now + lifetime
            token = self._token
        request.headers[self._header] = f"{self._prefix}{token}"

    def renew(self) -> bool:
        with self._lock:
            self._token = None
        return True


class OAuth2ClientCredentials(_TokenAuth):
    def __init__(
        self, send_raw: SendRaw, options: OAuth2Auth, resolve: Callable[[str], str]
    ) -> None:
        super().__init__(send_raw, "Authorization", "Bearer ")
        self._url = resolve(options.token_url)
        self._form = {
            "grant_type": "client_credentials",
            "client_id": options.client_id,
            "client_secret": options.client_secret,
        }
        if options.scope:
            self._form["scope"] = options.scope

    def _fetch(self) -> tuple[str, float | None]:
        response = self._send_raw("POST", self._url, data=self._form)
        if not response.is_success:
            raise _failed("OAuth 2 token request refused", "POST", self._url, response)
        try:
            body = orjson.loads(response.content)
            token = body["access_token"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise FatalError(
                f"OAuth 2 token response from POST {httpx.URL(self._url).path} has no "
                "access_token; check token_url"
            ) from exc
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else None
        return str(token), lifetime


class Session(_TokenAuth):
    def __init__(
        self, send_raw: SendRaw, options: SessionAuth, resolve: Callable[[str], str]
    ) -> None:
        super().__init__(send_raw, options.send_as.header, options.send_as.prefix)
        login = options.login
        self._method = login.method.upper()
        self._url = resolve(login.path)
        self._body = login.body
        self._token_path = options.token_path
        self._token_header = options.token_header
        if not self._token_path and not self._token_header:
            raise FatalError("auth.session needs token_path or token_header to find the token")

    def _fetch(self) -> tuple[str, float | None]:
        kwargs: dict[str, Any] = {}
        if self._body is not None:
            kwargs["content"] = orjson.dumps(self._body)
            kwargs["headers"] = {"Content-Type": "application/json"}
        response = self._send_raw(self._method, self._url, **kwargs)
        if not response.is_success:
            raise _failed("session login refused", self._method, self._url, response)
        token: Any = None
        if self._token_header:
            token = response.headers.get(self._token_header)
        else:
            try:
                token = get_path(orjson.loads(response.content), self._token_path or "")
            except orjson.JSONDecodeError:
                token = None
        if token is None or token is MISSING or token == "":
            raise FatalError(
                f"session login {self._method} {httpx.URL(self._url).path} returned no token; "
                "check token_path / token_header"
            )
        return str(token), None


def build_auth(
    options: AuthOptions | None, send_raw: SendRaw, resolve: Callable[[str], str]
) -> Auth:
    """The Auth for the ``auth`` options (None: no authentication)."""
    if options is None:
        return Auth()
    if isinstance(options, BearerAuth):
        register_secret(options.token)
        return StaticHeader("Authorization", f"Bearer {options.token}")
    if isinstance(options, BasicAuth):
        register_secret(options.password)
        if not options.password:
            # A key sent as the user name with no password (Medusa's and Stripe's secret keys):
            # the name is the credential. A plain user name stays readable in logs.
            register_secret(options.username)
        raw = f"{options.username}:{options.password}".encode()
        encoded = base64.b64encode(raw).decode()
        register_secret(encoded)
        return StaticHeader("Authorization", f"Basic {encoded}")
    if isinstance(options, ApiKeyAuth):
        register_secret(options.key)
        if options.query:
            return QueryKey(options.query, options.key)
        return StaticHeader(options.header, options.key)
    if isinstance(options, OAuth2Auth):
        register_secret(options.client_secret)
        return OAuth2ClientCredentials(send_raw, options, resolve)
    _register_body_secrets(options.login.body)
    return Session(send_raw, options, resolve)


_CREDENTIAL_KEY = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


def _register_body_secrets(body: Any) -> None:
    # Only values under credential-looking keys: registering a user name such as "sync" would
    # mask that word in every message.
    if isinstance(body, Mapping):
        for key, value in body.items():
            if isinstance(value, str) and _CREDENTIAL_KEY.search(str(key)):
                register_secret(value)
            else:
                _register_body_secrets(value)
    elif isinstance(body, list):
        for value in body:
            _register_body_secrets(value)
