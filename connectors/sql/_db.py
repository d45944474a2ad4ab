"""Opening a database by URL and translating driver exceptions into the project's errors.

Every SQLAlchemy/driver exception of the sql connector passes through :func:`translate`, so the
engine only ever sees ``RetryableError`` (try again later), ``FatalError`` (fix the pipeline or
the database) or a per-record refusal. Messages name the table and the database with the URL's
password hidden; ``runner.errors.redact`` is the last guard.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from runner.errors import (
    ConfigError,
    FatalError,
    RetryableError,
    mask_url,
    register_secret,
    register_url_secrets,
)

log = logging.getLogger(__name__)

# MySQL/MariaDB server codes that mean "the connection or the server had a moment": worth
# retrying. Everything else pymysql reports as OperationalError (1054 unknown column...) is a
# mistake in the pipeline and retrying will not fix it.
_MYSQL_RETRYABLE = {1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055}
_SQLITE_RETRYABLE = ("database is locked", "database table is locked", "disk i/o error", "busy")

_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
            "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}


def make_url(raw: str) -> sa.URL:
    """Parse ``raw`` and pick the driver the project ships for a bare dialect name."""
    try:
        url = sa.make_url(raw)
    except sa_exc.ArgumentError as exc:
        # The raw string may hold a password: never echo it.
        raise ConfigError(
            "url: not a database URL; write it as dialect+driver://user:password@host/db "
            "(e.g. postgresql+psycopg://erp@db/erp or sqlite:///var/erp.db)"
        ) from exc
    register_secret(raw)
    register_url_secrets(raw)
    if url.password:
        register_secret(str(url.password))
    driver = _DRIVERS.get(url.drivername)
    if driver:
        url = url.set(drivername=driver)
    return url


def safe_url(url: sa.URL) -> str:
    # SQLAlchemy hides the userinfo password only; a query can carry one too (?password=).
    return mask_url(url.render_as_string(hide_password=True))


def create_engine(url: sa.URL) -> sa.Engine:
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        # The scheduler and a CLI run may share one SQLite file: wait for the lock, don't fail.
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        return sa.create_engine(url, **kwargs)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"url: cannot open {safe_url(url)}: {exc}; use postgresql+psycopg://, "
            "mysql+pymysql:// or sqlite:///path"
        ) from exc


def is_record_error(exc: BaseException) -> bool:
    """A value the database refused (constraint, length, type), or one SQLAlchemy could not
    convert for its column (a string for a Date on SQLite): the row is bad, not the batch."""
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
        return True
    return (isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError)
            and isinstance(exc.orig, TypeError | ValueError))


def reason(exc: BaseException) -> str:
    """The driver's own words, first line only, without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def translate(exc: Exception, what: str, url: sa.URL) -> Exception:
    """The project's error for a driver exception raised while doing ``what``."""
    where = f"{what} on {safe_url(url)}"
    detail = reason(exc)
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
            return RetryableError(f"{where}: connection lost ({detail}); will retry")
        if isinstance(exc, sa_exc.OperationalError) and _retryable_operational(exc, url):
            return RetryableError(f"{where}: {detail}; the database is unavailable or busy")
        return FatalError(
            f"{where}: {detail}; check that the table and columns named in the pipeline exist "
            "and that the user may use them"
        )
    if isinstance(exc, sa_exc.NoSuchTableError):
        return FatalError(f"{where}: table {exc} does not exist; create it or fix `table`")
    return FatalError(f"{where}: {type(exc).__name__}: {detail}")


def _retryable_operational(exc: sa_exc.OperationalError, url: sa.URL) -> bool:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return any(s in reason(exc).lower() for s in _SQLITE_RETRYABLE)
    if backend in ("mysql", "mariadb"):
        args: tuple[Any, ...] = tuple(getattr(exc.orig, "args", ()))
        return bool(args) and args[0] in _MYSQL_RETRYABLE
    # psycopg's OperationalError covers lost connections, serialization failures, deadlocks.
    return True
