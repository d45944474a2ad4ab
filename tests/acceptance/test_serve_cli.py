"""``commerce-sync serve`` as a user runs it: a subprocess, triggers, metrics, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from runner.state import open_state
from tests.support.loopback import free_port

CLI = [sys.executable, "-m", "runner"]

PIPELINE = """\
version: 1
name: copy
schedule: {{cron: "0 3 * * *"}}
freshness: {{max_age: 1h}}
steps:
  - name: items
    source: {{connector: jsonl, path: {src}}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
    batch_size: {batch}
"""


def _project(tmp: Path, rows: int, batch: int) -> Path:
    src, dst = tmp / "src.jsonl", tmp / "out.jsonl"
    with src.open("w") as fh:
        for i in range(rows):
            fh.write(json.dumps({"sku": f"S{i:06d}", "qty": i, "name": f"item {i}"}) + "\n")
    pipes = tmp / "pipelines"
    pipes.mkdir()
    (pipes / "copy.yaml").write_text(PIPELINE.format(src=src, dst=dst, batch=batch))
    return pipes


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _runs(state_path: Path) -> list:  # type: ignore[type-arg]
    store = open_state(str(state_path))
    try:
        return [r for r in store.runs("copy") if r.step == ""]
    finally:
        store.close()


@pytest.mark.slow
def test_trigger_runs_the_job_and_metrics_and_status_report_it(tmp_path: Path) -> None:
    pipes = _project(tmp_path, rows=500, batch=100)
    state = tmp_path / "state.db"
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "--log-format", "json", "serve", str(pipes), "--state", str(state),
         "--metrics-port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait(lambda: _ok(f"http://127.0.0.1:{port}/healthz"))
        out = _cli("trigger", "copy", "--state", str(state), cwd=tmp_path)
        assert out.returncode == 0 and "triggered copy" in out.stdout
        _wait(lambda: any(r.status == "succeeded" for r in _runs(state)))
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'commerce_sync_runs_total{job="copy",outcome="succeeded"} 1.0' in text
        assert 'commerce_sync_rows_total{job="copy",kind="written",step="items"} 500.0' in text
        status = _cli("status", str(pipes), "--state", str(state), "--format", "json",
                      cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        [row] = json.loads(status.stdout)
        assert row["job"] == "copy" and row["last_status"] == "succeeded"
        assert row["rows_last_run"] == 500 and row["stale"] is False
        assert row["next_run_at"].endswith("03:00:00+00:00")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "serve.stopped" in events


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).text == "ok\n"
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_sigterm_mid_run_commits_what_was_written_and_exits_0(tmp_path: Path) -> None:
    rows = 200_000
    pipes = _project(tmp_path, rows=rows, batch=200)
    state = tmp_path / "state.db"
    proc = subprocess.Popen(
        [*CLI, "serve", str(pipes), "--state", str(state)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out_file = tmp_path / "out.jsonl"
    try:
        _wait(lambda: _alive(proc) and state.exists())
        assert _cli("trigger", "copy", "--state", str(state), cwd=tmp_path).returncode == 0
        _wait(lambda: out_file.exists() and out_file.stat().st_size > 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    [run] = _runs(state)
    assert run.status == "interrupted", err
    written = sum(1 for _ in out_file.open())
    assert 0 < written < rows
    store = open_state(str(state))
    try:
        steps = [r for r in store.runs("copy") if r.step == "items"]
        committed = sum(r.counts.written for r in steps)
        hashed = sum(1 for _ in store.iter_keys("copy", "items"))
    finally:
        store.close()
    # Everything committed is in the file; at most the batch in flight was written past it.
    assert committed == hashed
    assert committed <= written <= committed + 200


def _alive(proc: subprocess.Popen[str]) -> bool:
    assert proc.poll() is None, "serve exited early"
    return True


def test_serve_with_no_valid_pipeline_exits_2(tmp_path: Path) -> None:
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    (pipes / "bad.yaml").write_text("version: 1\nname: Bad Name\n")
    got = _cli("serve", str(pipes), "--state", str(tmp_path / "s.db"), cwd=tmp_path)
    assert got.returncode == 2
    assert "bad.yaml" in got.stderr


if os.name != "posix":  # pragma: no cover
    raise ImportError("serve acceptance tests need POSIX signals")
