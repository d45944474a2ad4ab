"""Issue #8, security: secrets given through the environment never appear in logs (every level,
JSON included), error messages, ``plan`` output, the state store's bytes or quarantine records;
values from records and configuration never change an SQL statement's structure; the sandbox
refuses requests without a valid key; TLS verification stays on unless a pipeline says
``verify_tls: false``, which logs a warning."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from runner.demo.sandbox import create_app
from tests.robustness.harness import PIPELINES, World, world
from tests.support.loopback import free_port

API_SECRET = "sk_live_R0bust-9f2c7e1a44b3"
WRONG_SECRET = "sk_live_Wr0ng-5d8e0c3b2a91"
PG_PASSWORD = "pgPW-s3cr3t-6a1f9e"
ENGINE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"


def _assert_clean(where: str, text: str | bytes, *secrets: str) -> None:
    for secret in secrets:
        needle = secret.encode() if isinstance(text, bytes) else secret
        assert needle not in text, f"{secret[:6]}... leaked into {where}"


def _state_bytes(w: World) -> bytes:
    base = Path(w.env()["COMMERCE_SYNC_STATE"])
    return b"".join(p.read_bytes() for p in base.parent.glob(base.name + "*"))


def _with_password(url: str, password: str) -> str:
    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


def test_secrets_stay_out_of_logs_errors_plan_state_and_quarantine(
    tmp_path: Path, pg_database: str
) -> None:
    with world(tmp_path, products=30, seed=2, api_key=API_SECRET) as w:
        # A record that carries the key (oversized, so it is quarantined with its source row).
        item = w.erp_query("SELECT item_id FROM products WHERE sell_online = 1 LIMIT 1")[0][0]
        with sqlite3.connect(w.erp) as conn:
            conn.execute("UPDATE products SET name = ? WHERE item_id = ?",
                         (f"leaky {API_SECRET} " + "x" * 300, item))
        seen: list[tuple[str, str | bytes]] = []

        # Every level, JSON logs, a fresh process (the runs after it go through the entry point
        # in this process: their secrets differ from those of any other test here).
        done = w.cli("--log-level", "DEBUG", "--log-format", "json", "run", "complete-sync",
                     "--force")
        assert done.returncode == 3, done.stderr  # finished, the oversized record set aside
        assert '"level"' in done.stderr or "{" in done.stderr
        seen += [("json debug run stdout", done.stdout), ("json debug run stderr", done.stderr)]
        text = w.run("--log-level", "DEBUG", "run", "inventory")
        seen += [("text debug run", text.stdout + text.stderr)]

        for fmt in ("text", "json"):
            plan = w.run("--log-level", "DEBUG", "plan", "inventory", "--full", "--format", fmt)
            assert plan.returncode == 0, plan.stderr
            seen.append((f"plan {fmt}", plan.stdout + plan.stderr))

        quarantine = w.run("quarantine", "list", "--format", "json")
        assert item in quarantine.stdout, quarantine.stdout
        seen.append(("quarantine list", quarantine.stdout + quarantine.stderr))
        for entry_id in json.loads(quarantine.stdout):
            shown = w.run("quarantine", "show", str(entry_id["id"]))
            seen.append(("quarantine show", shown.stdout + shown.stderr))

        # The store refuses a wrong key: the error names the problem, not the key.
        refused = w.run("--log-level", "DEBUG", "run", "inventory", "--full",
                        COMMERCE_API_KEY=WRONG_SECRET)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "401" in refused.stderr, refused.stderr
        seen.append(("refused run", refused.stdout + refused.stderr))

        # State on PostgreSQL, with a password in the URL: logs and history stay clean, and
        # so does the error when the database is wrong.
        pg = _with_password(pg_database, PG_PASSWORD)
        on_pg = w.run("--log-level", "DEBUG", "--log-format", "json", "run", "inventory",
                      COMMERCE_SYNC_STATE=pg)
        assert on_pg.returncode == 3, on_pg.stderr  # a fresh state: the record set aside again
        seen.append(("pg state run", on_pg.stdout + on_pg.stderr))
        history = w.run("history", "--format", "json", COMMERCE_SYNC_STATE=pg)
        seen.append(("pg history", history.stdout + history.stderr))
        missing_db = sa.make_url(pg).set(database=f"nope_{uuid.uuid4().hex[:6]}")
        broken = w.run("--log-level", "DEBUG", "run", "inventory",
                       COMMERCE_SYNC_STATE=missing_db.render_as_string(hide_password=False))
        assert broken.returncode != 0
        assert "Traceback" not in broken.stderr
        seen.append(("pg error", broken.stdout + broken.stderr))

        seen.append(("state bytes", _state_bytes(w)))
        for where, text_or_bytes in seen:
            _assert_clean(where, text_or_bytes, API_SECRET, WRONG_SECRET, PG_PASSWORD)
        print(f"secrets: {len(seen)} outputs grepped for 3 secrets, none found")


def test_sandbox_refuses_requests_without_a_valid_key(tmp_path: Path) -> None:
    with world(tmp_path, products=5, api_key=API_SECRET) as w:
        for headers in ({}, {"X-API-Key": WRONG_SECRET}, {"X-API-Key": ""},
                        {"Authorization": f"Bearer {WRONG_SECRET}"},
                        {"Authorization": API_SECRET}):
            for method, path in (("GET", "/v1/products"), ("POST", "/v1/products/batch"),
                                 ("PUT", "/v1/_admin/faults"), ("GET", "/v1/orders")):
                reply = httpx.request(method, w.url + path, headers=headers, json={})
                assert reply.status_code == 401, (headers, method, path, reply.status_code)
                assert API_SECRET not in reply.text
        for headers in ({"X-API-Key": API_SECRET}, {"Authorization": f"Bearer {API_SECRET}"}):
            assert httpx.get(w.url + "/v1/products", headers=headers).status_code == 200


INJECTIONS = [
    "Robert'); DROP TABLE sales_orders; --",
    "x' OR '1'='1",
    '"; DELETE FROM sales_order_lines; --',
    "1; UPDATE products SET sell_online = 0",
    "\\'; SELECT pg_sleep(5); --",
    "O'Brien ``backtick`` $$dollar$$ %s %(x)s ?",
]


def test_injection_strings_in_orders_land_verbatim_in_sqlite(tmp_path: Path) -> None:
    rng = random.Random(4)
    with world(tmp_path, products=30, seed=4) as w:
        assert w.run("run", "complete-sync", "--force").returncode == 0
        placed = w.place_orders(len(INJECTIONS), rng)
        for order, evil in zip(placed, INJECTIONS, strict=True):

            def inject(doc: dict[str, Any], evil: str = evil) -> None:
                doc["customer"]["name"] = evil
                doc["shipping_address"]["line1"] = evil
                doc["number"] = evil

            w.tamper_order(order["id"], inject)
        done = w.run("run", "online-orders")
        assert done.returncode == 0, done.stdout + done.stderr
        assert w.verify_orders(placed) == len(INJECTIONS)
        got = w.erp_query("SELECT customer_name, delivery_street, store_order_number "
                          "FROM sales_orders ORDER BY sales_order_id")
        assert got == [(e, e, e) for e in INJECTIONS]
        selected = w.erp_query("SELECT count(*) FROM products WHERE sell_online = 1")[0][0]
        assert selected > 0


@pytest.mark.postgres
def test_injection_strings_in_keys_and_fields_land_verbatim_in_postgresql(
    tmp_path: Path, pg_database: str
) -> None:
    table = f"inj_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (sku TEXT PRIMARY KEY, title TEXT NOT NULL,"
                             " price NUMERIC)"))
    erp = tmp_path / "erp.db"
    with sqlite3.connect(erp) as conn:
        conn.execute("CREATE TABLE items (item_id TEXT PRIMARY KEY, name TEXT, "
                     "list_price NUMERIC, sell_online INTEGER, modified_at TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?, 1, '2024-05-01 10:00:00')",
                         [(evil, evil[::-1], 10 + i) for i, evil in enumerate(INJECTIONS)])
    folder = tmp_path / "pipelines"
    folder.mkdir()
    text = (ENGINE_FIXTURES / "products.yaml").read_text()
    (folder / "products.yaml").write_text(text.replace("table: shop_products", f"table: {table}"))
    env = {"ERP_URL": f"sqlite:///{erp}", "SHOP_URL": pg_database}
    w = World(tmp=tmp_path, url="http://127.0.0.1:9", gate=None, counter=None)  # type: ignore[arg-type]
    w.extra_env.update(COMMERCE_SYNC_PIPELINES=str(folder), **env)
    for _ in range(2):  # the second run updates nothing, but reads its keys back
        done = w.run("run", "products")
        assert done.returncode == 0, done.stdout + done.stderr
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT sku, title, price FROM {table} ORDER BY sku"))
        got = sorted((r[0], r[1], float(r[2])) for r in rows)
    engine.dispose()
    assert got == sorted((e, e[::-1], float(10 + i)) for i, e in enumerate(INJECTIONS))


@contextmanager
def _tls_sandbox(tmp: Path, api_key: str) -> Iterator[str]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    config = uvicorn.Config(create_app(str(tmp / "tls-sandbox.db"), api_key), host="127.0.0.1",
                            port=port, log_level="warning", lifespan="off",
                            ssl_certfile=str(cert), ssl_keyfile=str(key))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "TLS sandbox did not start"
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_tls_is_verified_unless_the_pipeline_turns_it_off(tmp_path: Path) -> None:
    with world(tmp_path, products=5) as w, _tls_sandbox(tmp_path, w.api_key) as https:
        ctx = ssl.create_default_context()
        with pytest.raises(httpx.ConnectError):
            httpx.get(https + "/healthz", verify=ctx)
        strict = w.run("run", "delivery-and-stores", COMMERCE_URL=https)
        assert strict.returncode == 1, strict.stdout + strict.stderr
        assert "TLS certificate of 127.0.0.1 could not be verified" in strict.stderr, \
            strict.stderr
        assert "http.tls_verification_disabled" not in strict.stderr

        folder = tmp_path / "insecure"
        folder.mkdir()
        # The store connection is shared, in project.yaml (pipeline language v2).
        shutil.copyfile(PIPELINES / "delivery-and-stores.yaml", folder / "delivery-and-stores.yaml")
        text = (PIPELINES / "project.yaml").read_text()
        marker = "header: X-API-Key}\n"
        assert marker in text
        (folder / "project.yaml").write_text(
            text.replace(marker, marker + "    verify_tls: false\n"))
        insecure = w.run("run", "delivery-and-stores", COMMERCE_URL=https,
                         COMMERCE_SYNC_PIPELINES=str(folder))
        assert insecure.returncode == 0, insecure.stdout + insecure.stderr
        assert "WARNING" in insecure.stderr
        assert "http.tls_verification_disabled" in insecure.stderr
