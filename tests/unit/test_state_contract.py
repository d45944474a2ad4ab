"""The state store contract on SQLite files and in memory (PostgreSQL: test_state_pg.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.state import SqlStateStore, open_state
from tests.unit.test_state_cases import StateContract


class TestSqliteFileContract(StateContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqlStateStore]:
        store = open_state(str(tmp_path / "state.db"))
        yield store
        store.close()


class TestSqliteMemoryContract(StateContract):
    """``sqlite://``: the in-memory store unit tests elsewhere use."""

    @pytest.fixture
    def store(self) -> Iterator[SqlStateStore]:
        store = open_state("sqlite://")
        yield store
        store.close()
