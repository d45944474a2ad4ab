"""Fixtures of the HTTP connector's integration tests: the test app (tests/support/http_testapp)
on real uvicorn over loopback, one per test module, its recorded state reset for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import http_testapp as t
from tests.support.loopback import serve_app


@pytest.fixture(scope="module")
def testapp() -> Iterator[tuple[str, t.ApiState]]:
    state = t.ApiState()
    with serve_app(t.make_app(state)) as base_url:
        yield base_url, state


@pytest.fixture
def api(testapp: tuple[str, t.ApiState]) -> tuple[str, t.ApiState]:
    base_url, state = testapp
    state.reset()
    return base_url, state
