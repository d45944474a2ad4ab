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

import threading
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
    "redact",
    "register_secret",
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
    """Mask every registered secret in ``text`` with ``***``.

    >>> register_secret("s3cr3t-key")
    >>> redact("401 for key s3cr3t-key")
    '401 for key ***'
    """
    if not _secrets:
        return text
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text
