"""``serve --console-host 0.0.0.0`` with a token, as a user starts it: a real server that asks
every request for the token and never logs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.loopback import free_port
from tests.support.pipelines import copy_pipeline

TOKEN = "acceptance-console-token-5b1e9c0a"


@pytest.mark.slow
def test_off_loopback_the_console_wants_the_token_on_every_request(tmp_path: Path) -> None:
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    (pipes / "copy.yaml").write_text(
        copy_pipeline(tmp_path / "in.jsonl", tmp_path / "out.jsonl"))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "--log-format", "json", "serve", str(pipes),
         "--state", str(tmp_path / "state.db"), "--console-port", str(port),
         "--console-host", "0.0.0.0"],
        cwd=tmp_path, env={**os.environ, "COMMERCE_SYNC_CONSOLE_TOKEN": TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                anonymous = httpx.get(url + "/quarantine", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the console did not come up"
                time.sleep(0.2)
        assert anonymous.status_code == 401 and "Bearer" in anonymous.text
        assert httpx.get(url + "/", headers={"accept": "text/html"}).headers["location"] \
            == "/login"
        signed = httpx.get(url + "/", headers={"authorization": f"Bearer {TOKEN}"})
        assert signed.status_code == 200 and 'data-job="copy"' in signed.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "console.listening" in err and TOKEN not in err + out
