"""http connector units over httpx.MockTransport: schema, decisions, paging, writes."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jsonschema
import orjson
import pytest

from connectors.api import ConnectorContext, Listable, ReadRequest, Sink, Source, WriteOp
from connectors.http import HttpConnector
from connectors.http.client import retry_after_seconds
from runner.errors import ConfigError, FatalError, RetryableError, redact
from tests.support.retrier import FakeRetrier

Handler = Callable[[httpx.Request], httpx.Response]


def ctx(handler: Handler) -> ConnectorContext:
    return ConnectorContext(job="j", step="s", key_fields=("sku",),
                            http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def walk_properties(schema: Mapping[str, Any], path: str = "") -> list[tuple[str, Any]]:
    found = []
    for key, sub in (schema.get("properties") or {}).items():
        found.append((f"{path}{key}", sub))
        found += walk_properties(sub, f"{path}{key}.")
        for variant in sub.get("oneOf", []) + sub.get("anyOf", []):
            found += walk_properties(variant, f"{path}{key}.")
        if isinstance(sub.get("items"), Mapping):
            found += walk_properties(sub["items"], f"{path}{key}[].")
    return found


@pytest.mark.parametrize("schema", [HttpConnector.source_options,
                                    HttpConnector.destination_options])
def test_option_schemas_are_valid_and_described(schema: Mapping[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    props = walk_properties(schema)
    assert len(props) > 30
    undescribed = [p for p, sub in props if not sub.get("description")]
    assert undescribed == []
    for path, sub in props:
        for example in sub.get("examples", []):
            if isinstance(example, str) and "${" in example:
                continue  # an env reference stands for the value
            probe = {k: v for k, v in sub.items() if k not in ("examples", "secret")}
            assert jsonschema.Draft202012Validator(probe).is_valid(example), (path, example)


def test_credentials_are_marked_secret() -> None:
    from connectors.api import secret_option_names

    names = secret_option_names(HttpConnector.destination_options)
    assert {"auth.token", "auth.password", "auth.key", "auth.client_secret",
            "auth.login.body"} <= names


@pytest.mark.parametrize(("password", "masked"), [("", True), ("pw-unit-basic-9", False)])
def test_a_basic_user_name_without_password_is_masked_as_the_key_it_is(
    password: str, masked: bool
) -> None:
    from runner.errors import redact

    # Unique per case: the secrets registry is process-wide.
    username = f"sk_unit_basic_{'key' if masked else 'user'}_5081"
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={"data": []})

    source = HttpConnector().open_source(
        {"base_url": "http://x", "request": {"path": "/a"},
         "auth": {"type": "basic", "username": username, "password": password}}, ctx(handler))
    assert list(source.read(ReadRequest())) == []
    assert seen and seen[0].startswith("Basic ")
    assert (redact(f"401 for {username}") == "401 for ***") is masked


def test_invalid_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="pagination"):
        HttpConnector().open_source({"base_url": "http://x", "request": {"path": "/a"},
                                     "pagination": {"type": "pages"}}, ctx(lambda r: None))  # type: ignore[arg-type,return-value]


INVALID_OPTIONS = [
    ("source", {"base_url": "http://x", "request": {"path": "/a"},
                "pagination": {"type": "pages"}}),
    ("source", {"base_url": 5, "request": {"path": "/a"}, "page_size": -1}),
    ("source", {"request": {"path": "/a"}, "surprise": True}),
    ("destination", {"base_url": "http://x", "upsert": {"path": "/p", "body": "{record}",
                                                        "batch": {"size": 0}}}),
    ("destination", {"base_url": "http://x", "upsert": {"path": "/p"},
                     "auth": {"type": "api_key", "key": "s3cret", "header": 7}}),
]


@pytest.mark.parametrize(("role", "options"), INVALID_OPTIONS)
def test_invalid_options_say_what_jsonschema_says(role: str, options: dict[str, Any]) -> None:
    # Valid options skip jsonschema (runner.schema_fit); invalid ones must still be reported
    # by it, every message as before.
    connector = HttpConnector()
    schema = connector.source_options if role == "source" else connector.destination_options
    assert schema is not None
    opener = connector.open_source if role == "source" else connector.open_sink
    with pytest.raises(ConfigError) as raised:
        opener(options, ctx(lambda r: httpx.Response(200)))
    expected = sorted(
        (".".join([role, *(str(p) for p in e.absolute_path)]), redact(e.message))
        for e in jsonschema.Draft202012Validator(schema).iter_errors(options)
    )
    assert expected
    assert sorted((p.path, p.message) for p in raised.value.problems) == expected


def test_retry_after_seconds_and_http_date() -> None:
    now = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("Mon, 01 Jan 2024 12:00:07 GMT", now) == 7.0
    assert retry_after_seconds("Mon, 01 Jan 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None


def test_retry_after_http_date_reaches_the_retrier() -> None:
    # The client makes one attempt per call; the Retry-After it read goes to the framework's
    # retrier, which waits at least that long (here on a fake clock).
    calls: list[httpx.Request] = []
    promised: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=7)
            header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
            promised.append(retry_after_seconds(header) or 0.0)
            return httpx.Response(503, headers={"Retry-After": header})
        return httpx.Response(200, json={"data": [{"id": 1}]})

    retrier = FakeRetrier(attempts=3, backoff=0.0)
    context = ctx(handler)
    context.retry, context.sleep, context.clock = retrier, retrier.sleep, retrier.clock
    source = HttpConnector().open_source(
        {"base_url": "http://api", "request": {"path": "/a"}}, context)
    assert list(source.read(ReadRequest())) == [{"id": 1}]
    assert len(calls) == 2
    # an HTTP date has whole seconds: 6..7 s were left when the 503 was read
    assert retrier.retry_afters[0] is not None and 6.0 <= retrier.retry_afters[0] <= 7.0
    # the retrier waited it, and the pacer, which holds every request for the same pause, read
    # the same date at the same moment: nothing is left to wait
    assert retrier.waits == [retrier.retry_afters[0]]


def test_query_string_not_in_messages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="bad request")

    source = HttpConnector().open_source(
        {"base_url": "http://api", "request": {"path": "/a", "params": {"token": "abc123zz"}}},
        ctx(handler))
    with pytest.raises(FatalError) as info:
        list(source.read(ReadRequest()))
    assert "GET /a -> 400: bad request" in str(info.value)
    assert "abc123zz" not in str(info.value)


def test_connection_errors_become_retryable() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ConnectError("refused", request=request)

    # The connection-level `retry` option is deprecated and no longer retries: one attempt.
    source = HttpConnector().open_source(
        {"base_url": "http://api", "request": {"path": "/a"},
         "retry": {"attempts": 2, "backoff": 0}}, ctx(handler))
    with pytest.raises(RetryableError, match="GET /a failed \\(ConnectError\\)") as info:
        list(source.read(ReadRequest()))
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert len(sent) == 1


def test_non_json_page_is_fatal() -> None:
    source = HttpConnector().open_source(
        {"base_url": "http://api", "request": {"path": "/a"}},
        ctx(lambda r: httpx.Response(200, text="<html>")))
    with pytest.raises(FatalError, match="not JSON"):
        list(source.read(ReadRequest()))


def test_source_and_sink_satisfy_the_protocols() -> None:
    handler = lambda r: httpx.Response(200, json={"data": []})  # noqa: E731
    source = HttpConnector().open_source({"base_url": "http://a", "request": {"path": "/"}},
                                         ctx(handler))
    sink = HttpConnector().open_sink({"base_url": "http://a", "upsert": {"path": "/"}},
                                     ctx(handler))
    assert isinstance(source, Source) and isinstance(sink, Sink)
    # Only a destination with `list:` is Listable: the engine's complete sync relies on it.
    assert not isinstance(sink, Listable)
    listed = HttpConnector().open_sink(
        {"base_url": "http://a", "upsert": {"path": "/"},
         "list": {"path": "/", "records": "data", "key_fields": ["sku"], "id_path": "id"}},
        ctx(handler))
    assert isinstance(listed, Listable)
    listed.close()
    from runner.spec import Compare

    flt = Compare("a", "equals", 1)
    assert source.pushdown(flt) is flt
    sink.close()


def test_unbatched_writes_run_in_parallel_and_keep_order() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        body = orjson.loads(request.content)
        return httpx.Response(201, json={"id": f"d{body['n']}"})

    sink = HttpConnector().open_sink(
        {"base_url": "http://a", "max_in_flight": 3,
         "upsert": {"path": "/p", "body": "{record}", "id_path": "id"}}, ctx(handler))
    ops = [WriteOp("upsert", (i,), {"n": i}) for i in range(9)]
    started = time.monotonic()
    outcomes = sink.write(ops)
    elapsed = time.monotonic() - started
    sink.close()
    assert [o.dest_id for o in outcomes] == [f"d{i}" for i in range(9)]
    assert peak == 3
    assert elapsed < 0.4  # 9 x 50 ms in three lanes, not 450 ms in one


def test_a_written_batch_leaves_no_response_for_the_collector() -> None:
    """A response and the bodies it holds (the request's too: ~250 KB for 500 products) go
    with their last reference, not at the collector's next pass: the engine runs its streams
    with the collector rarely passing (runner.engine.heap)."""
    import gc
    import weakref

    answered: list[weakref.ref[httpx.Response]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        response = httpx.Response(200, json={"data": [{"id": "d1"}, {"id": "d2"}]})
        answered.append(weakref.ref(response))
        return response

    sink = HttpConnector().open_sink(
        {"base_url": "http://a", "upsert": {"path": "/p", "body": "{record}", "batch": {
            "size": 10, "results": "data", "id_path": "id"}}}, ctx(handler))
    enabled = gc.isenabled()
    gc.disable()
    try:
        outcomes = sink.write([WriteOp("upsert", (1,), {"a": 1}),
                               WriteOp("upsert", (2,), {"a": 2})])
        assert [o.dest_id for o in outcomes] == ["d1", "d2"]
        del outcomes
        assert len(answered) == 1
        assert answered[0]() is None
    finally:
        if enabled:
            gc.enable()
        sink.close()


def test_batch_result_count_mismatch_is_fatal() -> None:
    sink = HttpConnector().open_sink(
        {"base_url": "http://a", "upsert": {"path": "/p", "body": "{record}", "batch": {
            "size": 10, "results": "data"}}},
        ctx(lambda r: httpx.Response(200, json={"data": [{"id": 1}]})))
    with pytest.raises(FatalError, match="1 results at 'data' for 2 records"):
        sink.write([WriteOp("upsert", (1,), {"a": 1}), WriteOp("upsert", (2,), {"a": 2})])
    sink.close()


def test_decimal_bodies_keep_their_digits() -> None:
    import decimal

    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={})

    sink = HttpConnector().open_sink(
        {"base_url": "http://a", "upsert": {"path": "/p", "body": {"price": "{price}"}}},
        ctx(handler))
    sink.write([WriteOp("upsert", (1,), {"price": decimal.Decimal("19.990")})])
    sink.close()
    assert seen == [b'{"price":19.990}']


def test_decimal_texts_remembered_by_identity_keep_each_value_s_digits(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import decimal

    from connectors.http import client

    monkeypatch.setattr(client, "_DECIMAL_TEXTS", {})
    monkeypatch.setattr(client, "_DECIMAL_TEXTS_MAX", 3)
    one, one_00, price = (decimal.Decimal(t) for t in ("1.0", "1.00", "19.99"))
    assert one == one_00  # equal, and one key of a dict: the cache must not conflate them
    body = {"a": one, "b": one_00, "c": [price, price, one], "d": decimal.Decimal("NaN")}
    expected = b'{"a":1.0,"b":1.00,"c":[19.99,19.99,1.0],"d":"NaN"}'
    assert client.encode_json(body) == expected
    assert client.encode_json(body) == expected  # from the remembered texts
    assert len(client._DECIMAL_TEXTS) <= 3  # cleared when full, never larger
    assert client.encode_json([decimal.Decimal("2.50"), one_00]) == b"[2.50,1.00]"


def test_verify_tls_false_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    source = HttpConnector().open_source(
        {"base_url": "https://a", "request": {"path": "/"}, "verify_tls": False},
        ConnectorContext(job="j", step="s"))
    source.close()
    assert "http.tls_verification_disabled" in [r.getMessage() for r in caplog.records]


def test_graphql_and_jsonrpc_batches_are_refused_at_open() -> None:
    with pytest.raises(FatalError, match="batch is supported for REST"):
        HttpConnector().open_sink(
            {"base_url": "http://a", "create": {"jsonrpc": {"method": "m"},
                                                "batch": {"size": 2}}},
            ctx(lambda r: httpx.Response(200)))


def test_imports_stay_inside_the_connector_boundary() -> None:
    import ast
    import pathlib

    allowed = {"connectors.api", "runner.errors", "runner.spec"}
    package = pathlib.Path(__file__).parents[2] / "connectors" / "http"
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                name = node.module
            elif isinstance(node, ast.Import):
                name = node.names[0].name
            else:
                continue
            if name.startswith(("runner", "connectors")):
                assert name in allowed, f"{module.name} imports {name}"
