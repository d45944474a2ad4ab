"""runner.schema_fit says "fits" only where jsonschema finds no error (issue 16).

``validate`` skips jsonschema for a document that fits; a wrong "fits" would hide errors. Each
test compares the walk with ``jsonschema.Draft202012Validator`` itself: on every pipeline,
fixture and documentation file, on the connectors' options and their examples, on mutated
documents, and on hand-made schemas for the keywords our schemas do not use yet.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.api import available_connectors, load_connector
from runner.config import load_file
from runner.schema_check import PROJECT_SCHEMA_PATH, SCHEMA_PATH, V1_SCHEMA_PATH, _load
from runner.schema_fit import VALIDATING_KEYWORDS, fits
from tests.unit.test_fuzz_config import V2_SEEDS, V2_WORDS, _mutate, values

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(
    [*ROOT.glob("pipelines/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")],
)
DOCS = [(f.relative_to(ROOT).as_posix(), load_file(f, env={}).data) for f in FILES]
SCHEMAS = {p.name: _load(p) for p in (SCHEMA_PATH, V1_SCHEMA_PATH, PROJECT_SCHEMA_PATH)}


def _errors(schema: Mapping[str, Any] | bool, instance: Any) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(instance)]


def _agrees(schema: Mapping[str, Any] | bool, instance: Any) -> bool:
    """The walk's answer, after checking it against jsonschema's."""
    quick = fits(schema, instance)
    if quick:
        assert _errors(schema, instance) == [], (schema, instance)
    return quick


def test_the_walk_knows_every_keyword_jsonschema_validates() -> None:
    # A keyword jsonschema acts on but the list lacks would be skipped as an annotation.
    assert set(jsonschema.Draft202012Validator.VALIDATORS) == VALIDATING_KEYWORDS


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_files_against_the_shipped_schemas(name: str) -> None:
    schema = SCHEMAS[name]
    for file, data in DOCS:
        if data is None:
            continue
        quick = _agrees(schema, data)
        if not _errors(schema, data):
            assert quick, f"{file} fits {name} but the walk could not tell"


def test_the_shipped_pipelines_fit_without_jsonschema() -> None:
    for file, data in DOCS:
        if file.startswith("pipelines/"):
            schema = SCHEMAS["project.schema.json" if file.endswith("project.yaml")
                             else "pipeline.schema.json"]  # fmt: skip
            assert fits(schema, data), file


def _blocks(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping with a ``connector`` key, without it (the options a connector checks)."""
    if isinstance(node, dict):
        if isinstance(node.get("connector"), str):
            yield {k: v for k, v in node.items() if k not in ("connector", "connection")}
        for value in node.values():
            yield from _blocks(value)
    elif isinstance(node, list):
        for value in node:
            yield from _blocks(value)


def _option_schemas() -> list[Mapping[str, Any]]:
    found = []
    for name in sorted(available_connectors()):
        cls = load_connector(name)
        found += [s for s in (cls.source_options, cls.destination_options) if s is not None]
    return found


def _examples(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.get("examples", []) if isinstance(node.get("examples"), list) else []
        for key, value in node.items():
            if key not in ("examples", "default", "const", "enum"):
                yield from _examples(value)
    elif isinstance(node, list):
        for value in node:
            yield from _examples(value)


def test_connector_options_of_every_file_and_example() -> None:
    blocks = [b for _, data in DOCS for b in _blocks(data)]
    for schema in _option_schemas():
        for options in [*blocks, *_examples(schema)]:
            _agrees(schema, options)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(data=st.data())
def test_mutated_version_2_files(data: st.DataObject) -> None:
    docs = copy.deepcopy(V2_SEEDS)
    name = data.draw(st.sampled_from(sorted(docs)))
    _mutate(data, docs[name], V2_WORDS)
    schema = SCHEMAS["project.schema.json" if name == "project.yaml" else "pipeline.schema.json"]
    _agrees(schema, docs[name])


OPTION_SCHEMAS = _option_schemas()
OPTION_SEEDS = [b for _, data in DOCS for b in _blocks(data)]


@FUZZ
@given(data=st.data())
def test_mutated_connector_options(data: st.DataObject) -> None:
    options = copy.deepcopy(data.draw(st.sampled_from(OPTION_SEEDS)))
    _mutate(data, options, st.sampled_from(["path", "page_size", "auth", "query", "x"]))
    for schema in OPTION_SCHEMAS:
        _agrees(schema, options)


HAND_MADE: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": ["number", "null"]}, [1, 2.5, None, False, "x"]),
    ({"enum": [1, True, "a", None, [1], {"a": 1}]}, [1, True, False, 0, 1.0, "a", [1], [True]]),
    ({"const": False}, [False, 0, None]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, [-1, 3, 2.5, "x"]),
    ({"anyOf": [{"type": "string"}, {"multipleOf": 2}]}, ["a", 4, 3]),
    ({"not": {"required": ["a"]}}, [{"a": 1}, {"b": 1}, 1]),
    (
        {"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"maxProperties": 0}},
        [{"a": 1, "b": 2}, {"a": 1}, {}, {"c": 1}],
    ),
    (
        {
            "properties": {"a": {"type": "string"}},
            "patternProperties": {"^x-": {"type": "integer"}},
            "additionalProperties": False,
        },
        [{"a": "s", "x-1": 1}, {"x-1": "s"}, {"b": 1}, {}],
    ),
    ({"additionalProperties": {"type": "string"}}, [{"a": "s"}, {"a": 1}]),
    ({"prefixItems": [{"type": "string"}], "items": False}, [["a"], ["a", "b"], [1], []]),
    ({"items": {"minimum": 1}, "minItems": 1, "maxItems": 2}, [[1], [0], [], [1, 2, 3]]),
    ({"uniqueItems": True}, [["a", "b"], ["a", "a"], [1, True], [1, 1.0]]),
    ({"propertyNames": {"pattern": "^[a-z]+$"}, "minProperties": 1}, [{"ab": 1}, {"A": 1}, {}]),
    ({"dependentRequired": {"a": ["b"]}}, [{"a": 1}, {"a": 1, "b": 2}, {"b": 1}]),
    ({"exclusiveMinimum": 0, "exclusiveMaximum": 2}, [0, 1, 2, "x"]),
    ({"minLength": 2, "maxLength": 3, "format": "email"}, ["ab", "a", "abcd", 5]),
    ({"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"}, [1, "x"]),
    ({"$defs": {"n": {"$id": "other", "type": "integer"}}, "$ref": "#/$defs/n"}, [1]),
    ({"$ref": "#/$defs/missing"}, [1]),
    ({"contains": {"type": "string"}}, [["a"], [1]]),
    (True, [1]),  # type: ignore[list-item]
    (False, [1]),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("schema", "instances"), HAND_MADE)
def test_hand_made_schemas(schema: dict[str, Any], instances: list[Any]) -> None:
    for instance in instances:
        _agrees(schema, instance)


@FUZZ
@given(instance=values)
def test_random_values_against_hand_made_schemas(instance: Any) -> None:
    for schema, _ in HAND_MADE:
        _agrees(schema, instance)


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ({"multipleOf": 2}, 4),  # not walked: jsonschema decides
        ({"$ref": "#/$defs/missing"}, 1),
        ({"$defs": {"n": {"$id": "other"}}, "$ref": "#/$defs/n"}, 1),
        ({"pattern": "("}, "x"),  # a broken pattern: jsonschema's error, not ours
        ({"minimum": "a"}, 1),
    ],
)
def test_what_the_walk_leaves_to_jsonschema(schema: dict[str, Any], instance: Any) -> None:
    assert not fits(schema, instance)
