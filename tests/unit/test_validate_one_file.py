"""``validate FILE`` checks the file against the project it lives in (its folder).

Issue 11, item 4: ``commerce-sync validate pipelines/inventory.yaml`` failed with
``depends_on[0]: unknown job 'delivery-and-stores'; loaded jobs: inventory``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.project import load_project

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def test_a_file_named_alone_resolves_depends_on_in_its_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = load_project([PIPELINES / "inventory.yaml"])
    assert project.errors == []
    assert list(project.jobs) == ["inventory"]  # the named file's jobs, not its neighbours'
    assert project.files == [str(PIPELINES / "inventory.yaml")]
    assert main(["validate", str(PIPELINES / "inventory.yaml")]) == 0
    captured = capsys.readouterr()
    assert "unknown job" not in captured.out
    assert "1 file, 0 errors" in captured.err


def test_a_job_unknown_to_the_folder_is_still_an_error(tmp_path: Path) -> None:
    shutil.copy(PIPELINES / "project.yaml", tmp_path / "project.yaml")  # shared connections
    shutil.copy(PIPELINES / "delivery-and-stores.yaml", tmp_path / "delivery-and-stores.yaml")
    text = (PIPELINES / "inventory.yaml").read_text()
    assert "depends_on: [delivery-and-stores]" in text
    (tmp_path / "inventory.yaml").write_text(
        text.replace("depends_on: [delivery-and-stores]", "depends_on: [delivery-and-store]"))
    project = load_project([tmp_path / "inventory.yaml"])
    messages = [f"{p.path}: {p.message}" for p in project.errors]
    assert messages == ["depends_on[0]: unknown job 'delivery-and-store'; loaded jobs: "
                        "delivery-and-stores, inventory; did you mean 'delivery-and-stores'?"]


def test_errors_of_the_neighbours_are_not_reported_for_the_named_file(tmp_path: Path) -> None:
    shutil.copy(PIPELINES / "project.yaml", tmp_path / "project.yaml")
    shutil.copy(PIPELINES / "delivery-and-stores.yaml", tmp_path / "delivery-and-stores.yaml")
    shutil.copy(PIPELINES / "inventory.yaml", tmp_path / "inventory.yaml")
    (tmp_path / "broken.yaml").write_text("version: 1\nname: broken\nsteps: 7\n")
    project = load_project([tmp_path / "inventory.yaml"])
    assert project.errors == []
    assert load_project([tmp_path]).errors != []  # the folder itself does have an error


NEIGHBOUR_PROBE = """
import sys
from runner.project import load_project
project = load_project([sys.argv[1]])
print(sorted(project.jobs), [p.message for p in project.errors], "graphql" in sys.modules)
"""


def test_a_neighbour_gives_context_without_its_connectors_checks(tmp_path: Path) -> None:
    # The connectors' own checks of a neighbour's blocks are its problems, reported when it is
    # named: a run of a file named alone must not pay for them (a GraphQL neighbour's check
    # imported graphql-core, ~0.1 s of every run's start).
    bench = PIPELINES.parent / "tests/benchmarks/pipelines"
    shutil.copy(bench / "inventory.yaml", tmp_path / "inventory.yaml")
    text = (bench / "budget-graphql.yaml").read_text()
    assert "productCreate(input: $input)" in text
    (tmp_path / "graphql.yaml").write_text(
        text.replace("productCreate(input: $input)", "productCreate(input: $input"))
    env = {**os.environ, "ERP_DATABASE_URL": "sqlite:///erp.db", "COMMERCE_URL": "http://x",
           "COMMERCE_API_KEY": "k"}

    def probe(name: str) -> str:
        return subprocess.run([sys.executable, "-c", NEIGHBOUR_PROBE, str(tmp_path / name)],
                              capture_output=True, text=True, env=env, check=True,
                              cwd=PIPELINES.parent).stdout.strip()

    assert probe("inventory.yaml") == "['bench-inventory'] [] False"
    named = probe("graphql.yaml")  # named, the same file's document is checked and fails
    assert named.startswith("[] [") and "Syntax Error" in named and named.endswith("True")
