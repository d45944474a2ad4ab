"""``commerce-sync migrate``: v1 files become v2 files that build the very same jobs.

The v1 originals of the shipped pipelines are kept under ``tests/fixtures/v1/pipelines`` (the
default set and the Medusa set); each is migrated into a temporary folder and the jobs built
from both are compared field by field (everything but where each node was written).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from runner.project import load_project
from tests.unit.test_validate_fakes import register_fakes, unregister_fakes

ROOT = Path(__file__).resolve().parents[2]
V1 = ROOT / "tests" / "fixtures" / "v1" / "pipelines"
SETS = [V1, V1 / "medusa"]
ENV = {"ERP_DATABASE_URL": "sqlite:///erp.db", "COMMERCE_URL": "http://127.0.0.1:1",
       "MEDUSA_URL": "http://127.0.0.1:2"}


def _shape(value: Any) -> Any:
    """A job as plain data without locations, file names and language version; and without a
    connection's v1 ``retry`` among connector options, where no connector reads it (the step's
    errors.retry, compared with the rest, is what it became)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _shape(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("location", "source_file", "version")}
    if isinstance(value, dict):
        if "since_query" in value and "query" in value:
            value = {**value, "since_query": _clause(value["query"], value["since_query"])}
        return {k: _shape(v) for k, v in value.items() if k != "retry" or "attempts" in value}
    if isinstance(value, tuple | list):
        return [_shape(v) for v in value]
    return value


def _clause(query: str, since: str) -> str:
    """What a since query adds to its query: v1 wrote it out, v2 splices it as WHERE (...)."""
    q, flat = " ".join(query.split()), " ".join(since.split())
    assert flat.startswith(q + " WHERE "), flat
    clause = flat[len(q) + len(" WHERE "):]
    if clause.startswith("(") and clause.endswith(")"):
        clause = clause[1:-1]
    return " ".join(clause.split())


def _migrated(tmp_path: Path, folder: Path) -> Path:
    target = tmp_path / folder.name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("medusa"))
    assert main(["migrate", str(target)]) == 0
    return target


@pytest.mark.parametrize("folder", SETS, ids=[s.name for s in SETS])
def test_migrated_pipelines_build_the_same_jobs(tmp_path: Path, folder: Path) -> None:
    before = load_project([folder], env=ENV)
    assert before.errors == []
    # v1 still loads, and says how to move on.
    assert any("commerce-sync migrate" in w.message for w in before.warnings)
    target = _migrated(tmp_path, folder)
    after = load_project([target], env=ENV)
    assert [str(p) for p in after.errors] == []
    assert not any("commerce-sync migrate" in w.message for w in after.warnings)
    assert set(after.jobs) == set(before.jobs)
    for name, job in before.jobs.items():
        assert after.jobs[name].version == 2
        assert _shape(after.jobs[name]) == _shape(job), name


def test_migrate_moves_shared_connections_and_keeps_comments(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             ) -> None:
    target = _migrated(tmp_path, V1)
    out = capsys.readouterr().out
    assert f"{target}/inventory.yaml: steps[0].source.since_query -> incremental.where" in out
    assert f"{target}/online-orders.yaml: steps[0].destination.mode -> write" in out
    project = (target / "project.yaml").read_text()
    assert "base_url:" in project and "retry: {attempts: 8, backoff: 0.5s, max_backoff: 30s}" in (
        project)
    inventory = (target / "inventory.yaml").read_text()
    assert "connections:" not in inventory and "since_query" not in inventory
    assert "# An incremental run reads only the products changed in its window" in inventory
    assert inventory.count("FROM products p LEFT JOIN variants v") == 1  # not two copies
    # Already v2: nothing left to change.
    assert main(["migrate", "--check", str(target)]) == 0


def test_check_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "p"
    shutil.copytree(V1, target, ignore=shutil.ignore_patterns("medusa"))
    before = {p.name: p.read_text() for p in target.iterdir()}
    assert main(["migrate", "--check", str(target)]) == 1
    assert {p.name: p.read_text() for p in target.iterdir()} == before


def test_shipped_pipelines_are_v2() -> None:
    for folder in (ROOT / "pipelines", ROOT / "pipelines" / "medusa"):
        assert main(["migrate", "--check", str(folder)]) == 0


def test_not_null_and_lookup_default_keep_their_meaning(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "version: 1\nname: a\nsteps:\n  - name: s\n"
        "    source: {connector: sql, url: 'sqlite:///x.db', table: t, fields: [k, v, g]}\n"
        "    filter: {any: [{field: v, not_null: true}, {field: g, not_null: false}]}\n"
        "    lookups:\n      groups:\n"
        "        source: {connector: sql, url: 'sqlite:///x.db', table: g, fields: [code, n]}\n"
        "        key: code\n"
        "    map: {k: k, n: {lookup: groups, on: g, take: n}}\n"
        "    key: k\n"
        "    destination: {connector: sql, url: 'sqlite:///y.db', table: t, mode: insert}\n")
    before = load_project([tmp_path], env={})
    assert main(["migrate", str(tmp_path)]) == 0
    text = (tmp_path / "a.yaml").read_text()
    assert "{field: v, null: false}" in text and "{field: g, null: true}" in text
    assert "missing: fail" in text and "write: insert" in text
    after = load_project([tmp_path], env={})
    assert _shape(after.job("a")) == _shape(before.job("a"))


# Every other v1 pipeline the tests keep (one folder = one project).
FIXTURE_SETS = [ROOT / "tests" / "fixtures" / "valid", ROOT / "tests" / "fixtures" / "engine",
                ROOT / "tests" / "benchmarks" / "pipelines"]


@pytest.mark.parametrize("folder", FIXTURE_SETS, ids=[s.parent.name + "/" + s.name
                                                      for s in FIXTURE_SETS])
def test_every_v1_fixture_migrates_to_the_same_jobs(tmp_path: Path, folder: Path) -> None:
    register_fakes()  # the fixtures use the in-memory test connector
    try:
        _same_jobs_after_migration(tmp_path, folder)
    finally:
        unregister_fakes()


def _same_jobs_after_migration(tmp_path: Path, folder: Path) -> None:
    before = load_project([folder], env=ENV)
    assert before.errors == [] and before.jobs
    target = _migrated(tmp_path, folder)
    after = load_project([target], env=ENV)
    assert [str(p) for p in after.errors] == []
    assert {name: _shape(job) for name, job in after.jobs.items()} == {
        name: _shape(job) for name, job in before.jobs.items()}
    assert main(["migrate", "--check", str(target)]) == 0


def test_the_editor_schema_line_follows_the_files_into_version_2(tmp_path: Path) -> None:
    # A version 1 file pointing at the version 1 schema points at the version 2 one once
    # migrated, and the new project.yaml at its own schema, beside it.
    text = (V1 / "delivery-and-stores.yaml").read_text(encoding="utf-8").split("\n", 1)[1]
    (tmp_path / "a.yaml").write_text(
        "# yaml-language-server: $schema=../../schemas/pipeline-v1.schema.json\n" + text,
        encoding="utf-8")
    assert main(["migrate", str(tmp_path)]) == 0
    first = (tmp_path / "a.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/pipeline.schema.json"
    project = (tmp_path / "project.yaml").read_text(encoding="utf-8").splitlines()
    assert project[0] == "# yaml-language-server: $schema=../../schemas/project.schema.json"
    assert project[1].startswith("# Shared by every pipeline file of this folder")
    assert main(["migrate", "--check", str(tmp_path)]) == 0
