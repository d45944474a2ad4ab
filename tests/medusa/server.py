"""A real Medusa 2 server for the tests: install (cached), database, migrate, admin, start, stop.

The Node project (``tests/medusa/app``: exact versions, a ``package-lock.json``) is copied to
``var/medusa-app`` (``.gitignore``d; ``COMMERCE_SYNC_MEDUSA_APP`` overrides the path) and
installed there once: a stamp holding the hash of the project files says the install is
current, so a second session reuses ``node_modules`` (~700 MB) instead of reinstalling.

Each session gets its own PostgreSQL database, migrated by ``medusa db:migrate``, its own admin
user and secret API key, and a server on a free port started in its own process group, so that
stopping it (SIGTERM to the group, then SIGKILL) also stops the workers it spawned.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
APP_SOURCE = Path(__file__).resolve().parent / "app"
APP_FILES = ("package.json", "package-lock.json", "medusa-config.ts", "tsconfig.json")
APP_DIR = Path(os.environ.get("COMMERCE_SYNC_MEDUSA_APP", REPO / "var" / "medusa-app"))
ADMIN_EMAIL = "admin@commerce-sync.test"
ADMIN_PASSWORD = "medusa-test-password"  # a throwaway admin of a throwaway database


class MedusaUnavailable(Exception):
    """Node/npm are missing or the install failed: the caller skips (or fails in CI)."""


def _project_hash() -> str:
    digest = hashlib.sha256()
    for name in APP_FILES:
        path = APP_SOURCE / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float, what: str) -> None:
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish in {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}):\n{tail}")


def install() -> tuple[Path, float]:
    """Install the Medusa project into APP_DIR unless the same files are installed already.
    Returns the app directory and the seconds spent (0 when the cache was current)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise MedusaUnavailable(f"{tool} is not on PATH; install Node.js 20+ and npm")
    APP_DIR.mkdir(parents=True, exist_ok=True)
    wanted = _project_hash()
    stamp = APP_DIR / ".commerce-sync-installed"
    # Two sessions at once (two worktrees sharing a cache path) must not run npm together.
    with open(APP_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted and (APP_DIR / "node_modules").is_dir():
            return APP_DIR, 0.0
        started = time.perf_counter()
        for name in APP_FILES:
            if (APP_SOURCE / name).exists():
                shutil.copyfile(APP_SOURCE / name, APP_DIR / name)
        lock_file = (APP_SOURCE / "package-lock.json").exists()
        cmd = ["npm", "ci" if lock_file else "install", "--no-audit", "--no-fund",
               "--loglevel=error"]
        try:
            _run(cmd, cwd=APP_DIR, env=dict(os.environ), timeout=1200, what="npm install")
        except RuntimeError as exc:
            raise MedusaUnavailable(str(exc)) from exc
        stamp.write_text(wanted)
        return APP_DIR, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MedusaServer:
    url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _medusa_env(database_url: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "NODE_ENV": "development",
        "MEDUSA_DISABLE_TELEMETRY": "true",
        "JWT_SECRET": "commerce-sync-test-jwt",
        "COOKIE_SECRET": "commerce-sync-test-cookie",
    })
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM to the server's process group, SIGKILL after ``grace`` seconds; returns once no
    process of the group is left (a worker outliving the server would hold ~500 MB)."""
    pgid = process.pid  # start_new_session: the server leads its own group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()
        if not _group_alive(pgid):
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    process.wait(timeout=10)
    for _ in range(50):
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    raise RuntimeError(f"processes of Medusa's group {pgid} survived SIGKILL")


@contextlib.contextmanager
def medusa_server(app_dir: Path, database_url: str, log_dir: Path) -> Iterator[MedusaServer]:
    """Migrate ``database_url``, create the admin, start the server and yield it; stop it
    (also on failure) when the block ends."""
    medusa = str(app_dir / "node_modules" / ".bin" / "medusa")
    port = free_port()
    env = _medusa_env(database_url, port)
    _run([medusa, "db:migrate"], cwd=app_dir, env=env, timeout=600, what="medusa db:migrate")
    _run([medusa, "user", "-e", ADMIN_EMAIL, "-p", ADMIN_PASSWORD], cwd=app_dir, env=env,
         timeout=300, what="medusa user")
    log_path = log_dir / "medusa-server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [medusa, "start", "--port", str(port)], cwd=app_dir, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = MedusaServer(f"http://127.0.0.1:{port}", database_url, process, log_path)
    try:
        _wait_healthy(server, timeout=180)
        yield server
    finally:
        stop(process)


def _wait_healthy(server: MedusaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"medusa start exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"medusa did not answer /health in {timeout:.0f} s:\n{server.log_tail()}")
