"""The envelope schema itself: valid 2020-12, every property described, examples valid, closed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from referencing import Registry, Resource

from runner.validate import pipeline_schema

SCHEMA = pipeline_schema()
REGISTRY = Registry().with_resource(SCHEMA["$id"], Resource.from_contents(SCHEMA))


def _deref(node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return {**SCHEMA["$defs"][ref.split("/")[-1]], **node}
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


def test_schema_is_valid_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_property_is_described() -> None:
    missing = [
        f"{path}.{name}"
        for path, obj in _objects(SCHEMA)
        for name, sub in obj["properties"].items()
        if not _deref(sub).get("description")
    ]
    assert missing == []


def test_envelope_objects_are_closed_but_connector_blocks_are_open() -> None:
    open_objects = [
        path for path, obj in _objects(SCHEMA) if obj.get("additionalProperties") is not False
    ]
    assert sorted(open_objects) == ["$.$defs.connection", "$.$defs.connector_block"]


def test_examples_satisfy_their_schema() -> None:
    for path, obj in _objects(SCHEMA):
        for name, sub in obj["properties"].items():
            full = _deref(sub)
            validator = jsonschema.Draft202012Validator(
                {**full, "$defs": SCHEMA["$defs"]}, registry=REGISTRY
            )
            for example in full.get("examples", []):
                assert validator.is_valid(example), f"{path}.{name}: {example!r}"
