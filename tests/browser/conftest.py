"""Headless Chromium for the console's browser tests, and a whole deployment to point it at.

Selenium drives Debian's ``chromium`` through Debian's ``chromium-driver``: the two come from
one source package, so their versions always match, and nothing is downloaded at test time
(Playwright would want its own browser build, which is not available here). Absent browser:
skip with the reason, or fail under ``COMMERCE_SYNC_REQUIRE_SERVERS=1`` as CI sets.

The deployment is real: the reference ERP (SQLite), the sandbox store on loopback in a thread,
and ``commerce-sync serve --console-port`` as a subprocess, as a user runs it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.demo.erp import create_erp
from runner.demo.sandbox import create_app as sandbox_app
from tests.support.loopback import free_port, serve_app

REQUIRED = os.environ.get("COMMERCE_SYNC_REQUIRE_SERVERS") == "1"
ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = Path(os.environ.get("COMMERCE_SYNC_ARTEFACTS", ROOT / "var" / "artefacts")) / "console"
KEY = "browser-test-sandbox-key"
PLANTED_NAME = "Studio Monitor <script>window.__pwned = 1</script>"

# A job with a freshness objective that nothing ever runs: the console must flag it stale.
STALE_JOB = """\
version: 1
name: supplier-feed
description: Supplier price list, expected hourly; never run in this test.
freshness: {{max_age: 1h}}
steps:
  - name: prices
    source: {{connector: jsonl, path: {src}}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
"""


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _unavailable("headless Chromium is not installed: apt-get install chromium "
                     "chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed: pip install -e '.[browser]'")
    options = Options()
    options.binary_location = str(chromium)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@dataclass
class Deployment:
    url: str  # the console
    store_url: str  # the sandbox store
    erp: Path
    state: Path
    bad_item: str  # the product whose price the ERP holds as '12,50'

    def erp_execute(self, sql: str, *params: Any) -> None:
        with closing(sqlite3.connect(self.erp, timeout=10)) as conn, conn:
            conn.execute(sql, params)

    def store_product(self, sku: str) -> dict[str, Any] | None:
        page = httpx.get(f"{self.store_url}/v1/products", params={"limit": 1000},
                         headers={"X-API-Key": KEY}, timeout=10).json()
        return next((p for p in page["data"] if p["sku"] == sku), None)


def _wait(what: str, ready: Callable[[], bool], proc: subprocess.Popen[str],
          timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"serve exited {proc.returncode} before {what}:\n{err[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("console")
    erp = tmp / "erp.db"
    create_erp(erp, products=12, seed=7, sell_online_ratio=1.0)
    with closing(sqlite3.connect(erp)) as conn, conn:
        [bad_item] = conn.execute("SELECT MIN(item_id) FROM products").fetchone()
        conn.execute("UPDATE products SET name = ?, list_price = '12,50' WHERE item_id = ?",
                     (PLANTED_NAME, bad_item))
    pipes = tmp / "pipelines"
    pipes.mkdir()
    for name in ("project.yaml", "delivery-and-stores.yaml", "inventory.yaml"):
        shutil.copy(ROOT / "pipelines" / name, pipes / name)
    (tmp / "supplier.jsonl").write_text('{"sku": "S1", "price": 1}\n')
    (pipes / "supplier-feed.yaml").write_text(
        STALE_JOB.format(src=tmp / "supplier.jsonl", dst=tmp / "out.jsonl"))
    with serve_app(sandbox_app(str(tmp / "sandbox.db"), KEY)) as store_url:
        port = free_port()
        env = {**os.environ, "ERP_DATABASE_URL": f"sqlite:///{erp}",
               "COMMERCE_URL": store_url, "COMMERCE_API_KEY": KEY}
        env.pop("COMMERCE_SYNC_CONSOLE_TOKEN", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "--log-format", "json", "serve", str(pipes),
             "--state", str(tmp / "state.db"), "--console-port", str(port)],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait("the console answers", lambda: _answers(url + "/"), proc)
            yield Deployment(url, store_url, erp, tmp / "state.db", bad_item)
        finally:
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


@pytest.fixture()
def shoot(browser: Any, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """Save a screenshot as a test artefact and print where it went."""

    def take(name: str, element: Any = None) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{request.node.name}-{name}.png"
        if element is not None:  # just that element: a tight picture for the docs
            element.screenshot(str(path))
        else:
            browser.save_screenshot(str(path))
        print(f"screenshot: {path}")
        return path

    return take
