"""Fixtures of the engine's unit tests: in-memory connector doubles and an in-memory state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runner.state import open_state
from runner.state.base import StateStore
from tests.support.doubles import World, register, unregister


@pytest.fixture()
def world() -> Iterator[World]:
    """The doubles registered as connectors for one test, removed after it."""
    yield register()
    unregister()


@pytest.fixture()
def state() -> Iterator[StateStore]:
    store = open_state("sqlite://")
    yield store
    store.close()
