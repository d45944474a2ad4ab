"""The http connector's TLS context is made on its first TLS connection (connectors.http.tls):
a plain http:// API never loads the CA bundle (~30 ms of every run's start), an https:// one
is verified exactly as before. Loopback servers in threads, a certificate made by openssl."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import connectors.http.client as client_module
from connectors.api import ConnectorContext, ReadRequest
from connectors.http import HttpConnector
from connectors.http.tls import LazyVerifyingContext
from runner.errors import FatalError


class _Items(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": [{"id": 1}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _server(cert: Path | None = None, key: Path | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Items)
    scheme = "http"
    if cert is not None and key is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def context() -> Iterator[LazyVerifyingContext]:
    # The process-wide context, made afresh for this test and dropped after it (another test
    # may have made it already; this one may make it trust a test certificate alone).
    client_module._ssl_context.cache_clear()
    made = client_module._ssl_context()
    assert isinstance(made, LazyVerifyingContext)
    yield made
    client_module._ssl_context.cache_clear()


def _read(base_url: str) -> list[object]:
    source = HttpConnector().open_source(
        {"base_url": base_url, "request": {"path": "/items"}, "retry": {"attempts": 1}},
        ConnectorContext(job="j", step="s"),
    )
    try:
        return list(source.read(ReadRequest()))
    finally:
        source.close()


def test_plain_http_never_loads_the_ca_bundle(context: LazyVerifyingContext) -> None:
    with _server() as url:
        assert _read(url) == [{"id": 1}]
    assert not context.made


def test_https_is_verified_against_the_trusted_certificates(
    context: LazyVerifyingContext, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx's context trusts this file alone
    with _server(cert, key) as url:
        assert _read(url) == [{"id": 1}]
    assert context.made
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_an_untrusted_certificate_is_still_refused(
    context: LazyVerifyingContext, certificate: tuple[Path, Path]
) -> None:
    with _server(*certificate) as url, pytest.raises(FatalError, match="could not be verified"):
        _read(url)


def test_a_ca_bundle_that_cannot_be_loaded_fails_the_read(
    context: LazyVerifyingContext,
    certificate: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with _server(*certificate) as url, pytest.raises(FatalError, match="CA certificates"):
        _read(url)
