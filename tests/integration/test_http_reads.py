"""http source against a real uvicorn server over loopback: pagination, auth, failures."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from connectors.api import BadRecord, CursorWindow, ReadRequest
from connectors.http import HttpConnector
from connectors.testing import SourceConformance
from runner.errors import FatalError, RetryableError, RunFailed
from tests.support import http_testapp as t
from tests.support.retrier import FakeRetrier


def read_all(options: dict[str, Any], request: ReadRequest | None = None) -> list[Any]:
    source = t.open_http_source(options)
    try:
        return list(source.read(request or ReadRequest()))
    finally:
        source.close()


def ids(rows: list[Any]) -> list[int]:
    return [r["id"] for r in rows]


ALL_IDS = list(range(1, 24))


@pytest.mark.parametrize(
    ("path", "records", "pagination", "expected_requests"),
    [
        ("/v1/page-items", "data",
         {"type": "page", "param": "page", "size_param": "per_page", "size": 10}, 4),
        ("/v1/offset-items", "data", {"type": "offset", "limit": 6}, 5),
        ("/v1/cursor-items", "items", {"type": "cursor", "next_path": "meta.next_cursor"}, 4),
        ("/v1/link-items", "", {"type": "link"}, 5),
        ("/v1/next-items", "data", {"type": "next_url", "next_path": "links.next"}, 3),
    ],
)
def test_each_pagination_style_reads_every_record_once(
    api: tuple[str, t.ApiState], path: str, records: str, pagination: dict[str, Any],
    expected_requests: int,
) -> None:
    base, state = api
    rows = read_all({"base_url": base, "request": {"path": path}, "records": records,
                     "pagination": pagination})
    assert ids(rows) == ALL_IDS
    assert len(state.requests) == expected_requests


def test_cursor_param_is_sent_and_omitted_on_first_run(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = {"base_url": base, "records": "data",
               "request": {"path": "/v1/offset-items",
                           "params": {"updated_since": "{cursor}", "limit": 50}}}
    assert len(read_all(options)) == 23
    assert "updated_since" not in state.requests[0].query
    rows = read_all(options, ReadRequest(cursor=CursorWindow("updated_at", "2024-01-20")))
    assert rows and all(r["updated_at"] >= "2024-01-20" for r in rows)
    assert state.requests[-1].query["updated_since"] == "2024-01-20"


def test_graphql_query_pages_through_page_info(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    rows = read_all({"base_url": base, "graphql": {
        "query": "query($after: String) { orders(after: $after) { nodes { id } } }",
        "records": "data.orders.nodes", "page_info": "data.orders.pageInfo"}})
    assert ids(rows) == ALL_IDS
    assert [r.body["variables"].get("after") for r in state.requests] == [None, "8", "16"]


def test_graphql_errors_in_a_200_fail_the_read(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    with pytest.raises(FatalError, match="Cannot query field broken"):
        read_all({"base_url": base, "graphql": {"query": "{ broken }", "records": "data.x"}})


def test_next_link_to_another_host_is_refused(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    with pytest.raises(FatalError, match="another host"):
        read_all({"base_url": base, "request": {"path": "/v1/evil-next"},
                  "pagination": {"type": "next_url"}, "auth": {"type": "bearer",
                                                               "token": t.BEARER}})


def test_non_object_items_become_bad_records(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    state.items = [{"id": 1}, 5, {"id": 2}]  # type: ignore[list-item]
    rows = read_all({"base_url": base, "request": {"path": "/v1/link-items"}, "records": ""})
    assert [type(r) for r in rows] == [dict, BadRecord, dict]


# --- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        ("/v1/auth/bearer", {"type": "bearer", "token": t.BEARER}),
        ("/v1/auth/basic", {"type": "basic", "username": t.BASIC[0], "password": t.BASIC[1]}),
        ("/v1/auth/key", {"type": "api_key", "key": t.API_KEY}),
        ("/v1/auth/key", {"type": "api_key", "key": t.API_KEY, "query": "api_key"}),
    ],
)
def test_static_auth_styles(api: tuple[str, t.ApiState], path: str, auth: dict[str, Any]) -> None:
    base, _ = api
    assert len(read_all({"base_url": base, "request": {"path": path}, "auth": auth})) == 3


def test_wrong_credentials_fail_without_leaking_them(
    api: tuple[str, t.ApiState], caplog: pytest.LogCaptureFixture
) -> None:
    base, _ = api
    secret = "wrong-key-never-logged-31337"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalError) as info:
        read_all({"base_url": base, "request": {"path": "/v1/auth/key"},
                  "auth": {"type": "api_key", "key": secret, "query": "api_key"}})
    assert "401" in str(info.value) and "/v1/auth/key" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in caplog.text
    assert all(secret not in r.getMessage() and secret not in str(r.__dict__)
               for r in caplog.records)


def oauth_options(base: str) -> dict[str, Any]:
    return {"base_url": base, "request": {"path": "/v1/oauth/items"},
            "auth": {"type": "oauth2_client_credentials", "token_url": "/oauth/token",
                     "client_id": t.CLIENT_ID, "client_secret": t.CLIENT_SECRET}}


def test_oauth2_token_is_cached(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    source = t.open_http_source(oauth_options(base))
    try:
        for _ in range(3):
            assert len(list(source.read(ReadRequest()))) == 2
    finally:
        source.close()
    assert state.counters["tokens_issued"] == 1


def test_oauth2_token_refreshed_30s_before_expiry(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    state.token_lifetime = 30.3  # inside the 30 s refresh margin after 0.3 s
    source = t.open_http_source(oauth_options(base))
    try:
        list(source.read(ReadRequest()))
        time.sleep(0.4)
        list(source.read(ReadRequest()))
    finally:
        source.close()
    assert state.counters["tokens_issued"] == 2


def test_oauth2_token_refetched_once_on_401(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    source = t.open_http_source(oauth_options(base))
    try:
        list(source.read(ReadRequest()))
        state.tokens.clear()  # the server forgets every token: next call gets a 401
        assert len(list(source.read(ReadRequest()))) == 2
    finally:
        source.close()
    assert state.counters["tokens_issued"] == 2


def test_oauth2_bad_client_secret_is_fatal_and_masked(
    api: tuple[str, t.ApiState], caplog: pytest.LogCaptureFixture
) -> None:
    base, _ = api
    options = oauth_options(base)
    options["auth"]["client_secret"] = "bad-secret-4242-x"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalError, match="token request refused") as info:
        read_all(options)
    assert "bad-secret-4242-x" not in str(info.value) + caplog.text


@pytest.mark.parametrize("via", ["token_path", "token_header"])
def test_session_login_and_relogin_on_401(api: tuple[str, t.ApiState], via: str) -> None:
    base, state = api
    auth: dict[str, Any] = {
        "type": "session",
        "login": {"path": "/v1/login", "body": {"user": "sync", "password": t.LOGIN_PASSWORD}},
        "send_as": {"header": "X-Session-Token", "prefix": ""},
    }
    auth.update({"token_path": "session.token"} if via == "token_path"
                else {"token_header": "X-Session"})
    source = t.open_http_source({"base_url": base, "request": {"path": "/v1/session/items"},
                                 "auth": auth})
    try:
        assert len(list(source.read(ReadRequest()))) == 2
        state.sessions.clear()
        assert len(list(source.read(ReadRequest()))) == 2
    finally:
        source.close()
    assert state.counters["logins"] == 2


# --- failures --------------------------------------------------------------------------------


def read_retried(options: dict[str, Any], retrier: FakeRetrier) -> list[Any]:
    source = t.open_http_source(options, retry=retrier, sleep=retrier.sleep,
                                clock=retrier.clock)
    try:
        return list(source.read(ReadRequest()))
    finally:
        source.close()


# The client makes one attempt per call and the framework's retrier (here a fake-clock one
# from tests/support/retrier.py) decides: these tests used to pin the client's own loop.


def test_429_retry_after_reaches_the_retrier(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    retrier = FakeRetrier(attempts=3, backoff=0.0)
    rows = read_retried({"base_url": base, "request": {"path": "/v1/rate-limited"}}, retrier)
    assert ids(rows) == [1]
    assert len(state.requests) == 2
    assert retrier.retry_afters == [0.6] and retrier.waits == [0.6]


def test_5xx_then_success(api: tuple[str, t.ApiState], caplog: pytest.LogCaptureFixture) -> None:
    base, state = api
    caplog.set_level(logging.WARNING)
    retrier = FakeRetrier(attempts=4, backoff=0.01)
    rows = read_retried({"base_url": base, "request": {"path": "/v1/flaky"}}, retrier)
    assert ids(rows) == [1]
    assert len(state.requests) == 3
    assert [r.getMessage() for r in caplog.records].count("http.retryable") == 2
    assert retrier.waits == [0.01, 0.02]


def test_retries_exhausted_raise_run_failed(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    with pytest.raises(RunFailed, match=r"GET /v1/down still failing after 3 .*-> 502"):
        read_retried({"base_url": base, "request": {"path": "/v1/down"}},
                     FakeRetrier(attempts=3, backoff=0.01))
    assert len(state.requests) == 3


def test_without_a_retrier_one_attempt_raises_retryable(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    with pytest.raises(RetryableError, match=r"GET /v1/down -> 502"):
        read_all({"base_url": base, "request": {"path": "/v1/down"},
                  "retry": {"attempts": 3, "backoff": 0.01}})
    assert len(state.requests) == 1


def test_timeout_is_retried_then_run_failed(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    started = time.monotonic()
    with pytest.raises(RunFailed, match=r"GET /v1/slow still failing after 2 .*timed out"):
        read_retried({"base_url": base,
                      "request": {"path": "/v1/slow", "params": {"delay": 0.8}},
                      "timeout": {"connect": 1, "read": 0.2}}, FakeRetrier(attempts=2))
    assert time.monotonic() - started < 1.5
    assert len(state.requests) == 2


def test_other_4xx_on_a_read_is_fatal(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    with pytest.raises(FatalError, match="GET /v1/missing -> 404"):
        read_all({"base_url": base, "request": {"path": "/v1/missing"}})


def test_response_rule_ignores_a_404(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    assert read_all({"base_url": base, "request": {"path": "/v1/missing"},
                     "responses": [{"match": {"status": [404]}, "action": "ignore"}]}) == []


def test_rate_limit_spaces_requests(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    started = time.monotonic()
    rows = read_all({"base_url": base, "request": {"path": "/v1/offset-items"},
                     "pagination": {"type": "offset", "limit": 5}, "rate_limit": 4})
    elapsed = time.monotonic() - started
    assert len(rows) == 23 and len(state.requests) == 6
    # a burst of 4, then one request per 0.25 s for the last two
    assert 0.45 <= elapsed < 2


@pytest.mark.parametrize(("path", "records", "pagination"), [
    ("/v1/cursor-items", "items", {"type": "cursor", "next_path": "meta.next_cursor"}),
    ("/v1/page-items", "data",
     {"type": "page", "param": "page", "size_param": "per_page", "size": 10}),
])
def test_a_read_started_on_another_thread_gives_the_same_records(
    api: tuple[str, t.ApiState], path: str, records: str, pagination: dict[str, Any],
) -> None:
    # The source declares read_ahead: the engine fetches its first page on a thread of its
    # own while the step opens its destination, then reads the other pages on the step's.
    base, state = api
    conformance = SourceConformance(HttpConnector, {
        "base_url": base, "request": {"path": path}, "records": records,
        "pagination": pagination})
    conformance.check_read_ahead()
    # Both reads went to every page (a source not reading ahead is not checked: none).
    assert len([r for r in state.requests if r.path == path]) == 2 * 4
