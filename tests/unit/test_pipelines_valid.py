"""Every pipeline shipped in pipelines/ validates with no errors (warnings allowed: an
unset ${VAR} without default is a warning, and CI has no production secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.project import load_project

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
# project.yaml holds the folder's shared connections and defaults: it is no job.
FILES = sorted(p for p in PIPELINES.glob("*.y*ml")
               if p.suffix in (".yaml", ".yml") and p.name != "project.yaml")


@pytest.mark.skipif(not FILES, reason="pipelines/ holds no *.yaml files yet")
def test_all_pipelines_validate_together() -> None:
    project = load_project([PIPELINES], env={})
    assert [str(p) for p in project.errors] == []
    assert len(project.jobs) == len(FILES)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_pipeline_file_loads_on_its_own_schema_wise(path: Path) -> None:
    # Alone, a file may name jobs defined elsewhere; everything else must be clean.
    project = load_project([path], env={})
    cross_file = ("unknown job", "depends_on cycle", "records no entity", "in keymap")
    errors = [str(p) for p in project.errors if not any(c in p.message for c in cross_file)]
    assert errors == []


# Sets of pipelines for particular stores live in subfolders, selected with --pipelines DIR.
STORE_SETS = sorted(p for p in PIPELINES.iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", STORE_SETS, ids=[p.name for p in STORE_SETS])
def test_store_pipeline_sets_validate_together(folder: Path) -> None:
    files = sorted(p for p in folder.glob("*.yaml") if p.name != "project.yaml")
    project = load_project([folder], env={})
    assert [str(p) for p in project.errors] == []
    assert len(project.jobs) == len(files)
    assert files, f"{folder} holds no pipelines"
