"""The examples in the docs are real: each complete pipeline in docs/*.md validates."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from runner.project import load_project

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROJECT = DOCS.parent / "tests" / "fixtures" / "docs" / "project.yaml"
FENCE = re.compile(r"```yaml\n(.*?)```", re.S)


def complete_examples() -> list[tuple[str, str]]:
    found = []
    for doc in sorted(DOCS.glob("*.md")):
        for block in FENCE.findall(doc.read_text()):
            if block.lstrip().startswith("# yaml-language-server") and "\nsteps:" in block:
                found.append((doc.name, block))
    return found


@pytest.mark.parametrize(("doc", "text"), complete_examples())
def test_complete_example_validates(doc: str, text: str, tmp_path: Path) -> None:
    (tmp_path / "example.yaml").write_text(text)
    if "\nversion: 2\n" in text:  # version 2 examples use the connections of their project file
        shutil.copyfile(PROJECT, tmp_path / "project.yaml")
    env = {"ERP_DATABASE_URL": "sqlite:///erp.db", "COMMERCE_URL": "http://127.0.0.1:1",
           "COMMERCE_API_KEY": "example-key"}
    project = load_project([tmp_path], env=env)
    # depends_on names a job of another file; everything else must be right.
    errors = [p for p in project.errors if "depends_on" not in p.path]
    assert errors == [], f"{doc}: " + "\n".join(map(str, errors))


def test_there_is_a_complete_example() -> None:
    assert complete_examples()
