"""``demo --port N`` and ``demo-order`` reach the store where it really is (issue 11, item 5).

The shopper hints printed by ``demo --port N`` and ``demo-order`` itself targeted 8765
whatever the port; ``demo-order`` called a 401 "cannot reach the sandbox store".
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.demo.sandbox import create_app
from tests.support.loopback import free_port, serve_app

CLI = [sys.executable, "-m", "runner"]
PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    with serve_app(create_app(str(tmp_path / "sandbox.db"), "right-key")) as url:
        yield url


def test_demo_order_reports_a_refused_key_as_such(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo-order", "--url", store, "--api-key", "wrong-key"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach" not in err
    assert "401" in err and "--api-key" in err and "COMMERCE_API_KEY" in err


def test_demo_order_with_the_right_key_gets_past_auth(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty store: the request was answered, and the answer is about the catalogue.
    assert main(["demo-order", "--url", store, "--api-key", "right-key"]) == 1
    assert "no published product yet" in capsys.readouterr().err


def test_demo_order_says_when_nothing_listens(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["demo-order", "--url", url]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the store at {url}" in err and "--url" in err


def test_demo_order_help_names_its_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo-order", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "COMMERCE_URL" in out and "COMMERCE_API_KEY" in out


def test_demo_on_another_port_prints_hints_for_that_port(tmp_path: Path) -> None:
    shutil.copytree(PIPELINES, tmp_path / "pipelines")
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("ERP_DATABASE_URL", "COMMERCE_URL", "COMMERCE_SYNC_STATE")}
    proc = subprocess.Popen([*CLI, "demo", "--port", str(port), "--products", "20"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    hints: list[str] = []
    deadline = time.monotonic() + 60
    try:
        for line in proc.stderr:
            hints.append(line)
            if "Ctrl-C" in line or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    text = "".join(hints)
    order_hint = next(line for line in hints if "demo-order" in line)
    assert f"http://127.0.0.1:{port}" in order_hint, text
    assert "8765" not in text
