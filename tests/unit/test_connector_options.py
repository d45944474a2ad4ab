"""Typed connector options (issue #12): each option declared once, in a class next to its
connector; the schema that validates and documents it is generated from that class, and the
connector reads the parsed value, so a default cannot differ between the docs and the code."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import jsonschema
import pytest

from connectors.api import Options, available_connectors, load_connector, option, schema_of
from connectors.files import CsvDestinationOptions, CsvSourceOptions, JsonlSourceOptions
from connectors.http.options import (
    ApiKeyAuth,
    HttpDestinationOptions,
    HttpSourceOptions,
    SessionAuth,
    Timeouts,
)
from connectors.http.options_read import OffsetPaging, RelayPaging, SelectPath
from connectors.http.options_write import Level, LevelLeaf
from connectors.sql._options import SqlDestinationOptions, SqlSourceOptions
from runner.cli.connectors_cmd import load_all, render_docs
from runner.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


# --- the machinery, on a small class -------------------------------------------------------


class _Inner(Options):
    doc: ClassVar[str] = "An inner object."
    size: int = option(default=10, minimum=1, description="Size.", examples=[5])


class _Kind1(Options):
    doc: ClassVar[str] = "The first kind."
    type: Literal["one"] = option(description="One.")
    token: str = option(description="A token.", examples=["t"], secret=True)


class _Kind2(Options):
    doc: ClassVar[str] = "The second kind."
    type: Literal["two"] = option(description="Two.")


class _Sample(Options):
    schema_extra: ClassVar[dict[str, Any]] = {"title": "sample"}

    name: str = option(description="A name.", examples=["x"], minLength=1)
    mode: Literal["a", "b"] = option(default="a", description="A mode.", examples=["b"])
    tags: tuple[str, ...] = option(default=(), description="Tags.", examples=[["t"]],
                                   items={"minLength": 1})
    extra: dict[str, Any] = option(default={}, description="Extra.", examples=[{"k": 1}])
    inner: _Inner = option(default=_Inner(), description="Inner.")
    kind: _Kind1 | _Kind2 | None = option(default=None, description="A kind.")
    in_: str | None = option(default=None, name="in", description="A keyword.", examples=["q"])
    maybe: str | None = option(default=None, nullable=True, description="Nullable.",
                               examples=["m"])
    key: str | tuple[str, ...] = option(default="id", description="One or more.",
                                        examples=["id", ["a", "b"]],
                                        variants=[{}, {"minItems": 1}])


def test_the_schema_is_generated_from_the_fields() -> None:
    schema = schema_of(_Sample)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False and schema["required"] == ["name"]
    assert schema["title"] == "sample"
    props = schema["properties"]
    assert list(props) == ["name", "mode", "tags", "extra", "inner", "kind", "in", "maybe",
                           "key"]
    assert props["name"] == {"type": "string", "minLength": 1, "description": "A name.",
                             "examples": ["x"]}
    assert props["mode"]["enum"] == ["a", "b"] and props["mode"]["default"] == "a"
    assert props["tags"]["items"] == {"type": "string", "minLength": 1}
    assert props["inner"]["default"] == {"size": 10}
    assert props["inner"]["properties"]["size"]["minimum"] == 1
    kinds = props["kind"]["oneOf"]
    assert [k["properties"]["type"] for k in kinds] == [
        {"const": "one", "description": "One."}, {"const": "two", "description": "Two."}]
    assert kinds[0]["properties"]["token"]["secret"] is True
    assert "default" not in props["kind"]  # None: the option may be left out, not null
    assert props["maybe"]["type"] == ["string", "null"] and props["maybe"]["default"] is None
    assert props["key"]["oneOf"][1] == {"type": "array", "items": {"type": "string"},
                                       "minItems": 1}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"name": "n", "kind": {"type": "one", "token": "t"}})
    assert not validator.is_valid({"name": "n", "kind": {"type": "three"}})
    assert not validator.is_valid({"name": "n", "unknown": 1})
    assert not validator.is_valid({"name": "n", "key": []})


def test_parse_fills_the_declared_defaults_and_types_the_values() -> None:
    parsed = _Sample.parse({"name": "n", "tags": ["a"], "in": "q",
                            "kind": {"type": "two"}, "key": ["a", "b"]})
    assert parsed.name == "n" and parsed.mode == "a" and parsed.tags == ("a",)
    assert parsed.in_ == "q" and parsed.inner == _Inner(size=10)
    assert isinstance(parsed.kind, _Kind2) and parsed.key == ("a", "b")
    assert _Sample.parse({"name": "n", "kind": {"type": "one", "token": "t"}}).kind == _Kind1(
        type="one", token="t")


def test_parsed_values_are_frozen_and_do_not_share_mutable_defaults() -> None:
    one, two = _Sample.parse({"name": "a"}), _Sample.parse({"name": "b"})
    with pytest.raises(AttributeError, match="frozen"):
        one.name = "c"  # type: ignore[misc]
    one.extra["k"] = 1
    assert two.extra == {}


def test_a_parsed_value_knows_which_options_were_written() -> None:
    parsed = _Sample.parse({"name": "n", "mode": "a"})
    assert parsed.given == {"name", "mode"}  # mode written, though it equals its default
    assert _Sample(name="n").given == frozenset()


def test_parse_refuses_what_the_schema_refuses() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        _Sample.parse({"name": "n", "nmae": "typo"})
    with pytest.raises(ConfigError, match="'name' is a required option"):
        _Sample.parse({})
    with pytest.raises(ConfigError, match=r"kind.type: 'three' is not one of 'one', 'two'"):
        _Sample.parse({"name": "n", "kind": {"type": "three"}})


# --- every built-in connector --------------------------------------------------------------


ROOTS: list[type[Options]] = [
    SqlSourceOptions, SqlDestinationOptions, HttpSourceOptions, HttpDestinationOptions,
    CsvSourceOptions, CsvDestinationOptions, JsonlSourceOptions,
]


def _classes(cls: type[Options], seen: set[type[Options]]) -> Iterator[type[Options]]:
    """``cls`` and every options class nested in it."""
    if cls in seen:
        return
    seen.add(cls)
    yield cls
    for sub in _nested_types(cls):
        yield from _classes(sub, seen)


def _nested_types(cls: type[Options]) -> Iterator[type[Options]]:
    from connectors.options import _fields

    def walk(hint: Any) -> Iterator[type[Options]]:
        if isinstance(hint, type) and issubclass(hint, Options):
            yield hint
        for arg in getattr(hint, "__args__", ()):
            yield from walk(arg)

    for f in _fields(cls):
        yield from walk(f.hint)


def _all_classes() -> list[type[Options]]:
    seen: set[type[Options]] = set()
    return [c for root in ROOTS for c in _classes(root, seen)]


def test_the_connectors_expose_the_schemas_of_their_classes() -> None:
    pairs = {
        "sql": (SqlSourceOptions, SqlDestinationOptions),
        "http": (HttpSourceOptions, HttpDestinationOptions),
        "csv": (CsvSourceOptions, CsvDestinationOptions),
    }
    for name, (source, destination) in pairs.items():
        cls = load_connector(name)
        assert cls.source_options == schema_of(source)
        assert cls.destination_options == schema_of(destination)


@pytest.mark.parametrize("cls", _all_classes(), ids=lambda c: c.__name__)
def test_each_documented_default_is_the_parsed_value_of_an_absent_option(
    cls: type[Options],
) -> None:
    """The default the schema (and so the docs) states is the value the code gets when the
    option is left out: both come from the one declaration."""
    from connectors.options import _fields, _object_schema

    schema = _object_schema(cls)
    minimal = {f.option: _example(f, schema["properties"][f.option])
               for f in _fields(cls) if f.required}
    parsed = cls.parse(minimal)
    for f in _fields(cls):
        prop = schema["properties"][f.option]
        if f.required:
            continue
        value = getattr(parsed, f.attr)
        plain = value.to_dict() if isinstance(value, Options) else (
            list(value) if isinstance(value, tuple) else value)
        if "default" in prop:
            assert plain == prop["default"], f"{cls.__name__}.{f.option}"
        else:  # no default documented: the option is absent, and the code sees None
            assert value is None, f"{cls.__name__}.{f.option} has an undocumented default"


def _example(f: Any, prop: Mapping[str, Any]) -> Any:
    if "const" in prop:
        return prop["const"]
    if prop.get("examples"):
        return prop["examples"][0]
    if "properties" in prop:  # a required nested object: its own required options
        from connectors.options import _fields

        return {g.option: _example(g, prop["properties"][g.option])
                for g in _fields(f.hint) if g.required}
    raise AssertionError(f"required option {f.option} has no example")


def test_the_docs_show_the_defaults_the_code_uses() -> None:
    docs = render_docs(load_all()[0])
    row = re.compile(r"^\| `(?P<option>[^`]+)` \|[^|]*\|[^|]*\| (?P<default>[^|]*) \|", re.M)
    http = docs.split("## http", 1)[1].split("## jsonl", 1)[0]
    source = dict(row.findall(http.split("### Destination options")[0]))
    destination = dict(row.findall(http.split("### Destination options")[1]))
    parsed = HttpDestinationOptions.parse({"base_url": "http://x", "upsert": {"path": "/p"}})
    assert destination["`max_in_flight`".strip("`")] == f"`{parsed.max_in_flight}`"
    assert source["records"] == f"`{HttpSourceOptions.parse({'base_url': 'x'}).records}`"
    assert destination["retry.attempts"] == f"`{parsed.retry.attempts}`"
    sql = docs.split("## sql", 1)[1]
    chunk = dict(row.findall(sql))["chunk_size"]
    assert chunk == f"`{SqlSourceOptions.parse({'url': 'sqlite://', 'table': 't'}).chunk_size}`"


def test_defaults_the_code_applied_are_now_declared() -> None:
    """Defaults that lived only in the code before issue #12, now one field each."""
    assert ApiKeyAuth.parse({"type": "api_key", "key": "k"}).header == "X-API-Key"
    assert Timeouts.parse({}) == Timeouts(connect=30, read=30)
    session = SessionAuth.parse({"type": "session", "login": {"path": "/login"}})
    assert (session.send_as.header, session.send_as.prefix) == ("Authorization", "Bearer ")
    assert session.login.method == "POST"
    lines = SqlDestinationOptions.parse({"url": "sqlite://", "table": "h", "lines": {
        "table": "l", "parent_key": "h_id"}}).lines
    assert lines is not None and lines.field == "lines"  # was required and defaulted at once
    assert OffsetPaging.parse({"type": "offset"}).limit == 100
    assert RelayPaging.parse({"type": "relay", "page_info": "p"}).param == "after"


def test_nested_unions_parse_into_their_classes() -> None:
    src = HttpSourceOptions.parse({
        "base_url": "http://x", "request": {"path": "/o"}, "timeout": 5,
        "pagination": {"type": "offset", "in": "body"},
        "select": {"sku": "variant.sku", "email": {"path": "c.email", "optional": True}},
    })
    assert src.timeout == 5.0 and isinstance(src.pagination, OffsetPaging)
    assert src.pagination.in_ == "body"
    assert src.select == {"sku": "variant.sku", "email": SelectPath(path="c.email",
                                                                     optional=True)}
    dest = HttpDestinationOptions.parse({
        "base_url": "http://x", "timeout": {"read": 60},
        "create": {"path": "/p"},
        "then": [{"name": "v", "key": ["sku"], "create": {"path": "/v"},
                  "then": [{"name": "s", "key": "sku", "upsert": {"path": "/s"}}]}],
    })
    assert dest.timeout == Timeouts(connect=30, read=60)
    assert dest.then is not None
    (level,) = dest.then
    assert isinstance(level, Level) and level.key == ("sku",)
    assert level.then is not None and type(level.then[0]) is LevelLeaf


# --- the connectors read the typed values --------------------------------------------------


OPTION_READERS = [
    *sorted((ROOT / "connectors" / "sql").glob("*.py")),
    ROOT / "connectors" / "files.py",
    *(ROOT / "connectors" / "http" / f"{name}.py" for name in (
        "auth", "client", "entity", "listing", "match", "pagination", "sink", "source",
        "check", "check_entity", "check_graphql", "read_check")),
]


@pytest.mark.parametrize("path", OPTION_READERS, ids=lambda p: p.name)
def test_sources_and_sinks_never_read_the_raw_options_mapping(path: Path) -> None:
    """``options.get("x") or DEFAULT`` stated a default a second time; these modules (open
    time, and the checks ``validate`` runs) take the parsed value instead."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    raw = [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get" and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("options", "opts", "spec", "level", "gql", "block"))
        or (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and node.value.id in ("options", "opts") and isinstance(node.slice, ast.Constant))
    ]
    assert raw == []


def test_every_registered_connector_is_covered() -> None:
    assert set(available_connectors()) >= {"sql", "http", "csv", "jsonl"}
