"""The version 2 schemas as an editor uses them, and their agreement with runner.lang_v2.

- every shipped pipeline, project file and docs example fits its schema under plain
  ``jsonschema`` (read with the language's YAML rules, as yaml-language-server reads YAML 1.2),
  and its ``# yaml-language-server`` line points at that schema;
- each word version 2 retired is refused by the schema, and ``validate`` says so in v2 words;
- the version 2 schema, read through lang_v2's rename tables, is the version 1 schema (so the
  translated form of a valid file needs no second schema pass), and the translated form of
  every shipped file does fit the version 1 schema.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectors.sql import SqlConnector
from runner import lang_v2
from runner.config import load_file
from runner.lang_v2 import read_project, to_v1
from runner.project import load_project
from runner.schema_check import SCHEMA_PATH, pipeline_schema, project_schema

ROOT = Path(__file__).resolve().parents[2]
V2 = pipeline_schema()
V1 = pipeline_schema(1)
PROJECT = project_schema()
FOLDERS = [ROOT / "pipelines", ROOT / "pipelines" / "medusa", ROOT / "tests/fixtures/docs"]
FILES = sorted(p for folder in FOLDERS for p in folder.glob("*.yaml"))
HEADER = re.compile(r"^# yaml-language-server: \$schema=(\S+)")
ANNOTATIONS = {"description", "examples", "default", "errorMessage", "doNotSuggest",
               "x-message", "title"}


def _errors(schema: Mapping[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(data)]


def _schema_for(path: Path) -> Mapping[str, Any]:
    return PROJECT if path.name == lang_v2.PROJECT_FILE else V2


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_shipped_files_and_docs_examples_fit_their_schema(path: Path) -> None:
    assert len(FILES) >= 15
    doc = load_file(path, env={})
    assert doc.data["version"] == 2
    assert _errors(_schema_for(path), doc.data) == []
    header = HEADER.match(path.read_text(encoding="utf-8"))
    assert header, f"{path} has no yaml-language-server line"
    target = (path.parent / header.group(1)).resolve()
    wanted = "project.schema.json" if path.name == lang_v2.PROJECT_FILE else SCHEMA_PATH.name
    assert target == (ROOT / "schemas" / wanted).resolve()


def _docs_example() -> dict[str, Any]:
    data = load_file(ROOT / "tests/fixtures/docs/inventory.yaml", env={}).data
    assert _errors(V2, data) == []
    return copy.deepcopy(data)


def _put(data: dict[str, Any], path: tuple[str | int, ...], key: str, value: Any) -> None:
    node: Any = data
    for part in path:
        node = node[part]
    node[key] = value


RETIRED = [  # (where, word, value, the word version 2 uses)
    ((), "mode", "full", "sync"),
    (("steps", 0), "mode", "changes", "sync"),
    (("steps", 0), "batch_size", 100, "batch"),
    (("steps", 0, "source"), "since_query", "SELECT 1 WHERE m >= :since", "incremental"),
    (("steps", 0, "lookups", "tax_groups", "source"), "since_query", "SELECT 1", "incremental"),
    (("steps", 0, "filter"), "not_null", True, "null: false"),
    (("steps", 0, "filter"), "not_null", False, "null: true"),
    (("connections", "erp"), "retry", {"attempts": 3}, "errors.retry"),
]


@pytest.mark.parametrize(("where", "word", "value", "new"), RETIRED,
                         ids=[".".join(map(str, (*w, k))) for w, k, _, _ in RETIRED])
def test_each_version_1_word_is_refused_naming_its_version_2_word(
        where: tuple[str | int, ...], word: str, value: Any, new: str) -> None:
    data = _docs_example()
    data.setdefault("connections", {"erp": {"connector": "sql", "url": "sqlite:///x.db"}})
    _put(data, where, word, value)
    path = ".".join(map(str, (*where, word)))
    validator = jsonschema.Draft202012Validator(V2)
    found = [e for e in validator.iter_errors(data)
             if ".".join(map(str, e.absolute_path)) == path]
    assert found, f"{path} was accepted"
    assert any(new in str(e.schema.get("errorMessage", "")) for e in found)
    # The same word under the version 1 schema (where it exists) is fine: it is version 1's.
    if word in ("mode", "batch_size", "not_null"):
        v1 = copy.deepcopy(data)
        v1["version"] = 1
        for key, old in (("sync", "mode"), ("batch", "batch_size")):
            for node in (v1, v1["steps"][0]):
                if key in node and old != word:
                    node[old] = node.pop(key)
        v1["steps"][0]["source"].pop("incremental")
        assert not [e for e in jsonschema.Draft202012Validator(V1).iter_errors(v1)
                    if ".".join(map(str, e.absolute_path)) == path]


def test_project_file_refuses_a_connection_retry_and_a_cron_default() -> None:
    data = load_file(ROOT / "tests/fixtures/docs/project.yaml", env={}).data
    data["connections"]["erp"]["retry"] = {"attempts": 3}
    data["defaults"]["schedule"]["cron"] = "* * * * *"
    data["steps"] = []
    assert sorted(_errors(PROJECT, data)) == [
        "connections.erp.retry: {'attempts': 3} should not be valid under {}",
        "defaults.schedule.cron: '* * * * *' should not be valid under {}",
        "steps: [] should not be valid under {}",
    ]


def test_validate_words_schema_problems_as_written(tmp_path: Path) -> None:
    (tmp_path / "project.yaml").write_text(
        "version: 2\nconnections:\n  mem: {connector: memdb}\ndefaults: {batch: 0}\n",
        encoding="utf-8")
    (tmp_path / "job.yaml").write_text(
        "version: 2\nname: job\nsteps:\n  - name: s\n"
        "    source: {connection: mem, table: products, incremental: {when: x}}\n"
        "    sync: sometimes\n    batch: 0\n    key: sku\n"
        "    destination: {connection: mem, resource: products, write: upsert}\n",
        encoding="utf-8")
    from tests.unit.test_validate_fakes import register_fakes, unregister_fakes
    register_fakes()
    try:
        project = load_project([tmp_path], env={})
    finally:
        unregister_fakes()
    lines = [f"{Path(p.file).name}:{p.line}:{p.col}: {p.path}: {p.message}"
             for p in project.problems]
    assert lines == [
        "job.yaml:5:61: steps[0].source.incremental: missing required key 'where'",
        "job.yaml:5:62: steps[0].source.incremental.when: unknown key 'when'; "
        "did you mean 'where'?",
        "job.yaml:6:11: steps[0].sync: 'sometimes' is not one of incremental, changes, full",
        "job.yaml:7:12: steps[0].batch: 0 is less than the minimum of 1",
        "project.yaml:4:19: defaults.batch: 0 is less than the minimum of 1",
    ]
    assert project.jobs == {}


# --- agreement with lang_v2 -------------------------------------------------------------------


def _offered(node: Mapping[str, Any]) -> set[str]:
    return {k for k, v in node["properties"].items() if not v.get("doNotSuggest")}


def _retired(node: Mapping[str, Any]) -> set[str]:
    return {k for k, v in node["properties"].items() if v.get("doNotSuggest")}


def test_the_retired_words_are_version_1_words_with_a_version_2_word() -> None:
    defs = V2["$defs"]
    assert _retired(V2) == set(lang_v2.JOB_RENAMES.values())
    assert _retired(defs["step"]) == set(lang_v2.STEP_RENAMES.values())
    assert _retired(defs["filter"]) == {"not_null"} and "null" in _offered(defs["filter"])
    assert _retired(defs["source_block"]) == {"since_query"}
    assert "incremental" in _offered(defs["source_block"])
    assert _retired(defs["connection"]) == {"retry"}
    assert set(lang_v2.JOB_RENAMES) <= _offered(V2)
    assert set(lang_v2.STEP_RENAMES) <= _offered(defs["step"])
    assert set(lang_v2.SQL_DESTINATION_RENAMES) == _offered(defs["destination_block"]) - {
        "connector", "connection"}
    # `write` is the SQL destination's `mode`, under its version 2 name.
    sql_destination = SqlConnector.destination_options
    assert sql_destination is not None
    assert defs["destination_block"]["properties"]["write"]["enum"] == (
        sql_destination["properties"][lang_v2.SQL_DESTINATION_RENAMES["write"]]["enum"])


def test_the_project_schema_holds_what_lang_v2_reads() -> None:
    assert _offered(PROJECT) == set(lang_v2.PROJECT_KEYS)
    defaults = PROJECT["properties"]["defaults"]
    assert _offered(defaults) == set(lang_v2.DEFAULT_KEYS)
    assert _offered(defaults["properties"]["schedule"]) == set(lang_v2.SCHEDULE_DEFAULTS)
    assert _retired(defaults["properties"]["schedule"]) == {"cron"}
    # What the project lends must be what a pipeline may say itself: the same definitions.
    for name, definition in PROJECT["$defs"].items():
        assert definition == V2["$defs"][name], name
    assert PROJECT["properties"]["connections"]["additionalProperties"] == (
        V2["properties"]["connections"]["additionalProperties"])
    for key in lang_v2.SCHEDULE_DEFAULTS:
        assert PROJECT["$defs"].get(key) == V2["$defs"][key], key
        assert V2["properties"]["schedule"]["properties"][key]["$ref"] == f"#/$defs/{key}"
        assert defaults["properties"]["schedule"]["properties"][key]["$ref"] == (
            f"#/$defs/{key}")


class _Walk:
    """The version 2 schema read as lang_v2 reads a file, beside the version 1 schema."""

    # v2 words lang_v2 turns into connector options (checked by the connector's schema).
    BLOCK_WORDS = {"source_block": {"incremental"},
                   "destination_block": set(lang_v2.SQL_DESTINATION_RENAMES)}
    RENAMES = {"": lang_v2.JOB_RENAMES, "step": lang_v2.STEP_RENAMES}
    DEFS = {"sync": "mode", "source_block": "connector_block",
            "destination_block": "connector_block"}

    def __init__(self) -> None:
        self.differences: list[str] = []

    def deref(self, schema: Mapping[str, Any], node: Any, seen: tuple[str, ...],
              ) -> tuple[Any, str | None, bool]:
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if not isinstance(ref, str):
            return node, None, False
        name = ref.split("/")[-1]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**schema["$defs"][name], **rest}, name, name in seen

    def compare(self, new: Any, old: Any, path: str, defn: str,
                seen: tuple[str, ...] = ()) -> None:
        new, new_def, new_loop = self.deref(V2, new, seen)
        old, old_def, old_loop = self.deref(V1, old, seen)
        if new_loop or old_loop:  # a recursive definition (filter, field_map): named alike
            if self.DEFS.get(new_def or "", new_def) != old_def:
                self.differences.append(f"{path}: $ref {new_def} / {old_def}")
            return
        defn = new_def or defn
        seen = (*seen, *(d for d in (new_def, old_def) if d))
        if not (isinstance(new, Mapping) and isinstance(old, Mapping)):
            if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
                for index, (a, b) in enumerate(zip(new, old, strict=True)):
                    self.compare(a, b, f"{path}[{index}]", defn, seen)
            elif new != old:
                self.differences.append(f"{path}: {new!r} / {old!r}")
            return
        for key in sorted((set(new) | set(old)) - ANNOTATIONS):
            if key == "properties":
                self.properties(new.get(key, {}), old.get(key, {}), path, defn, seen)
            elif key == "enum" and key in new and key in old:
                if sorted(map(repr, new[key])) != sorted(map(repr, old[key])):
                    self.differences.append(f"{path}.enum")
            elif key not in new or key not in old:
                self.differences.append(f"{path}.{key} only in {'v2' if key in new else 'v1'}")
            else:
                self.compare(new[key], old[key], f"{path}.{key}", defn, seen)

    def properties(self, new: Mapping[str, Any], old: Mapping[str, Any], path: str,
                   defn: str, seen: tuple[str, ...]) -> None:
        renames = self.RENAMES.get(defn, {})
        skip = self.BLOCK_WORDS.get(defn, set())
        matched: set[str] = set()
        for key, sub in new.items():
            if sub.get("doNotSuggest") or key in skip:
                continue
            target = renames.get(key, key)
            if target not in old:
                self.differences.append(f"{path}.{key}: only in v2")
                continue
            matched.add(target)
            self.compare(sub, old[target], f"{path}.{key}", defn, seen)
        retired = {k for k, v in new.items() if v.get("doNotSuggest")}
        for key in set(old) - matched - (retired - set(renames.values())):
            self.differences.append(f"{path}.{key}: only in v1")


def test_the_version_2_schema_read_through_the_renames_is_the_version_1_schema() -> None:
    walk = _Walk()
    top_new = {k: v for k, v in V2.items() if k not in ("$defs", "$id", "$schema")}
    top_old = {k: v for k, v in V1.items() if k not in ("$defs", "$id", "$schema")}
    walk.compare(top_new, top_old, "$", "")
    # The one difference by design: the version this schema describes.
    assert walk.differences == ["$.version.const only in v2", "$.version.enum only in v1"]
    assert V2["properties"]["version"]["const"] in V1["properties"]["version"]["enum"]


def _translated(path: Path) -> Any:
    project_doc = load_file(path.parent / lang_v2.PROJECT_FILE, env={})
    project = read_project(project_doc)
    assert project.valid, project_doc.problems
    out, _ = to_v1(load_file(path, env={}), project)
    assert out.problems == [] or all(p.severity == "warning" for p in out.problems)
    return out.data


PIPELINES = [p for p in FILES if p.name != lang_v2.PROJECT_FILE]


@pytest.mark.parametrize("path", PIPELINES, ids=[str(p.relative_to(ROOT)) for p in PIPELINES])
def test_the_translated_form_of_each_shipped_file_fits_the_version_1_schema(path: Path) -> None:
    assert _errors(V1, _translated(path)) == []


def test_a_v1_word_in_a_v2_file_is_reported_where_written_not_where_renamed(
        tmp_path: Path) -> None:
    # The step says both: the refusal of `mode` must not be given back as a problem of `sync`
    # (lang_v2 renames sync to mode; a problem found before that is in the words written).
    path = tmp_path / "job.yaml"
    path.write_text("version: 2\nname: job\nsteps:\n  - {name: s, sync: full, mode: full}\n",
                    encoding="utf-8")
    problems = {(p.path, p.col, p.message) for p in load_project([path], env={}).problems}
    assert ("steps[0].mode", 27, "`mode` is version 1; write `sync`") in problems
    assert not [p for p in problems if p[0] == "steps[0].sync"]


def test_a_project_file_named_alone_is_checked_as_a_project_file() -> None:
    good = load_project([ROOT / "pipelines" / lang_v2.PROJECT_FILE], env={})
    assert good.errors == [] and good.jobs == {} and len(good.files) == 1
    bad = ROOT / "tests/fixtures/invalid/v2_project_schema" / lang_v2.PROJECT_FILE
    problems = load_project([bad], env={}).errors
    assert {Path(p.file) for p in problems} == {bad}
    assert "defaults.schedule.overlapp" in {p.path for p in problems}
