"""Broken copies of the project's own pipeline file: each breakage a person typically makes exits
2 from ``commerce-sync validate`` with the file and the line of the mistake, and no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL = (ROOT / "pipelines" / "inventory.yaml").read_text(encoding="utf-8")
LINES = ORIGINAL.splitlines(keepends=True)


def _line_of(text: str) -> int:
    """1-based number of the first line that starts (after indentation) with ``text``."""
    return next(i for i, line in enumerate(LINES, 1) if line.lstrip().startswith(text))


def _replace(start: str, new: str) -> Callable[[], tuple[str, int]]:
    def edit() -> tuple[str, int]:
        at = _line_of(start)
        lines = list(LINES)
        lines[at - 1] = new
        return "".join(lines), at

    return edit


def _insert_after(start: str, new: str) -> Callable[[], tuple[str, int]]:
    def edit() -> tuple[str, int]:
        at = _line_of(start)
        lines = list(LINES)
        lines.insert(at, new)
        return "".join(lines), at + 1

    return edit


BREAKAGES: dict[str, Callable[[], tuple[str, int]]] = {
    "syntax error": _replace("overlap:", "  overlap: [skip\n"),
    "duplicate key": _insert_after("timezone:", "  timezone: UTC\n"),
    "unknown key": _insert_after("overlap:", "  owerlap: skip\n"),
    "bad cron": _replace("cron:", '  cron: "*/15 * * *"\n'),
    "unknown timezone": _replace("timezone:", "  timezone: America/Chicagoo\n"),
    "misspelled connection": _replace("connection: erp", "      connection: erpp\n"),
    "wrong type": _replace("batch:", "    batch: many\n"),
    "tab indentation": _replace("overlap:", "\toverlap: skip\n"),
    "empty file": lambda: ("", 1),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_copy_exits_2_at_the_right_line(
    breakage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line = BREAKAGES[breakage]()
    assert text != ORIGINAL
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    # The shared connections and defaults (pipeline language v2) stay as shipped.
    (tmp_path / "project.yaml").write_text((ROOT / "pipelines" / "project.yaml").read_text())
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    printed = out.out + out.err
    assert code == 2, printed
    assert "Traceback" not in printed
    errors = [p for p in printed.splitlines() if ": warning:" not in p and p.startswith(str(path))]
    # YAML reports an unclosed bracket where it gives up; the message points back to the line.
    assert any(e.startswith(f"{path}:{line}:") or f"began at line {line}," in e
               for e in errors), (breakage, line, printed)


def test_a_misspelled_shared_connector_is_reported_at_its_line_in_project_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = (ROOT / "pipelines" / "project.yaml").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(shared, 1) if line.strip() == "connector: sql")
    shared[at - 1] = "    connector: sqll\n"
    (tmp_path / "project.yaml").write_text("".join(shared))
    (tmp_path / "inventory.yaml").write_text(ORIGINAL)
    assert main(["validate", str(tmp_path / "inventory.yaml")]) == 2
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'project.yaml'}:{at}:16: connections.erp.connector: unknown connector " \
           "'sqll'" in printed, printed
    assert "Traceback" not in printed


def test_the_original_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(ORIGINAL, encoding="utf-8")
    (tmp_path / "project.yaml").write_text((ROOT / "pipelines" / "project.yaml").read_text())
    # Alone, the file names a job defined in another file (depends_on); nothing else is wrong.
    code = main(["validate", str(path)])
    printed = capsys.readouterr()
    errors = [p for p in (printed.out + printed.err).splitlines()
              if p.startswith(str(path)) and ": warning:" not in p]
    assert all("delivery-and-stores" in e for e in errors), errors
    assert code == (2 if errors else 0)
