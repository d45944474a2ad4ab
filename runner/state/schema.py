"""The state store's tables and the migrations that build them, one version at a time.

``schema_version`` holds one row: the version the database is at. :func:`migrate` applies each
missing migration in its own transaction, serialised between processes (``BEGIN IMMEDIATE`` on
SQLite, a transaction-level advisory lock on PostgreSQL), and refuses a database written by a
newer commerce-sync rather than guessing at its layout.

A migration creates tables from the ``Table`` objects below as they were at that version: when a
later version changes a table, the earlier migration gets a frozen copy of the old definition
and the new one an ``ALTER``, so every database ends up with the same layout whatever version it
started from.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from runner.errors import StateError
from runner.state.codec import UtcDateTime

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "compact_after", "metadata", "migrate"]

log = logging.getLogger(__name__)

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)


def _runs_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("read", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("written", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("deleted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("quarantined", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
    ]


runs = sa.Table(
    "runs",
    metadata,
    *_runs_columns(),
    # Records not sent because they only reported back what another step wrote (version 6).
    sa.Column("echoed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_runs_job_id", "job", "id"),
)

# runs as versions 1 to 5 created it: migration 6 adds ``echoed``.
_runs_v1 = sa.Table(
    "runs",
    sa.MetaData(),
    *_runs_columns(),
    sa.Index("ix_runs_job_id", "job", "id"),
)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The two tables every record written adds a row to are clustered by their primary key on
# SQLite (version 7, ``WITHOUT ROWID``): a rowid table keeps each row twice, in the table and
# in its key's index, and finds a row's hash through both.
row_hashes = sa.Table(
    "row_hashes",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("hash", sa.String(128), nullable=False),
    # The hash of the source row the record was mapped from (version 4), under the step's
    # configuration and lookups: a changes run skips the mapping of a row whose hash it holds.
    # NULL: written by a path that did not hash its source (a cursor step, a quarantine retry).
    sa.Column("source_hash", sa.String(128)),
    sqlite_with_rowid=False,
)

# row_hashes as versions 1 to 3 created it: migration 1 must build that layout, so that every
# database reaches the current one through migration 4's ALTER.
_row_hashes_v1 = sa.Table(
    "row_hashes",
    sa.MetaData(),
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("hash", sa.String(128), nullable=False),
)

def _keymap_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("entity", sa.String(200), primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("dest_id", sa.Text, nullable=False),
    ]


keymap = sa.Table("keymap", metadata, *_keymap_columns(), sqlite_with_rowid=False)

# keymap as versions 1 to 6 created it (a rowid table on SQLite).
_keymap_v1 = sa.Table("keymap", sa.MetaData(), *_keymap_columns())

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("key", sa.Text),  # NULL: the record had no readable key; never merged
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ux_quarantine_job_step_key", "job", "step", "key", unique=True),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
    sa.Column("heartbeat_at", UtcDateTime, nullable=False),
)

schedule = sa.Table(
    "schedule",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("last_scheduled_at", UtcDateTime),
    sa.Column("last_finished_at", UtcDateTime),
    sa.Column("last_status", sa.String(20)),
    sa.Column("last_success_at", UtcDateTime),
)

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("slot", UtcDateTime, primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("lease_expires_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
)

triggers = sa.Table(
    "triggers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
)


intents = sa.Table(
    "intents",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    # pending: sent, answer not yet recorded; blocked: could not be checked, held in quarantine
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

duplicates = sa.Table(
    "duplicates",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("entity", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("ids", sa.Text, nullable=False),  # JSON list of destination ids
    sa.Column("kept", sa.Text, nullable=False),  # the id the key map holds
    sa.Column("found_at", UtcDateTime, nullable=False),
)


# The last audit of each step (``commerce-sync audit``, scheduled audits): what ``status``
# shows and a drift alert reads.
audits = sa.Table(
    "audits",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # clean | drift | repaired | failed...
    sa.Column("drift", sa.Integer, nullable=False),
    sa.Column("counts", sa.Text, nullable=False),  # JSON: kind -> records
    sa.Column("repaired", sa.Text, nullable=False),  # JSON: what a repair wrote
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=False),
)


# A child record's parent (a step's ``parent:``): an incremental run finds the children of the
# parents it removed by this index, not by reading every child.
relations = sa.Table(
    "relations",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("parent_key", sa.Text, nullable=False),
    sa.Index("relations_parent", "job", "step", "parent_key"),
)


# What a step wrote to a two-way field, per key and field (a step's ``echo_guard`` names the
# writer): the step reading the other side skips a record that only reports it back. Values
# are kept as hashes, never as the values themselves: bounded, and no data in the state.
echoes = sa.Table(
    "echoes",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), primary_key=True),  # the writing step
    sa.Column("key", sa.Text, primary_key=True),  # the writer's natural key
    sa.Column("field", sa.String(200), primary_key=True),
    sa.Column("value_hash", sa.String(64), nullable=False),
)


def _create(*tables: sa.Table) -> Callable[[sa.Connection], None]:
    def apply(conn: sa.Connection) -> None:
        for table in tables:
            table.create(conn)

    return apply


def _add_source_hash(conn: sa.Connection) -> None:
    conn.execute(sa.text("ALTER TABLE row_hashes ADD COLUMN source_hash VARCHAR(128)"))


def _add_echoes(conn: sa.Connection) -> None:
    echoes.create(conn)
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN echoed BIGINT NOT NULL DEFAULT 0"))


def _cluster_by_key(conn: sa.Connection) -> None:
    """Rebuild row_hashes and keymap as ``WITHOUT ROWID`` tables on SQLite (a no-op elsewhere):
    the benchmark's state of 300,000 records takes 39 MB instead of 71 (once compacted: see
    :func:`compact_after`), and a batch's upserts and look-ups touch one b-tree, not two."""
    if conn.dialect.name != "sqlite":
        return
    for table in (row_hashes, keymap):
        rebuilt = table.to_metadata(sa.MetaData(), name=f"{table.name}_v7")
        rebuilt.create(conn)
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        conn.exec_driver_sql(
            f'INSERT INTO "{rebuilt.name}" ({columns}) SELECT {columns} FROM "{table.name}"')
        conn.exec_driver_sql(f'DROP TABLE "{table.name}"')
        conn.exec_driver_sql(f'ALTER TABLE "{rebuilt.name}" RENAME TO "{table.name}"')


# The version whose migration rebuilt the largest tables in place, leaving their old pages free.
_REBUILT_AT = 7


def compact_after(engine: sa.Engine, start: int, where: str) -> None:
    """Give back the pages migration 7's rebuild freed, once: SQLite keeps a file's size, and the
    benchmark's state of 300,000 records went from 71 to 97 MB by the rebuild, 39 MB compacted.
    Only after a SQLite database older than that version was brought up to date, and while a
    quarter of the file or more is free (processes that opened the old file together compact
    it once); skipped, with a log line, when another connection holds the file (it is
    compacted no later)."""
    if engine.dialect.name != "sqlite" or not 0 < start < _REBUILT_AT:
        return
    try:
        with engine.connect() as conn:
            # On the driver's connection: VACUUM cannot run in the transaction SQLAlchemy opens.
            raw = conn.connection.dbapi_connection
            assert raw is not None
            free = raw.execute("PRAGMA freelist_count").fetchone()[0]
            if free * 4 < raw.execute("PRAGMA page_count").fetchone()[0]:
                return
            raw.execute("VACUUM")
    except (sa.exc.SQLAlchemyError, sqlite3.Error) as exc:
        log.warning("state.compact_skipped", extra={"location": where, "error": str(exc)})


# Index i holds the migration from version i to i + 1.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    # 1: one runner's progress: runs, cursors, hashes, key map, quarantine, job locks
    _create(_runs_v1, cursors, _row_hashes_v1, _keymap_v1, quarantine, locks),
    # 2: the shared schedule: last slots, claims with leases, on-demand triggers
    _create(schedule, claims, triggers),
    # 3: write-ahead intents of non-idempotent creates; natural keys the destination holds twice
    _create(intents, duplicates),
    # 4: source hashes beside row hashes, for changes runs that skip unchanged source rows
    _add_source_hash,
    # 5: the last audit of each step; each child record's parent
    _create(audits, relations),
    # 6: what steps wrote to two-way fields (echo guards); the records a run found echoed
    _add_echoes,
    # 7: hashes and key map clustered by their key on SQLite
    _cluster_by_key,
]
SCHEMA_VERSION = len(MIGRATIONS)

_PG_MIGRATION_LOCK = 0x636F6D6D  # advisory lock key reserved for schema changes ("comm")


def current_version(conn: sa.Connection) -> int:
    """0 for an empty database."""
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return int(value or 0)


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StateError(
            f"the state store {where} is at schema version {version}, but this commerce-sync "
            f"knows only up to version {SCHEMA_VERSION}; upgrade commerce-sync to use it"
        )


def migrate(engine: sa.Engine, where: str) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the version it started at."""
    with engine.connect() as conn:
        start = current_version(conn)
        conn.rollback()
    _refuse_newer(start, where)
    if start == SCHEMA_VERSION:
        return start
    while True:
        with engine.connect() as conn:
            conn = conn.execution_options(cs_write=True)
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                # Re-read under the lock: another process may have migrated meanwhile.
                version = current_version(conn)
                _refuse_newer(version, where)
                if version >= SCHEMA_VERSION:
                    return start
                if version == 0:
                    schema_version.create(conn, checkfirst=True)
                    conn.execute(sa.insert(schema_version).values(version=0))
                MIGRATIONS[version](conn)
                conn.execute(sa.update(schema_version).values(version=version + 1))
