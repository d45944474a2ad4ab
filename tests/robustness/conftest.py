"""Fixtures of the robustness tests: a PostgreSQL database of their own for state stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the pg_url server, dropped after the test: the session's
    pg_url database is shared, and job names like ``inventory`` would collide there."""
    admin_url = sa.make_url(pg_url).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"cs_rob_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
