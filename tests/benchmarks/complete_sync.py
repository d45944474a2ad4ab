"""Wall time of a forced complete sync, as a user runs it, at a given catalogue size.

    /work/venv/bin/python tests/benchmarks/complete_sync.py [PRODUCTS ...]   # default 10000

For each size, in a fresh temporary folder with a copy of ``pipelines/``:

    commerce-sync demo-data --products N
    commerce-sync sandbox --port P &              # a separate process, as in production
    commerce-sync run complete-sync --force       # timed: first run, empty store and state
    commerce-sync run complete-sync --force       # timed: second run, everything in place

Prints the wall time of each command, the records the store holds afterwards and records per
second. It does not pass or fail on time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("commerce-sync"))
KEY = "bench-key"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"`commerce-sync {' '.join(args)}` exited {done.returncode}:\n"
                 f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return elapsed


def _count(client: httpx.Client, path: str) -> int:
    total, params = 0, {"limit": 1000}
    while True:
        page = client.get(path, params=params).raise_for_status().json()
        total += len(page["data"])
        if not page.get("next_cursor"):
            return total
        params["cursor"] = page["next_cursor"]


@dataclass
class Project:
    """A copy of ``pipelines/`` in a temporary folder, its environment, and the sandbox URL."""

    cwd: Path
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def project(prefix: str) -> Iterator[Project]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        cwd = Path(tmp)
        shutil.copytree(ROOT / "pipelines", cwd / "pipelines")
        port = _free_port()
        env = {**os.environ, "COMMERCE_URL": f"http://127.0.0.1:{port}", "COMMERCE_API_KEY": KEY,
               "ERP_DATABASE_URL": f"sqlite:///{cwd / 'var' / 'erp.db'}",
               "COMMERCE_SYNC_STATE": str(cwd / "var" / "state.db")}
        yield Project(cwd, env, port)


@contextmanager
def sandbox(proj: Project, timeout: float = 60) -> Iterator[httpx.Client]:
    """``commerce-sync sandbox`` in its own process (as in production), once it answers."""
    server = subprocess.Popen(
        [EXE, "sandbox", "--port", str(proj.port), "--data", str(proj.cwd / "var" / "sandbox.db")],
        cwd=proj.cwd, env=proj.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=proj.url, headers={"X-API-Key": KEY},
                          timeout=timeout) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/healthz").raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        sys.exit("the sandbox did not start")
                    time.sleep(0.2)
            yield client
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def bench(products: int) -> None:
    with project("cs-bench-") as proj:
        cwd, env = proj.cwd, proj.env
        made = _timed(["demo-data", "--products", str(products)], cwd, env)
        with sandbox(proj) as client:
            first = _timed(["run", "complete-sync", "--force"], cwd, env)
            second = _timed(["run", "complete-sync", "--force"], cwd, env)
            held = {p: _count(client, p) for p in
                    ("/v1/products", "/v1/inventory", "/v1/prices", "/v1/delivery-modes")}
    records = sum(held.values())
    parts = ", ".join(f"{path.rsplit('/', 1)[1]} {n}" for path, n in held.items())
    print(f"products={products:>7}  demo-data {made:6.1f}s  "
          f"complete-sync --force: first {first:6.1f}s, second {second:6.1f}s  "
          f"store holds {records} records "
          f"({parts})  "
          f"first run {records / first:,.0f} records/s", flush=True)


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [10_000]
    for n in sizes:
        bench(n)


if __name__ == "__main__":
    main(sys.argv[1:])
