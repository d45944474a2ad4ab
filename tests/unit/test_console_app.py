"""The operations console on a real server over loopback, on a real SQLite state store.

Security first: a console bound off loopback refuses to start without a token, the token is
checked on every request, every POST needs the CSRF token, and neither a secret nor markup
planted in a record, a reason, an error or a job's description reaches a page unescaped.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.console import ConsoleOptions, ConsoleSource, check_bind, create_app
from runner.console.security import CSRF_COOKIE
from runner.errors import ConfigError, register_secret
from runner.project import load_project
from runner.state import open_state
from runner.state.base import BatchCommit, StateStore
from tests.support.loopback import serve_app

SECRET = "console-test-secret-9f2c41d7"
TOKEN = "console-token-0123456789abcdef"
XSS = "<script>alert('pwned')</script>"

PIPELINE = """\
version: 1
name: copy
description: "Copies items with key console-test-secret-9f2c41d7 and <b>bold</b> claims"
schedule: {{cron: "0 3 * * *"}}
freshness: {{max_age: 1h}}
steps:
  - name: items
    source: {{connector: jsonl, path: {src}}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
"""


@pytest.fixture()
def project(tmp_path: Path) -> object:
    (tmp_path / "src.jsonl").write_text('{"sku": "A", "name": "a"}\n')
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    (pipes / "copy.yaml").write_text(
        PIPELINE.format(src=tmp_path / "src.jsonl", dst=tmp_path / "out.jsonl"))
    loaded = load_project([str(pipes)])
    assert not loaded.errors, loaded.errors
    return loaded


@pytest.fixture()
def state(tmp_path: Path) -> Iterator[StateStore]:
    store = open_state(str(tmp_path / "state.db"))
    yield store
    store.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Client = Callable[..., httpx.Client]


@pytest.fixture()
def console(project: object, state: StateStore) -> Iterator[Client]:
    """``console(**options)``: a client of a console served on loopback with those options."""
    with ExitStack() as stack:
        def make(**options: object) -> httpx.Client:
            source = ConsoleSource(project=lambda: project, state=state, clock=_now)
            app = create_app(source, ConsoleOptions(**options))  # type: ignore[arg-type]
            url = stack.enter_context(serve_app(app))
            return stack.enter_context(httpx.Client(base_url=url, follow_redirects=True))

        yield make


def _csrf(client: httpx.Client) -> str:
    page = client.get("/")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match is not None
    assert client.cookies.get(CSRF_COOKIE) == match.group(1)
    return match.group(1)


def _plant(state: StateStore) -> None:
    """A failed run whose error holds the secret, and a quarantined record with a script."""
    register_secret(SECRET)
    run = state.begin_run("copy", "", "incremental")
    step = state.begin_run("copy", "items", "incremental")
    record = {"sku": "B", "title": XSS, "note": f"token {SECRET}"}
    state.commit_batch(BatchCommit(run_id=step, job="copy", step="items", entity="items",
                                   quarantine=[(("B",), record, f"title refused: {XSS}")]))
    state.finish_run(step, "failed", f"destination said {XSS} to key {SECRET}")
    state.finish_run(run, "failed", f"step items failed: {XSS}")


# --- binding ---------------------------------------------------------------------------------
def test_loopback_needs_no_token_and_other_addresses_do() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    with pytest.raises(ConfigError, match="COMMERCE_SYNC_CONSOLE_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match="COMMERCE_SYNC_CONSOLE_TOKEN"):
        check_bind("console.example.com", None)
    with pytest.raises(ConfigError, match="shorter than"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", TOKEN)


def test_serve_off_loopback_without_a_token_exits_2_with_the_fix(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COMMERCE_SYNC_CONSOLE_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "runner", "serve", str(tmp_path), "--state",
         str(tmp_path / "s.db"), "--console-port", "1", "--console-host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "--console-host 0.0.0.0" in done.stderr
    assert "COMMERCE_SYNC_CONSOLE_TOKEN" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s.db").exists()  # refused before anything started


def test_without_a_token_only_loopback_names_are_answered(console: Client) -> None:
    client = console()
    for host in ("127.0.0.1:8080", "localhost", "[::1]:9000"):
        assert client.get("/", headers={"host": host}).status_code == 200, host
    # DNS rebinding: another site's name pointed at 127.0.0.1 arrives with that name.
    rebound = client.get("/", headers={"host": "evil.example:8080"})
    assert rebound.status_code == 421 and "COMMERCE_SYNC_CONSOLE_TOKEN" in rebound.text
    assert console(token=TOKEN).get(
        "/", headers={"host": "console.example", "authorization": f"Bearer {TOKEN}"}
    ).status_code == 200


# --- token -------------------------------------------------------------------------------------
def test_with_a_token_every_request_must_carry_it(console: Client, state: StateStore) -> None:
    client = console(token=TOKEN)
    assert client.get("/", headers={"accept": "text/html"}, follow_redirects=False) \
        .headers["location"] == "/login"
    assert client.get("/quarantine").status_code == 401
    assert client.get("/jobs/copy", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.post("/jobs/copy/run").status_code == 401  # before any CSRF question


def test_the_login_form_sets_a_cookie_that_is_not_the_token(
    console: Client, state: StateStore
) -> None:
    client = console(token=TOKEN)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    wrong = client.post("/login", data={"csrf": csrf, "token": "not-the-token-at-all"})
    assert wrong.status_code == 401 and "not this console" in wrong.text
    assert client.post("/login", data={"token": TOKEN}).status_code == 403  # no CSRF token
    ok = client.post("/login", data={"csrf": csrf, "token": TOKEN}, follow_redirects=False)
    assert ok.status_code == 303
    assert TOKEN not in ok.headers["set-cookie"]
    assert client.get("/").status_code == 200


# --- CSRF and actions ----------------------------------------------------------------------------
def test_run_now_without_or_with_a_wrong_csrf_token_is_403_and_triggers_nothing(
    console: Client, state: StateStore
) -> None:
    client = console()
    good = _csrf(client)
    assert client.post("/jobs/copy/run").status_code == 403
    assert client.post("/jobs/copy/run", data={"csrf": good + "x"}).status_code == 403
    client.cookies.clear()  # a forged form from another site: the browser has no cookie to pair
    assert client.post("/jobs/copy/run", data={"csrf": good}).status_code == 403
    assert state.take_triggers() == []


def test_run_now_with_the_csrf_token_asks_the_scheduler(
    console: Client, state: StateStore
) -> None:
    client = console()
    done = client.post("/jobs/copy/run", data={"csrf": _csrf(client)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/jobs/copy?")
    assert state.take_triggers() == ["copy"]
    assert "Run requested" in client.get(done.headers["location"]).text
    assert client.post("/jobs/nope/run", data={"csrf": _csrf(client)}).status_code == 404


def test_drop_removes_the_record_and_read_only_refuses_actions(
    console: Client, state: StateStore
) -> None:
    _plant(state)
    [rec] = state.quarantine_list("copy")
    read_only = console(read_only=True)
    page = read_only.get("/quarantine").text
    assert "<form" not in page and "<button" not in page and "Read-only" in page
    paired = read_only.cookies.get(CSRF_COOKIE)  # a valid CSRF token: read-only still refuses
    refused = read_only.post(f"/quarantine/{rec.id}/drop", data={"csrf": paired})
    assert refused.status_code == 403 and "read-only" in refused.text
    assert state.quarantine_count("copy") == 1
    client = console()
    done = client.post(f"/quarantine/{rec.id}/drop", data={"csrf": _csrf(client)})
    assert "Dropped" in done.text and state.quarantine_count("copy") == 0


# --- what pages show -----------------------------------------------------------------------------
def test_no_secret_and_no_markup_from_data_reaches_any_page_unescaped(
    console: Client, state: StateStore
) -> None:
    _plant(state)
    client = console()
    pages = {path: client.get(path) for path in
             ("/", "/jobs/copy", "/quarantine", "/quarantine?job=copy&step=items")}
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert SECRET not in page.text, path
        assert "<script>alert" not in page.text, path
        assert "<b>bold</b>" not in page.text, path
    job_page = pages["/jobs/copy"].text
    assert "&lt;b&gt;bold&lt;/b&gt;" in job_page and "key *** and" in job_page
    assert "destination said &lt;script&gt;" in job_page
    quarantine = pages["/quarantine"].text
    assert "&#34;title&#34;: &#34;&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;&#34;" \
        in quarantine
    assert "token ***" in quarantine
    csp = pages["/"].headers["content-security-policy"]
    assert "script-src 'nonce-" in csp and "unsafe-inline" not in csp


def test_overview_shows_outcome_counts_and_freshness_in_words(
    console: Client, state: StateStore
) -> None:
    client = console()
    never = client.get("/").text
    assert "STALE: never synced successfully (objective 1h)" in never
    run = state.begin_run("copy", "", "incremental")
    step = state.begin_run("copy", "items", "incremental")
    state.commit_batch(BatchCommit(run_id=step, job="copy", step="items", entity="items",
                                   hashes={("A",): "h"}))
    state.finish_run(step, "succeeded")
    state.finish_run(run, "succeeded")
    slot = dt.datetime(2026, 1, 1, 3, tzinfo=dt.UTC)
    assert state.try_claim("copy", slot, "runner-a", 60.0)
    state.release_claim("copy", slot, "runner-a", "succeeded")
    page = client.get("/").text
    assert 'class="badge ok freshness">fresh: data is' in page
    assert 'class="badge succeeded">succeeded' in page
    history = client.get("/jobs/copy").text
    assert f"Run {run}" in history and "<th scope=\"row\">items</th>" in history


def test_the_lease_holder_is_shown(console: Client, state: StateStore) -> None:
    slot = dt.datetime(2026, 1, 1, 3, tzinfo=dt.UTC)
    assert state.try_claim("copy", slot, "runner-b@host-2", 600.0)
    client = console()
    assert "runner-b@host-2" in client.get("/").text
    assert "held by runner-b@host-2 until" in client.get("/jobs/copy").text


def test_an_unknown_job_is_a_404_page_that_says_where_to_go(
    console: Client, state: StateStore
) -> None:
    page = console().get("/jobs/%3Cscript%3E")
    assert page.status_code == 404 and "no job named" in page.text
    assert "<script>" not in page.text


@dataclass(frozen=True)
class _Duplicate:  # the fields of the audit's DuplicateReport
    job: str
    entity: str
    key: tuple[str, ...]
    ids: tuple[str, ...]
    kept: str
    found_at: dt.datetime


class _StoreWithDuplicates:
    """The SQLite store plus the audit's ``duplicates_list`` (a store method being added on
    main): the job page shows the report only where the store keeps one."""

    def __init__(self, store: StateStore, found: list[_Duplicate]) -> None:
        self._store, self._found = store, found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def duplicates_list(self, job: str | None = None) -> list[_Duplicate]:
        return [d for d in self._found if job is None or d.job == job]


def test_duplicates_are_shown_only_where_the_store_reports_them(
    project: object, state: StateStore
) -> None:
    found = [_Duplicate("copy", "items", ("A",), ("p-1", "p-<9>"), "p-1", _now())]
    pages = []
    for store in (state, _StoreWithDuplicates(state, found), _StoreWithDuplicates(state, [])):
        source = ConsoleSource(project=lambda: project, state=store, clock=_now)  # type: ignore[arg-type]
        with serve_app(create_app(source)) as url:
            pages.append(httpx.get(url + "/jobs/copy").text)
    plain, reported, empty = pages
    assert "held more than once" not in plain and "held more than once" not in empty
    assert "Keys the destination holds more than once" in reported
    assert "<td>A</td><td>p-1, p-&lt;9&gt;</td>" in reported


@dataclass(frozen=True)
class _StepAuditRow:  # the fields of an audit's StepAudit that the state records
    job: str
    step: str
    status: str
    drift: int
    counts: dict[str, int]
    repaired: dict[str, int]
    error: str | None = None


def test_the_job_page_shows_its_last_audit(console: Client, state: StateStore) -> None:
    from runner.state.audits import record_audits

    assert "never audited" in console().get("/jobs/copy").text
    record_audits(state, [_StepAuditRow("copy", "items", "drift", 3, {"differs": 3}, {})],
                  repaired=False)
    page = console().get("/jobs/copy").text
    assert "3 drifted records" in page and "never audited" not in page
