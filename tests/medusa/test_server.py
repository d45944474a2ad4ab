"""Stopping the Medusa server leaves no process behind: checked on a stand-in process group
(a shell with children), so it runs in the default suite without Node."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from .server import stop


def _group(script: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    time.sleep(0.3)  # let the shell start its children
    return process


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_ends_the_leader_and_every_child_of_its_group() -> None:
    process = _group("sleep 60 & sleep 60 & wait")
    assert _alive(process.pid)
    stop(process)
    assert process.returncode is not None
    assert not _alive(process.pid)


def test_stop_kills_a_group_that_ignores_sigterm() -> None:
    process = _group("trap '' TERM; sleep 60 & sleep 60 & wait; sleep 60")
    started = time.monotonic()
    stop(process, grace=0.5)
    assert not _alive(process.pid)
    assert time.monotonic() - started < 10


def test_stop_of_a_process_that_already_exited_returns() -> None:
    process = subprocess.Popen(["true"], start_new_session=True)
    process.wait()
    stop(process)
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


def test_without_node_the_install_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import server

    monkeypatch.setattr(server.shutil, "which", lambda tool: None)
    with pytest.raises(server.MedusaUnavailable, match=r"node is not on PATH; install Node\.js"):
        server.install()
