"""The Medusa 2 fixture: one real server per test session (see server.py and store.py).

Run with ``pytest -m medusa``. Without node/npm, or when the install fails, the tests skip with
the reason; under ``COMMERCE_SYNC_REQUIRE_SERVERS=1`` (CI) they fail instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL, REQUIRED, _fresh_database

from .server import MedusaUnavailable, install, medusa_server
from .store import MedusaStore, set_up_store

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def medusa_app() -> Path:
    """The installed Medusa project (installed now unless the cache is current)."""
    try:
        app_dir, seconds = install()
    except MedusaUnavailable as exc:
        reason = f"Medusa cannot be installed: {exc}"
        if REQUIRED:
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    print(f"\nmedusa install: {'cache current' if not seconds else f'{seconds:.1f} s'}")
    return app_dir


@pytest.fixture(scope="session")
def medusa(medusa_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MedusaStore]:
    """A running Medusa 2 on a fresh database, set up for the pipelines in pipelines/medusa."""
    started = time.perf_counter()
    databases = _fresh_database(PG_ADMIN_URL, "PostgreSQL at 127.0.0.1:5432", "AUTOCOMMIT")
    sa_url = next(databases)
    # Medusa (MikroORM/knex) takes a plain postgres:// URL, not SQLAlchemy's driver form.
    database_url = sa_url.replace("postgresql+psycopg://", "postgres://", 1)
    try:
        with medusa_server(medusa_app, database_url, tmp_path_factory.mktemp("medusa")) as server:
            store = set_up_store(server.url)
            print(f"medusa ready (db, migrate, admin, start, store set-up): "
                  f"{time.perf_counter() - started:.1f} s at {server.url}")
            yield store
    finally:
        for _ in databases:  # drops the database
            pass
