"""From a state location (a path or URL) to a configured SQLAlchemy engine.

SQLite is set up so that a scheduler and a CLI ``run`` can share one file: WAL journal (readers
never block the writer), a 30 s busy timeout, foreign keys on. Python's sqlite3 module opens
transactions lazily and in ways SQLAlchemy cannot see, so it is told to keep out
(``isolation_level=None``) and SQLAlchemy emits ``BEGIN`` itself: ``BEGIN IMMEDIATE`` for a
connection marked ``cs_write`` (taking the write lock up front, so two writers queue on the busy
timeout instead of one failing when it upgrades a read lock), plain ``BEGIN`` for readers.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from runner.errors import StateError, redact, register_secret, register_url_secrets

__all__ = ["DEFAULT_LOCATION", "ENV_VAR", "failure", "make_engine", "resolve_url"]

ENV_VAR = "COMMERCE_SYNC_STATE"
DEFAULT_LOCATION = "var/state.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def resolve_url(location: str | None) -> sa.URL:
    """``None`` -> ``$COMMERCE_SYNC_STATE`` -> ``var/state.db``; a plain path is SQLite."""
    if not location:
        location = os.environ.get(ENV_VAR) or DEFAULT_LOCATION
    if "://" not in location:
        path = Path(location).expanduser()
        return sa.URL.create("sqlite", database=str(path))
    try:
        url = sa.make_url(location)
    except sa.exc.ArgumentError as exc:
        raise StateError(
            "the state location is not a valid URL; use a file path, sqlite:///path or "
            "postgresql://user@host/db"
        ) from exc
    register_secret(url.password if isinstance(url.password, str) else None)
    register_url_secrets(location)
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):  # "postgres://" is what many hosts hand out
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    raise StateError(
        f"state store backend {backend!r} is not supported; use a SQLite file path or a "
        "postgresql:// URL"
    )


def failure(engine: sa.Engine, where: str, exc: BaseException, doing: str) -> StateError:
    """A state store failure in words a user can act on: the driver's own first line (never
    SQLAlchemy's SQL and parameters) and, for a store that cannot be written, which file it is
    and what to do about it."""
    reason = getattr(exc, "orig", None) or exc
    lines = str(reason).strip().splitlines()
    text = redact(lines[0] if lines else type(reason).__name__)
    if "readonly" in text.lower() or "read-only" in text.lower():
        target = engine.url.database if engine.dialect.name == "sqlite" else where
        return StateError(
            f"{doing}: the state store {target} is read-only ({text}); make the file and its "
            f"folder writable by this user, or point --state or {ENV_VAR} at a writable location"
        )
    return StateError(
        f"{doing}: the state store {where} failed: {text}; check that it is reachable and "
        "writable (another process may hold SQLite's write lock too long)"
    )


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    memory = database in ("", ":memory:")
    kwargs: dict[str, Any] = {}
    if memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    engine = sa.create_engine(url, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            _wal(cur)
            # A crashed process loses nothing; a power cut may lose the last commits, which the
            # engine replays as idempotent upserts. Not worth an fsync per batch.
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("cs_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _wal(cur: Any) -> None:
    """WAL journal mode, waiting out another connection's switch of a new file: SQLite answers
    "database is locked" at once there, without its busy handler (processes opening a fresh
    state store together: test_concurrent_first_opens_migrate_once)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def make_engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # Each running job holds one connection for its advisory lock for the whole run, plus short
    # ones for commits; a scheduler running many jobs at once needs the headroom.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=25)
