"""Run an ASGI app on a real uvicorn server on 127.0.0.1 in a background thread.

    with serve_app(app) as base_url:
        httpx.get(f"{base_url}/v1/products")
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: Any, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("loopback server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for_health(url: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    """Wait until the server ``process`` started answers ``GET url/healthz``; fail with its
    output if it exits first or does not answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}/healthz").raise_for_status()
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} did not start"
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
