"""Mutated and random pipeline files never crash the loader: every outcome is a located
problem (or a job), never another exception."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config import load_file
from runner.errors import ConfigProblem
from runner.project import load_project
from tests.support.trees import node_paths
from tests.unit.test_validate_fakes import register_fakes, unregister_fakes

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "valid" / "inventory.yaml"
SEED_TEXT = VALID.read_text(encoding="utf-8")
SEED = yaml.safe_load(SEED_TEXT)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["yes", "no", "on", "off", "22:00", "${X}", "$${Y}",
                                           "${", "*/15 * * * *", "5m", "-1", "1970-01-01"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(autouse=True)
def _fakes() -> Iterator[None]:
    register_fakes()
    yield
    unregister_fakes()


def _check(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pipeline.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        project = load_project([path], env={"X": "1"})
    for problem in project.problems:
        assert isinstance(problem, ConfigProblem)
        assert problem.file == str(path)
        assert problem.line >= 0 and problem.col >= 0
        assert problem.message
        assert problem.severity in ("error", "warning")
    assert bool(project.jobs) == (not project.errors)


@FUZZ
@given(data=st.data())
def test_structural_mutations(data: st.DataObject) -> None:
    doc = copy.deepcopy(SEED)
    _mutate(data, doc, st.text(max_size=10))
    _check(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@FUZZ
@given(cut=st.integers(0, len(SEED_TEXT)), garbage=st.text(max_size=12))
def test_text_mutations(cut: int, garbage: str) -> None:
    _check(SEED_TEXT[:cut])
    _check(SEED_TEXT[:cut] + garbage + SEED_TEXT[cut:])


@FUZZ
@given(blob=st.binary(max_size=200))
def test_random_bytes(blob: bytes) -> None:
    _check(blob)


@FUZZ
@given(doc=st.dictionaries(
    st.sampled_from(["version", "name", "steps", "jobs", "schedule", "mode", "connections",
                     "depends_on", "freshness", "x"]),
    values, max_size=6,
))
def test_random_documents(doc: dict[str, Any]) -> None:
    _check(yaml.safe_dump(doc, allow_unicode=True))


V2_FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "docs"
# Read with the language's YAML rules (`on:` is a key, not true), then mutated and dumped.
V2_SEEDS = {name: load_file(V2_FOLDER / name, env={}).data
            for name in ("inventory.yaml", "project.yaml")}


# Keys a version 2 mutation renames to: the words of both versions, so that each refusal of a
# version 1 word, and each v2 word in the wrong place, is reached.
V2_WORDS = st.sampled_from(["sync", "mode", "batch", "batch_size", "write", "incremental",
                            "since_query", "not_null", "retry", "null", "x"])


def _mutate(data: st.DataObject, doc: Any, names: st.SearchStrategy[str]) -> None:
    """One to three random edits of ``doc``: drop a node, rename a key to one of ``names``, or
    give a node a random value."""
    for _ in range(data.draw(st.integers(1, 3))):
        paths = node_paths(doc)
        if not paths:
            return
        target = data.draw(st.sampled_from(paths))
        parent: Any = doc
        for part in target[:-1]:
            parent = parent[part]
        last = target[-1]
        action = data.draw(st.sampled_from(["drop", "rename", "retype"]))
        if action == "drop":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(names)] = parent.pop(last)
        else:
            parent[last] = data.draw(values)


@FUZZ
@given(data=st.data())
def test_version_2_mutations_with_their_project_file(data: st.DataObject) -> None:
    # A version 2 file valid against its schema is built without the version 1 schema's
    # second look: whatever the mutation, a problem or a job, never a traceback.
    docs = copy.deepcopy(V2_SEEDS)
    _mutate(data, docs[data.draw(st.sampled_from(sorted(docs)))], V2_WORDS)
    with tempfile.TemporaryDirectory() as folder:
        for name, doc in docs.items():
            (Path(folder) / name).write_text(yaml.safe_dump(doc, sort_keys=False),
                                             encoding="utf-8")
        path = Path(folder) / "inventory.yaml"
        project = load_project([path], env={})
    for problem in project.problems:
        assert isinstance(problem, ConfigProblem) and problem.message
        assert Path(problem.file).name in docs
    # A file without errors is a job; one with errors of its own is not (a problem of
    # project.yaml alone does not stop its folder's jobs from building).
    assert project.jobs or project.errors
    if any(p.file == str(path) for p in project.errors):
        assert not project.jobs


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_structural_mutations_long(data: st.DataObject) -> None:
    test_structural_mutations.hypothesis.inner_test(data)  # type: ignore[attr-defined]


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_version_2_mutations_long(data: st.DataObject) -> None:
    test_version_2_mutations_with_their_project_file.hypothesis.inner_test(  # type: ignore[attr-defined]
        data)


def test_seed_is_valid() -> None:
    project = load_project([VALID], env={})
    assert not project.errors, project.errors
    assert list(project.jobs) == ["inventory"]


def test_version_2_seed_is_valid(tmp_path: Path) -> None:
    for name, doc in V2_SEEDS.items():
        (tmp_path / name).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    project = load_project([tmp_path / "inventory.yaml"], env={})
    assert [str(p) for p in project.errors] == []
    assert list(project.jobs) == ["inventory"]
