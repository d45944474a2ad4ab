"""A plain install of the built wheel works outside the checkout (issue 11, item 3).

``pip install .`` (not ``-e``) used to leave the pipeline schema behind:
``FileNotFoundError: .../site-packages/schemas/pipeline.schema.json`` on the first
``validate``. This builds the wheel, installs it into a fresh venv, and in a temporary folder
holding a copy of ``pipelines/`` validates them and runs one job against the embedded default
(reference ERP and sandbox store started from the installed package).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.support.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


# Installing the wheel's dependencies into a fresh venv takes a minute or more.
@pytest.mark.slow
def test_the_wheel_installed_alone_validates_and_runs_a_job(tmp_path: Path) -> None:
    # From a clean copy: pip builds in the source tree, and a stale build/ there could lend
    # the wheel files its configuration would leave out.
    source = tmp_path / "source"
    source.mkdir()
    for part in ("pyproject.toml", "setup.py", "README.md", "runner", "connectors", "schemas"):
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, source / part,
                            ignore=shutil.ignore_patterns("__pycache__"))
        elif (ROOT / part).exists():
            shutil.copy(ROOT / part, source / part)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", source, "-w",
         tmp_path / "dist", cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("commerce_sync-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for schema in ("pipeline", "project", "pipeline-v1"):  # v2 files, project.yaml, v1 files
        assert f"runner/schemas/{schema}.schema.json" in names
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "pipelines", project / "pipelines")
    cs = venv / "bin" / "commerce-sync"
    checked = _run(cs, "validate", "pipelines", cwd=project)
    assert "5 files, 0 errors" in checked.stderr
    _run(cs, "demo-data", "--products", "50", cwd=project)
    port = free_port()
    sandbox = subprocess.Popen([cs, "sandbox", "--port", str(port), "--data", "var/sandbox.db"],
                               cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/products", timeout=2)
                break
            except httpx.HTTPError:
                assert sandbox.poll() is None and time.monotonic() < deadline, "no sandbox"
                time.sleep(0.2)
        ran = _run(cs, "run", "delivery-and-stores", cwd=project,
                   COMMERCE_URL=f"http://127.0.0.1:{port}")
        assert "delivery-and-stores: succeeded" in ran.stdout
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
