"""State between runs: see :mod:`runner.state.base` for the protocol.

>>> store = open_state("sqlite://")  # in memory: for tests
>>> run = store.begin_run("inventory", "", "incremental")
>>> store.runs("inventory")[0].status
'running'
>>> store.close()
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from runner.errors import StateError, mask_url, redact
from runner.state.base import (
    BatchCommit,
    Key,
    QuarantinedRecord,
    RunCounts,
    RunRecord,
    ScheduleEntry,
    StateStore,
)
from runner.state.engine import DEFAULT_LOCATION, ENV_VAR, failure, make_engine, resolve_url
from runner.state.schema import SCHEMA_VERSION, compact_after, migrate
from runner.state.store import SqlStateStore

__all__ = [
    "DEFAULT_LOCATION",
    "ENV_VAR",
    "SCHEMA_VERSION",
    "BatchCommit",
    "Key",
    "QuarantinedRecord",
    "RunCounts",
    "RunRecord",
    "ScheduleEntry",
    "SqlStateStore",
    "StateStore",
    "open_state",
]

log = logging.getLogger(__name__)


def open_state(location: str | None = None) -> SqlStateStore:
    """Open (creating and migrating as needed) the state store at ``location``.

    ``None`` reads ``$COMMERCE_SYNC_STATE``, else ``var/state.db``. A path or ``sqlite:///path``
    is a SQLite file (its folder is created); ``postgresql://user@host/db`` is PostgreSQL
    through psycopg 3. Raises :class:`~runner.errors.StateError` if the store is unreachable or
    was written by a newer commerce-sync.
    """
    url = resolve_url(location)
    where = mask_url(url.render_as_string(hide_password=True))
    try:
        engine = make_engine(url)
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        raise StateError(f"cannot open the state store {where}: {redact(str(exc))}") from exc
    try:
        start = migrate(engine, where)
    except StateError:
        engine.dispose()
        raise
    except (sa.exc.SQLAlchemyError, OSError) as exc:
        engine.dispose()
        raise failure(engine, where, exc, "cannot open the state store") from exc
    if start != SCHEMA_VERSION:
        log.info(
            "state.migrated",
            extra={"location": where, "from_version": start, "to_version": SCHEMA_VERSION},
        )
        compact_after(engine, start, where)
    return SqlStateStore(engine, where)


def _conforms(store: SqlStateStore) -> StateStore:
    """Never called: mypy proves here that SqlStateStore implements the whole protocol."""
    return store
