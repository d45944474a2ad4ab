"""Every registered connector's option schemas are valid JSON Schema 2020-12, every option is
described, defaults and examples satisfy their own schema, and the generated reference
(docs/connectors.md) is current."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectors.api import (
    BUILT_IN,
    Connector,
    available_connectors,
    connector_target,
    load_connector,
)
from runner.cli.connectors_cmd import load_all, render_docs
from runner.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(available_connectors())


def _properties(schema: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{prefix}{name}", sub
        if isinstance(sub, Mapping):
            yield from _properties(sub, f"{prefix}{name}.")


def _schemas(cls: type[Connector]) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (role, schema)
        for role, schema in (("source", cls.source_options),
                             ("destination", cls.destination_options))
        if schema is not None
    ]


def test_the_built_in_table_is_what_the_package_declares() -> None:
    # BUILT_IN spares a start the entry point scan: it must name what pyproject.toml registers.
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "entry-points"]["commerce_sync.connectors"]
    assert dict(BUILT_IN) == declared
    for name, target in BUILT_IN.items():
        assert connector_target(name) == target
        assert f"{load_connector(name).__module__}:{load_connector(name).__qualname__}" == target


def test_a_plugin_is_found_by_its_entry_point(monkeypatch: pytest.MonkeyPatch,
                                              request: pytest.FixtureRequest) -> None:
    import importlib.metadata
    from importlib.metadata import EntryPoint

    from connectors import api

    plugin = EntryPoint("fake-erp", "tests.support.doubles:MemoryConnector",
                        api.ENTRY_POINT_GROUP)
    taken = EntryPoint("sql", "tests.support.doubles:MemoryConnector", api.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: (
        [plugin, taken] if group == api.ENTRY_POINT_GROUP else []))
    monkeypatch.setattr(api, "_loaded", {})
    api._entry_points.cache_clear()
    request.addfinalizer(api._entry_points.cache_clear)
    assert connector_target("fake-erp") == "tests.support.doubles:MemoryConnector"
    assert connector_target("nowhere") is None
    assert available_connectors()["fake-erp"] == "tests.support.doubles:MemoryConnector"
    assert available_connectors()["sql"] == BUILT_IN["sql"]  # a built-in name stays built in
    assert load_connector("fake-erp").__name__ == "MemoryConnector"
    assert load_connector("sql").__name__ == "SqlConnector"
    with pytest.raises(ConfigError, match="unknown connector 'nowhere'; known connectors: "
                                          "csv, fake-erp, http, jsonl, sql"):
        load_connector("nowhere")


@pytest.mark.parametrize("name", NAMES)
def test_connector_loads_and_has_a_role(name: str) -> None:
    cls = load_connector(name)
    assert cls.name == name
    assert cls.description
    assert _schemas(cls), f"{name} is neither a source nor a destination"


@pytest.mark.parametrize("name", NAMES)
def test_option_schemas_are_valid_and_described(name: str) -> None:
    cls = load_connector(name)
    for role, schema in _schemas(cls):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema.get("type") == "object", f"{name} {role} options must be an object"
        props = list(_properties(schema))
        assert props, f"{name} {role} declares no options"
        for option, sub in props:
            assert isinstance(sub, Mapping) and sub.get("description"), (
                f"{name} {role} option {option!r} has no description"
            )
            validator = jsonschema.Draft202012Validator(sub)
            for example in sub.get("examples", []):
                assert validator.is_valid(example), f"{name}.{option}: bad example {example!r}"
            if "default" in sub:
                assert validator.is_valid(sub["default"]), f"{name}.{option}: bad default"


def test_generated_reference_is_current() -> None:
    loaded, broken = load_all()
    assert broken == {}
    current = (ROOT / "docs" / "connectors.md").read_text(encoding="utf-8")
    assert current == render_docs(loaded), (
        "docs/connectors.md is stale: commerce-sync connectors docs --output docs/connectors.md"
    )
