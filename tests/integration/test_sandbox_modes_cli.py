"""``commerce-sync sandbox`` with the real-store flags, run as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.loopback import free_port, wait_for_health

CLI = str(Path(sys.executable).with_name("commerce-sync"))


@contextmanager
def sandbox(tmp_path: Path, *flags: str) -> Iterator[httpx.Client]:
    """``commerce-sync sandbox FLAGS`` in its own process, as a user starts it; a client to
    it; on leaving, Ctrl-C, which must end it cleanly."""
    port = free_port()
    process = subprocess.Popen(
        [CLI, "sandbox", "--port", str(port), "--data", str(tmp_path / "s.db"),
         "--api-key", "flag-key", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process)
        with httpx.Client(base_url=url, headers={"X-API-Key": "flag-key"}) as client:
            yield client
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr


def test_flags_switch_the_real_store_behaviours_on(tmp_path: Path) -> None:
    with sandbox(tmp_path, "--create", "always", "--errors-in-200", "--rate-fixed", "1000/60",
                 "--rate-leaky", "40:2", "--rate-cost", "1000:50") as api:
        settings = api.get("/v1/_admin/faults").json()
        assert settings["create"] == "always" and settings["errors_in_200"] is True
        assert settings["rate"] == {
            "fixed": {"requests": 1000, "window_s": 60.0},
            "leaky": {"limit": 40, "leak_per_s": 2.0},
            "cost": {"maximum": 1000, "restore_per_s": 50.0},
        }
        record = {"sku": "A", "title": "A", "price": 1}
        made = [api.post("/v1/products", json=record) for _ in range(2)]
        assert [r.status_code for r in made] == [201, 201]
        assert made[1].headers["X-RateLimit-Limit"] == "40"
        refused = api.post("/v1/products", json={**record, "title": "REFUSE: no"})
        assert refused.status_code == 200 and refused.json()["errors"]


def test_rate_shopify_is_the_leaky_bucket_with_shopify_s_header(tmp_path: Path) -> None:
    with sandbox(tmp_path, "--rate-shopify", "40:2") as api:
        settings = api.get("/v1/_admin/faults").json()
        assert settings["rate"]["leaky"] == {"limit": 40, "leak_per_s": 2.0, "headers": "shopify"}
        answer = api.get("/v1/stores")
        assert answer.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")
        assert "X-RateLimit-Limit" not in answer.headers


def test_a_malformed_rate_flag_is_a_configuration_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "sandbox", "--port", str(free_port()), "--data", str(tmp_path / "s.db"),
         "--rate-cost", "lots"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--rate-cost wants MAXIMUM:RESTORE_PER_S like 40:2, got 'lots'" in done.stderr
    assert "Traceback" not in done.stderr


def test_one_bucket_is_told_one_way(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "sandbox", "--port", str(free_port()), "--data", str(tmp_path / "s.db"),
         "--rate-leaky", "40:2", "--rate-shopify", "40:2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--rate-leaky and --rate-shopify are one bucket; give one" in done.stderr
    assert "Traceback" not in done.stderr
