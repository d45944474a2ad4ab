"""http sink against a loopback server: one retry owner, and errors inside successful answers.

The client makes one attempt per request and the framework's retrier decides (a fake-clock
one here, tests/support/retrier.py). Errors inside 200 answers (GraphQL ``errors``,
``userErrors``, typed error results; JSON-RPC ``error`` members, also with 400/500) quarantine
their record with the system's own message while the rest of the batch lands.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from connectors.api import WriteOp, WriteOutcome
from runner.errors import RunFailed
from tests.support import http_testapp as t
from tests.support.loopback import serve_app
from tests.support.retrier import FakeRetrier


def write(options: dict[str, Any], ops: list[WriteOp], **ctx: Any) -> list[WriteOutcome]:
    sink = t.open_http_sink(options, **ctx)
    try:
        return sink.write(ops)
    finally:
        sink.close()


def create(key: str, **record: Any) -> WriteOp:
    return WriteOp("create", (key,), {"sku": key, **record}, idempotency_key=f"idem-{key}")


# --- one retry owner -------------------------------------------------------------------------


@pytest.mark.parametrize("attempts", [1, 3])
def test_failing_batches_make_exactly_attempts_requests_each(
    api: tuple[str, t.ApiState], attempts: int
) -> None:
    base, state = api
    retrier = FakeRetrier(attempts=attempts, backoff=0.25)
    options = {"base_url": base, "max_in_flight": 2,
               "retry": {"attempts": 8, "backoff": 0.01},  # deprecated: must not multiply
               "create": {"path": "/v1/down", "body": "{record}",
                          "batch": {"size": 2, "body": {"records": "{records}"}}}}
    with pytest.raises(RunFailed, match=r"POST /v1/down still failing .*-> 502"):
        write(options, [create(f"S{i}") for i in range(5)],
              retry=retrier, sleep=retrier.sleep, clock=retrier.clock)
    per_batch = Counter(
        tuple(r["sku"] for r in seen.body["records"]) for seen in state.requests
    )
    assert per_batch == {("S0", "S1"): attempts, ("S2", "S3"): attempts, ("S4",): attempts}
    assert len(retrier.waits) == 3 * (attempts - 1)  # slept on the fake clock only


def test_single_record_requests_are_retried_one_by_one(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    retrier = FakeRetrier(attempts=4, backoff=0.0)
    options = {"base_url": base, "create": {"path": "/v1/down", "body": "{record}"}}
    with pytest.raises(RunFailed):
        write(options, [create("A"), create("B")], retry=retrier, sleep=retrier.sleep)
    assert Counter(seen.body["sku"] for seen in state.requests) == {"A": 4, "B": 4}
    assert retrier.calls == ["POST /v1/down", "POST /v1/down"]


# --- GraphQL ---------------------------------------------------------------------------------

PRODUCT_CREATE = (
    "mutation($input: ProductInput!) { productCreate(input: $input) {"
    " __typename ... on ProductCreatePayload { product { id } userErrors { field message } }"
    " ... on ProductCreateError { errorCode message } } }"
)


def graphql_options(base: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": base, "max_in_flight": 1,
            "create": {"path": "/graphql/store", "id_path": "data.productCreate.product.id",
                       "graphql": {"document": PRODUCT_CREATE,
                                   "variables": {"input": {"sku": "{sku}", "title": "{title}"}}}},
            **extra}


def test_graphql_errors_inside_200_quarantine_only_their_record(
    api: tuple[str, t.ApiState]
) -> None:
    base, state = api
    ops = [create(sku, title=f"t-{sku}") for sku in ("OK1", "TAKEN", "TYPED", "CODED", "TOP",
                                                     "OK2")]
    outcomes = write(graphql_options(base), ops)
    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    assert [o.dest_id for o in outcomes if o.ok] == ["p1", "p2"]
    reasons = [o.error or "" for o in outcomes]
    assert reasons[1] == ("POST /graphql/store: userErrors: input.sku: SKU has already been "
                          "taken")
    assert reasons[2] == ("POST /graphql/store: ProductCreateError INVALID_PRICE: price must be "
                          "positive")
    assert reasons[3] == "POST /graphql/store: error OUT_OF_RANGE: weight is out of range"
    assert reasons[4] == "POST /graphql/store: GraphQL error: Access denied for sku"
    assert [p["sku"] for p in state.products] == ["OK1", "OK2"]


def test_a_response_rule_relaxes_user_errors(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    rule = {"match": {"path": "data.productCreate.userErrors", "contains": "already been taken"},
            "action": "ignore"}
    outcomes = write(graphql_options(base, responses=[rule]),
                     [create("TAKEN", title="x"), create("TYPED", title="y")])
    assert outcomes[0] == WriteOutcome(ok=True, dest_id=None, ignored=True)  # counted apart
    assert not outcomes[1].ok and "INVALID_PRICE" in (outcomes[1].error or "")


def test_graphql_document_is_sent_verbatim(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    # `{__typename}` and `}}` used to be read as placeholders and escapes.
    document = ("mutation($input: ProductInput!) { productCreate(input: $input) "
                "{ __typename product { id } userErrors { field message }}}")
    options = {"base_url": base, "create": {
        "path": "/graphql/store", "id_path": "data.productCreate.product.id",
        "graphql": {"document": document, "variables": {"input": "{record}"}}}}
    outcomes = write(options, [create("V1", title="verbatim")])
    assert outcomes == [WriteOutcome(ok=True, dest_id="p1")]
    assert state.requests[0].body == {
        "query": document, "variables": {"input": {"sku": "V1", "title": "verbatim"}}}


# --- JSON-RPC --------------------------------------------------------------------------------


def rpc_options(base: str, version: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"method": "sale.order.create", "params": {"ref": "{sku}"}}
    if version is not None:
        call["version"] = version
    return {"base_url": base, "max_in_flight": 1,
            "create": {"path": "/rpc/plain", "id_path": "result.id", "jsonrpc": call}}


def test_jsonrpc_errors_with_200_400_500_are_the_records_answer(
    api: tuple[str, t.ApiState]
) -> None:
    base, state = api
    retrier = FakeRetrier(attempts=3)
    ops = [create(ref) for ref in ("A", "ERR200", "ERR400", "ERR500", "B")]
    outcomes = write(rpc_options(base, "none"), ops, retry=retrier, sleep=retrier.sleep)
    assert [o.ok for o in outcomes] == [True, False, False, False, True]
    assert [o.dest_id for o in outcomes if o.ok] == ["r_A", "r_B"]
    assert outcomes[1].error == "POST /rpc/plain: JSON-RPC error 7: partner is archived"
    assert outcomes[2].error == "POST /rpc/plain: JSON-RPC error 400: bad order line"
    assert outcomes[3].error == ("POST /rpc/plain: JSON-RPC error 200: Odoo Server Error "
                                 "(ValidationError: missing partner)")
    assert len(state.requests) == 5  # the 500 with an error member was not retried
    assert retrier.waits == []


def test_jsonrpc_version_none_sends_plain_calls(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    write(rpc_options(base, "none"), [create("A")])
    write(rpc_options(base), [create("B")])
    plain, versioned = (seen.body for seen in state.requests)
    assert set(plain) == {"id", "method", "params"} and plain["params"] == {"ref": "A"}
    assert versioned["jsonrpc"] == "2.0" and versioned["method"] == "sale.order.create"


def test_html_error_pages_give_their_text_not_markup(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    retrier = FakeRetrier(attempts=2, backoff=0.0)
    outcomes = write(rpc_options(base, "none"), [create("HTML400"), create("C")],
                     retry=retrier, sleep=retrier.sleep)
    assert outcomes[1].ok and not outcomes[0].ok
    assert outcomes[0].error == (
        "POST /rpc/plain -> 400: 400 Bad Request: Internal Server Error Invalid value for "
        "field date_order : '2024-13-01'"
    )
    # A 500 page without a JSON-RPC error member may be a proxy's: temporary, and the
    # retrier's final message carries the page's text.
    with pytest.raises(RunFailed) as info:
        write(rpc_options(base, "none"), [create("HTML500")], retry=retrier,
              sleep=retrier.sleep)
    message = str(info.value)
    assert "-> 500: 500 Internal Server Error: Internal Server Error Invalid value" in message
    assert "<" not in message and "console.log" not in message and "font-family" not in message
    assert len(state.requests) == 2 + 2  # HTML400 and C once, HTML500 twice


def test_the_engines_retrier_honours_retry_after_and_bounds_requests() -> None:
    """With the engine's own Retrier (not a test double): a server answering 429 with
    ``Retry-After: 7`` is waited at least 7 s each time (on a fake clock), and a batch that
    always fails makes exactly ``attempts`` requests."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from runner.engine.retry import Retrier
    from runner.spec import RetryPolicy

    seen: list[int] = []

    async def busy(request: Request) -> JSONResponse:
        seen.append(len(await request.body()))
        return JSONResponse({"error": "slow down"}, 429, {"Retry-After": "7"})

    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:  # a fake clock: the pacer and the retrier share it
        waits.append(seconds)
        now[0] += seconds

    retrier = Retrier(RetryPolicy(attempts=4, backoff_s=0.1, max_backoff_s=1.0), sleep)
    with serve_app(Starlette(routes=[Route("/v1/busy", busy, methods=["POST"])])) as base:
        options = {"base_url": base,
                   "create": {"path": "/v1/busy", "body": "{record}",
                              "batch": {"size": 10, "body": {"records": "{records}"}}}}
        with pytest.raises(RunFailed, match="still failing after 4 attempts"):
            write(options, [create("S1"), create("S2")], retry=retrier, sleep=sleep,
                  clock=lambda: now[0])
    assert len(seen) == 4  # one batch, attempts requests, no retry loop inside another
    # Three waits between four attempts, each at least the 7 s the server asked for (the
    # client's pacer may split a wait; the total between two attempts is what counts).
    assert retrier.retries == 3 and now[0] >= 3 * 7.0
