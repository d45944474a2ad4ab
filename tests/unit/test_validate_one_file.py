"""``validate FILE`` checks the file against the project it lives in (its folder).

Issue 11, item 4: ``commerce-sync validate pipelines/inventory.yaml`` failed with
``depends_on[0]: unknown job 'delivery-and-stores'; loaded jobs: inventory``.
"""

from __future__ import annotations

import shutil
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
