"""Fixtures shared by every test layer: real database servers, fresh per test session.

Tests that need PostgreSQL or MariaDB take ``pg_url`` / ``mariadb_url``. Outside CI an absent
server skips them with the reason; ``.ci/run`` sets ``COMMERCE_SYNC_REQUIRE_SERVERS=1``, which
turns an absent server into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "COMMERCE_SYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "COMMERCE_SYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/"
)
REQUIRED = os.environ.get("COMMERCE_SYNC_REQUIRE_SERVERS") == "1"


def _unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc}); start it to run this test"
    if REQUIRED:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def _fresh_database(admin_url: str, what: str, isolation: str) -> Iterator[str]:
    name = f"cs_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level=isolation)
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # any driver error means "no usable server"
        _unavailable(what, exc)
    base = sa.make_url(admin_url)
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        if base.get_backend_name() == "postgresql":
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        else:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database dropped after the session."""
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL at 127.0.0.1:5432", "AUTOCOMMIT")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """URL of a fresh, empty MariaDB database dropped after the session."""
    yield from _fresh_database(MARIADB_ADMIN_URL, "MariaDB at 127.0.0.1:3306", "AUTOCOMMIT")
