"""A fixture that records which source records a step's mapping was applied to: how tests tell
a record skipped as unchanged from one mapped and then found unchanged."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from runner.transforms.compile import CompiledStep


@pytest.fixture()
def mapped(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The ``item_id`` of every source record the step's mapping was applied to."""
    calls: list[str] = []
    original = CompiledStep.__init__

    def spying(self: CompiledStep, *args: Any, **kw: Any) -> None:
        original(self, *args, **kw)
        inner = self._map
        assert inner is not None

        def counted(record: Mapping[str, Any]) -> dict[str, Any] | None:
            calls.append(str(record.get("item_id")))
            return inner(record)

        self._map = counted

    monkeypatch.setattr(CompiledStep, "__init__", spying)
    yield calls
