"""The verifying TLS context of the http connector, made on the first TLS connection.

httpx's context (``httpx.create_ssl_context()``: the CA bundle of ``SSL_CERT_FILE``,
``SSL_CERT_DIR`` or certifi) takes ~30 ms to load, and was made when a client was: every run
paid for it, though an API reached over plain ``http://`` (a store on the LAN, the sandbox,
the benchmarks) never verifies a certificate. httpcore touches its ``ssl_context`` only to open
a TLS connection (``set_alpn_protocols``, ``wrap_socket``, ``wrap_bio``), so a stand-in that
makes httpx's own context on the first such use, and hands every attribute to it, changes
nothing else: one context per process, shared by every client, as before.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from typing import Any

from runner.errors import FatalError

__all__ = ["LazyVerifyingContext"]


def _httpx_context() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()


class LazyVerifyingContext:
    """Stands for the ``ssl.SSLContext`` that ``make`` returns, made on first use."""

    def __init__(self, make: Callable[[], ssl.SSLContext] = _httpx_context) -> None:
        self._make = make
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    @property
    def made(self) -> bool:
        return self._context is not None

    def context(self) -> ssl.SSLContext:
        if self._context is None:
            with self._lock:  # two writer threads may open their first connections together
                if self._context is None:
                    try:
                        self._context = self._make()
                    except (OSError, ValueError) as exc:
                        # Said here: raised inside httpcore, an OSError would pass for a
                        # connection failure and be retried.
                        raise FatalError(
                            f"the CA certificates that verify TLS could not be loaded ({exc}); "
                            "check SSL_CERT_FILE and SSL_CERT_DIR"
                        ) from exc
        return self._context

    def __getattr__(self, name: str) -> Any:
        return getattr(self.context(), name)
