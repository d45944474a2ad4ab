"""The one exception hierarchy of commerce-sync.

Everything the project raises on purpose derives from :class:`SyncError`; third-party
exceptions (httpx, SQLAlchemy drivers, YAML, jsonschema) are translated at the edge with
``raise ... from exc`` so users never see a bare ``KeyError`` or an httpcore type.

::

    SyncError
    ├── ConfigError            a pipeline file or option is wrong; exit code 2
    │   └── (carries one or more ConfigProblem: file, line, col, json path, message)
    ├── ConnectorError         a connector could not do its job
    │   ├── RetryableError     worth trying again: 429, 5xx, timeouts, dropped connections
    │   └── FatalError         trying again will not help: other 4xx, auth refused, bad SQL
    ├── RecordError            one record is bad; it is quarantined and the batch goes on
    ├── StateError             the state store is unusable or from a newer version
    │   └── LockedError        another run of the same job holds the lock
    └── RunFailed              a run stopped (too many bad records, retries exhausted...)

Messages never contain secrets: connectors build them from the request's method, the URL
without its query string or credentials, and status codes; :func:`redact` is the last guard.
"""

from __future__ import annotations

import re
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "FatalError",
    "LockedError",
    "RecordError",
    "RetryableError",
    "RunFailed",
    "StateError",
    "SyncError",
    "mask_url",
    "redact",
    "register_secret",
    "register_url_secrets",
]


class SyncError(Exception):
    """Root of every error commerce-sync raises on purpose."""


@dataclass(frozen=True, order=True)
class ConfigProblem:
    """One located problem in a pipeline file: ``file:line:col: path: message``.

    ``line`` and ``col`` are 1-based; 0 means "the whole file". ``path`` is the JSON path of the
    offending node (``steps[0].source.page_size``), empty for file-level problems.
    """

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        prefix = "warning: " if self.severity == "warning" else ""
        if not self.file:  # not about a file (a job name, a command-line option): no ":0:0"
            return f"{self.path}: {prefix}{self.message}" if self.path else prefix + self.message
        if self.path:
            return f"{where}: {self.path}: {prefix}{self.message}"
        return f"{where}: {prefix}{self.message}"


class ConfigError(SyncError):
    """A pipeline file or an option is invalid. Holds every problem found, sorted."""

    def __init__(self, problems: Iterable[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem("", 0, 0, "", problems)]
        self.problems: list[ConfigProblem] = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConnectorError(SyncError):
    """A connector failed. ``retryable`` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(redact(message))
        self.retry_after = retry_after


class RetryableError(ConnectorError):
    """Temporary: rate limited (429), server error (5xx), timeout, connection dropped."""

    retryable = True


class FatalError(ConnectorError):
    """Permanent for this run: refused credentials, a 4xx other than 429, invalid SQL."""


class RecordError(SyncError):
    """One record cannot be read, transformed or written; it goes to quarantine."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(redact(message))
        self.field = field


class StateError(SyncError):
    """The state store cannot be used (unreachable, corrupt, from a newer version)."""


class LockedError(StateError):
    """Another run of the same job holds its lock."""


class RunFailed(SyncError):
    """A run was stopped: too many bad records, retries exhausted, or a fatal error."""


# Secret values known to this process. Loaded pipelines register the values of options that a
# connector marks secret, and of environment variables that look like credentials, so that any
# message built from them can be scrubbed before it is logged, printed or stored.
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET_LEN = 4  # shorter values would redact ordinary words


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret; :func:`redact` will mask it from now on."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask every registered secret in ``text`` with ``***``, and every credential of a URL
    written in it (see :func:`mask_url`), so a URL never known as a secret is masked too.

    >>> register_secret("s3cr3t-key")
    >>> redact("401 for key s3cr3t-key")
    '401 for key ***'
    """
    if _secrets:
        with _secrets_lock:
            secrets = sorted(_secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
    if "://" in text:
        text = _URL_IN_TEXT.sub(_mask_match, text)
    return text


def _mask_match(match: re.Match[str]) -> str:
    url = match.group(0)
    # Punctuation closing a sentence ("...?password=x: connection failed") is not the URL's.
    bare = url.rstrip(".,;:)]}")
    return mask_url(bare) + url[len(bare):]


# Query parameters that carry a credential, compared in lower case: libpq's password and
# sslpassword, MySQL's passwd/pwd, and the usual API names. A name ending in one of the
# suffixes (client_secret, refresh_token, x-api-key) is one too.
_SECRET_QUERY_KEYS = frozenset({
    "password", "passwd", "pwd", "pass", "token", "key", "secret", "api_key", "apikey",
    "access_token", "sslpassword", "client_secret", "auth", "authorization", "signature", "sig",
})
_SECRET_QUERY_SUFFIXES = ("password", "passwd", "secret", "token", "_key", "-key", "apikey")
# A URL inside free text: a scheme, then everything up to whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def _secret_query_key(name: str) -> bool:
    lowered = urllib.parse.unquote_plus(name).strip().lower()
    return lowered in _SECRET_QUERY_KEYS or lowered.endswith(_SECRET_QUERY_SUFFIXES)


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and the values of its credential query
    parameters replaced by ``***``; everything else (host, port, database, other parameters)
    is kept, because that is what a user needs to see to find the problem.

    >>> mask_url("postgresql://erp:pw@db/erp?sslmode=require&password=x")
    'postgresql://erp:***@db/erp?sslmode=require&password=***'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # Split by hand rather than with urlsplit: it must keep every character it does not mask,
    # and accept what is not quite a URL (a driver's "postgresql+psycopg://", a truncated one).
    rest, hash_sep, fragment = rest.partition("#")
    rest, query_sep, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:***@{host}" if colon else authority
    if query_sep:
        parts = []
        for item in query.split("&"):
            name, eq, value = item.partition("=")
            parts.append(f"{name}=***" if eq and value and _secret_query_key(name) else item)
        query = "&".join(parts)
    return (f"{scheme}://{authority}{slash}{path}{query_sep}{query}{hash_sep}{fragment}")


def register_url_secrets(url: str | None) -> None:
    """Register the credentials ``url`` carries (its userinfo password, its credential query
    values, decoded and as written) so that :func:`redact` masks them wherever they appear
    later, e.g. in a driver's message that quotes the password without the URL."""
    if not url or "://" not in url:
        return
    rest = url.partition("://")[2].partition("#")[0]
    rest, _, query = rest.partition("?")
    userinfo, at, _host = rest.partition("/")[0].rpartition("@")
    values: list[str] = []
    if at and ":" in userinfo:
        values.append(userinfo.partition(":")[2])
    for item in query.split("&"):
        name, eq, value = item.partition("=")
        if eq and _secret_query_key(name):
            values.append(value)
    for value in values:
        register_secret(value)
        register_secret(urllib.parse.unquote_plus(value))
