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


def bench(products: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        cwd = Path(tmp)
        shutil.copytree(ROOT / "pipelines", cwd / "pipelines")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "COMMERCE_URL": url, "COMMERCE_API_KEY": KEY,
               "ERP_DATABASE_URL": f"sqlite:///{cwd / 'var' / 'erp.db'}",
               "COMMERCE_SYNC_STATE": str(cwd / "var" / "state.db")}
        made = _timed(["demo-data", "--products", str(products)], cwd, env)
        sandbox = subprocess.Popen(
            [EXE, "sandbox", "--port", str(port), "--data", str(cwd / "var" / "sandbox.db")],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        client.get("/healthz").raise_for_status()
                        break
                    except httpx.HTTPError:
                        if time.monotonic() > deadline:
                            sys.exit("the sandbox did not start")
                        time.sleep(0.2)
                first = _timed(["run", "complete-sync", "--force"], cwd, env)
                second = _timed(["run", "complete-sync", "--force"], cwd, env)
                held = {p: _count(client, p) for p in
                        ("/v1/products", "/v1/inventory", "/v1/prices", "/v1/delivery-modes")}
        finally:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(timeout=30)
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
