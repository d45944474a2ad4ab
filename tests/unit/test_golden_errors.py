"""Golden files: each ``tests/fixtures/invalid/NAME.yaml`` (or folder ``NAME/``) beside
``NAME.expected``, the exact lines ``commerce-sync validate`` prints for it.

Regenerate after a deliberate change of wording: ``UPDATE_GOLDEN=1 pytest
tests/unit/test_golden_errors.py`` and review the diff.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli.validate_cmd import format_problems
from runner.project import load_project
from tests.unit.test_validate_fakes import register_fakes, unregister_fakes

ROOT = Path(__file__).resolve().parents[2]
INVALID = Path("tests/fixtures/invalid")
CASES = sorted(
    p.name for p in (ROOT / INVALID).iterdir()
    if p.suffix in (".yaml", ".yml") or (p.is_dir() and not p.name.startswith("."))
)


@pytest.fixture(autouse=True)
def _fakes_at_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)  # printed paths are relative, as a user at the root sees them
    register_fakes()
    yield
    unregister_fakes()


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_validate_output_matches_golden(case: str) -> None:
    # Each case stands alone: the folder is a collection of examples, not one project.
    project = load_project([INVALID / case], env={"ERP_DATABASE_URL": "sqlite:///erp.db"},
                           neighbours=False)
    actual = "\n".join(format_problems(project.problems)) + "\n"
    expected_file = ROOT / INVALID / f"{Path(case).stem}.expected"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"no golden file; run with UPDATE_GOLDEN=1 to create {case}"
    assert actual == expected_file.read_text(encoding="utf-8")
    # Every fixture is invalid on purpose: an error (not only warnings) must be reported,
    # except the one whose point is the warning.
    if case != "missing_env_var.yaml":
        assert project.errors, f"{case} produced no error"
    if (ROOT / INVALID / case).is_dir():
        assert len(project.jobs) < len(project.files)
    else:
        assert not project.jobs or case == "missing_env_var.yaml"
