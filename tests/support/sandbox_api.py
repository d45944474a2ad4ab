"""The sandbox store over loopback with a client and a clock the test moves (no sleeping):
what the tests of the sandbox's own API (GraphQL, rate budgets) stand on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from runner.demo.sandbox import create_app
from tests.support.loopback import serve_app


class ManualClock:
    """Monotonic seconds that move only when the test says so (``clock.now += 10``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def sandbox_client(folder: Path, key: str, clock: ManualClock,
                   timeout: float = 30) -> Iterator[httpx.Client]:
    """A sandbox on its own database in ``folder``, and a client authenticated with ``key``."""
    with (
        serve_app(create_app(str(folder / "s.db"), key, clock=clock)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=timeout) as client,
    ):
        yield client
