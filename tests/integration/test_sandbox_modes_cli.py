"""``commerce-sync sandbox`` with the real-store flags, run as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.loopback import free_port, wait_for_health

CLI = str(Path(sys.executable).with_name("commerce-sync"))


def test_flags_switch_the_real_store_behaviours_on(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [CLI, "sandbox", "--port", str(port), "--data", str(tmp_path / "s.db"),
         "--api-key", "flag-key", "--create", "always", "--errors-in-200",
         "--rate-fixed", "1000/60", "--rate-leaky", "40:2", "--rate-cost", "1000:50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": "flag-key"}
    try:
        wait_for_health(url, process)
        settings = httpx.get(f"{url}/v1/_admin/faults", headers=headers).json()
        assert settings["create"] == "always" and settings["errors_in_200"] is True
        assert settings["rate"] == {
            "fixed": {"requests": 1000, "window_s": 60.0},
            "leaky": {"limit": 40, "leak_per_s": 2.0},
            "cost": {"maximum": 1000, "restore_per_s": 50.0},
        }
        record = {"sku": "A", "title": "A", "price": 1}
        made = [httpx.post(f"{url}/v1/products", json=record, headers=headers) for _ in range(2)]
        assert [r.status_code for r in made] == [201, 201]
        assert made[1].headers["X-RateLimit-Limit"] == "40"
        refused = httpx.post(f"{url}/v1/products", headers=headers,
                             json={**record, "title": "REFUSE: no"})  # fmt: skip
        assert refused.status_code == 200 and refused.json()["errors"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr


def test_rate_shopify_is_the_leaky_bucket_with_shopify_s_header(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [CLI, "sandbox", "--port", str(port), "--data", str(tmp_path / "s.db"),
         "--api-key", "flag-key", "--rate-shopify", "40:2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": "flag-key"}
    try:
        wait_for_health(url, process)
        settings = httpx.get(f"{url}/v1/_admin/faults", headers=headers).json()
        assert settings["rate"]["leaky"] == {"limit": 40, "leak_per_s": 2.0, "headers": "shopify"}
        answer = httpx.get(f"{url}/v1/stores", headers=headers)
        assert answer.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")
        assert "X-RateLimit-Limit" not in answer.headers
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr


def test_a_malformed_rate_flag_is_a_configuration_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "sandbox", "--port", str(free_port()), "--data", str(tmp_path / "s.db"),
         "--rate-cost", "lots"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--rate-cost wants MAXIMUM:RESTORE_PER_S like 40:2, got 'lots'" in done.stderr
    assert "Traceback" not in done.stderr
