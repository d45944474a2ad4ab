"""The console's HTTP server: uvicorn in a daemon thread of the ``serve`` process."""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from runner.errors import ConfigError

__all__ = ["ConsoleServer"]

log = logging.getLogger(__name__)


class ConsoleServer:
    """Binds at construction (so a taken port fails ``serve`` at startup, and port 0 gives a
    free one, read from :attr:`port`), serves after :meth:`start`."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ConfigError(
                f"--console-port {port}: cannot listen on {host}:{port} ({exc.strerror}); "
                "pick a free port, or 0 for any"
            ) from exc
        self._sock.listen(128)
        self.host = host
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="console",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> ConsoleServer:
        self._thread.start()
        log.info("console.listening", extra={"url": self.url})
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        deadline = time.monotonic() + timeout
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._sock.close()
