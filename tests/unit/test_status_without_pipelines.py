"""``status`` away from any pipeline says where it looked (issue 11, item 10).

From a folder without ``pipelines/`` it printed an empty table and exited 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.cli.main import main


def test_status_without_pipelines_says_where_it_looked_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMMERCE_SYNC_PIPELINES", raising=False)
    monkeypatch.setenv("COMMERCE_SYNC_STATE", str(tmp_path / "state.db"))
    assert main(["status"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no empty table
    assert str(tmp_path / "pipelines") in captured.err
    assert "commerce-sync status PATH" in captured.err
    assert not (tmp_path / "state.db").exists()  # nothing was opened for nothing


def test_status_with_one_broken_file_still_reports_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    (pipes / "broken.yaml").write_text("version: 1\nname: broken\nsteps: 7\n")
    (pipes / "ok.yaml").write_text(
        "version: 1\nname: ok\nsteps:\n  - name: s\n    source: {connector: jsonl, path: a}\n"
        "    destination: {connector: jsonl, path: b}\n    key: id\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMMERCE_SYNC_STATE", str(tmp_path / "state.db"))
    assert main(["status"]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "ok " in captured.out
