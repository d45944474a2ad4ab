"""In-process fake connectors for the validator's tests (no entry point, no I/O).

``memdb`` declares the fields its source provides (so field checks apply) and has secret
options on both sides; ``sinkonly`` can only be a destination.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from connectors.api import (
    Connector,
    available_connectors,
    load_connector,
    register_connector,
    unregister_connector,
)


class MemDbConnector(Connector):
    name: ClassVar[str] = "memdb"
    description: ClassVar[str] = "Test double: a table of a database that is never opened."
    source_options: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["table"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "description": "Database URL."},
            "password": {"type": "string", "description": "Password.", "secret": True},
            "table": {"type": "string", "description": "Table to read."},
            "fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Columns the table provides.",
            },
            "page_size": {"type": "integer", "minimum": 1, "description": "Rows per fetch."},
        },
    }
    destination_options: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["resource"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "description": "Service URL."},
            "api_key": {"type": "string", "description": "API key.", "secret": True},
            "resource": {"type": "string", "description": "Resource to write."},
            "timeout": {"type": "number", "minimum": 0, "description": "Seconds."},
        },
    }


class SinkOnlyConnector(Connector):
    name: ClassVar[str] = "sinkonly"
    description: ClassVar[str] = "Test double: a destination that cannot be read."
    destination_options: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"resource": {"type": "string", "description": "Resource."}},
    }


FAKES = (MemDbConnector, SinkOnlyConnector)


def register_fakes() -> None:
    for cls in FAKES:
        register_connector(cls)


def unregister_fakes() -> None:
    for cls in FAKES:
        unregister_connector(cls.name)


@pytest.fixture
def fakes() -> Iterator[None]:
    register_fakes()
    yield
    unregister_fakes()


def test_registered_fake_is_listed_and_loadable(fakes: None) -> None:
    assert available_connectors()["memdb"].endswith(":MemDbConnector")
    assert load_connector("memdb") is MemDbConnector


def test_unregistered_fake_is_gone() -> None:
    register_fakes()
    unregister_fakes()
    assert "memdb" not in available_connectors()
