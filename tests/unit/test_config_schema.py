"""The schemas themselves (pipeline v2, project.yaml, pipeline v1): valid 2020-12, every
property described, examples valid, closed but for connector blocks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from runner.schema_check import pipeline_schema, project_schema

SCHEMAS = {"pipeline": pipeline_schema(), "project": project_schema(),
           "pipeline-v1": pipeline_schema(1)}
# Connector blocks and connections stay open: their options are checked per connector.
OPEN = {
    "pipeline": ["$.$defs.connection", "$.$defs.destination_block", "$.$defs.source_block"],
    "project": ["$.$defs.connection"],
    "pipeline-v1": ["$.$defs.connection", "$.$defs.connector_block"],
}


def _deref(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return {**schema["$defs"][ref.split("/")[-1]], **node}
    return node


def _objects(node: Any, path: str = "$") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        if "properties" in node:
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{path}[{index}]")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_2020_12(name: str) -> None:
    schema = SCHEMAS[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_property_is_described(name: str) -> None:
    schema = SCHEMAS[name]
    missing = [
        f"{path}.{prop}"
        for path, obj in _objects(schema)
        for prop, sub in obj["properties"].items()
        if not _deref(schema, sub).get("description")
    ]
    assert missing == []


@pytest.mark.parametrize("name", SCHEMAS)
def test_objects_are_closed_but_connector_blocks_are_open(name: str) -> None:
    open_objects = [
        path for path, obj in _objects(SCHEMAS[name])
        if obj.get("additionalProperties") is not False
    ]
    assert sorted(open_objects) == OPEN[name]


@pytest.mark.parametrize("name", SCHEMAS)
def test_examples_satisfy_their_schema(name: str) -> None:
    schema = SCHEMAS[name]
    registry = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    checked = 0
    for path, obj in _objects(schema):
        for prop, sub in obj["properties"].items():
            full = _deref(schema, sub)
            validator = jsonschema.Draft202012Validator(
                {**full, "$defs": schema["$defs"]}, registry=registry
            )
            for example in full.get("examples", []):
                assert validator.is_valid(example), f"{path}.{prop}: {example!r}"
                checked += 1
    assert checked > 10
