"""``trigger JOB`` tells whether a scheduler will pick the request up (issue 11, item 8).

It used to say the job would start "within about a second" and exit 0 with no ``serve``
running, and nothing ever ran. A serving runner now keeps a heartbeat in the state store;
``trigger`` refuses (exit 1, nothing queued) without one, or runs the job itself with ``--run``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.scheduler.service import scheduler_listening
from runner.state import open_state
from tests.support.pipelines import copy_pipeline

CLI = [sys.executable, "-m", "runner"]


def _project(tmp: Path) -> Path:
    (tmp / "src.jsonl").write_text("".join(json.dumps({"sku": f"S{i}"}) + "\n" for i in range(3)))
    pipes = tmp / "pipelines"
    pipes.mkdir()
    (pipes / "copy.yaml").write_text(copy_pipeline(tmp / "src.jsonl", tmp / "out.jsonl"))
    return pipes


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args, "--state", str(tmp / "state.db")], cwd=tmp,
                          capture_output=True, text=True, timeout=60)


def _listening(state: Path) -> bool:
    store = open_state(str(state))
    try:
        return scheduler_listening(store)
    finally:
        store.close()


def test_trigger_without_a_scheduler_says_so_and_queues_nothing(tmp_path: Path) -> None:
    _project(tmp_path)
    out = _cli(tmp_path, "trigger", "copy")
    assert out.returncode == 1, out.stdout
    assert "no scheduler is listening" in out.stderr
    assert "commerce-sync serve" in out.stderr and "--run" in out.stderr
    store = open_state(str(tmp_path / "state.db"))
    try:
        assert store.take_triggers() == []  # a scheduler started tomorrow must not run it
    finally:
        store.close()


def test_trigger_run_runs_the_job_now_without_a_scheduler(tmp_path: Path) -> None:
    pipes = _project(tmp_path)
    out = _cli(tmp_path, "trigger", "copy", "--run", "--pipelines", str(pipes))
    assert out.returncode == 0, out.stderr
    assert "copy: succeeded" in out.stdout
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


@pytest.mark.slow
def test_trigger_reaches_a_running_scheduler(tmp_path: Path) -> None:
    pipes = _project(tmp_path)
    state = tmp_path / "state.db"
    proc = subprocess.Popen([*CLI, "serve", str(pipes), "--state", str(state)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (state.exists() and _listening(state)):
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        out = _cli(tmp_path, "trigger", "copy")
        assert out.returncode == 0, out.stderr
        assert "triggered copy" in out.stdout
        while not (tmp_path / "out.jsonl").exists():
            assert time.monotonic() < deadline + 30, "the triggered run did not happen"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert not _listening(state)  # a scheduler that stopped says so at once
