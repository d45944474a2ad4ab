"""http sink against a real uvicorn server over loopback: actions, batches, quarantine,
idempotency keys, GraphQL and JSON-RPC writes, list_keys, secrets kept out of logs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from connectors.api import WriteOp
from runner.errors import ConfigError, FatalError
from tests.support import http_testapp as t


def orders_options(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": base,
        "auth": {"type": "bearer", "token": t.BEARER},
        "idempotency_key": {"header": "Idempotency-Key"},
        "create": {"method": "POST", "path": "/v1/orders", "body": "{record}",
                   "id_path": "data.id"},
        "update": {"method": "PUT", "path": "/v1/orders/{dest_id}",
                   "body": {"status": "{status}"}},
        "delete": {"method": "DELETE", "path": "/v1/orders/{dest_id}"},
        **extra,
    }


def write(options: dict[str, Any], ops: list[WriteOp]) -> list[Any]:
    sink = t.open_http_sink(options)
    try:
        return list(sink.write(ops))
    finally:
        sink.close()


def op(order_id: str, dest_id: str | None = None, action: str = "upsert", **fields: Any) -> WriteOp:
    record = {"order_id": order_id, "status": "open", **fields}
    return WriteOp(action=action, key=(order_id,), record=record,  # type: ignore[arg-type]
                   dest_id=dest_id, idempotency_key=f"idem-{order_id}-{dest_id}")


def test_create_then_update_then_delete_by_dest_id(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    created = write(orders_options(base), [op("SO-1"), op("SO-2")])
    assert [o.ok for o in created] == [True, True]
    assert sorted(o.dest_id for o in created) == ["ord_1", "ord_2"]
    dest = created[0].dest_id
    updated = write(orders_options(base), [op("SO-1", dest, status="shipped")])
    assert updated[0].ok and updated[0].dest_id == dest
    assert state.created["SO-1"]["status"] == "shipped"
    assert state.requests[-1].path == f"/v1/orders/{dest}"
    assert state.requests[-1].body == {"status": "shipped"}
    deleted = write(orders_options(base), [op("SO-1", dest, action="delete")])
    assert deleted[0].ok and state.requests[-1].method == "DELETE"


def test_upsert_only_template_serves_both(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = {"base_url": base, "upsert": {"method": "POST", "path": "/v1/orders",
                                            "body": "{record}", "id_path": "data.id"}}
    outcomes = write(options, [op("SO-9"), op("SO-8", "ord_x", action="update")])
    assert [o.ok for o in outcomes] == [True, True]
    assert [r.path for r in state.requests] == ["/v1/orders", "/v1/orders"]


def test_path_values_are_percent_encoded(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = {"base_url": base, "create": {"path": "/v1/orders/{order_id}/shipments",
                                            "body": {"carrier": "{carrier}"},
                                            "id_path": "data.id"}}
    outcome = write(options, [op("A 1?x=#2", carrier="UPS")])[0]
    assert outcome.ok and outcome.dest_id == "shp_A 1?x=#2"
    assert state.requests[-1].query == {}


def test_idempotency_key_sent_and_stable_across_retries(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    write(orders_options(base), [op("SO-1")])
    write(orders_options(base), [op("SO-1")])  # a rerun of the same change
    keys = [r.headers.get("idempotency-key") for r in state.requests]
    assert keys == ["idem-SO-1-None", "idem-SO-1-None"]


def test_422_on_single_record_quarantines_only_that_record(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    outcomes = write(orders_options(base), [op("SO-1"), op(""), op("SO-3")])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert "POST /v1/orders -> 422" in (outcomes[1].error or "")
    assert "order_id is required" in (outcomes[1].error or "")


def test_response_rule_ignores_already_exists(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    rules = [{"match": {"status": [409], "path": "errors", "contains": "already exists"},
              "action": "ignore"}]
    write(orders_options(base), [op("SO-1")])
    default = write(orders_options(base), [op("SO-1")])[0]
    assert not default.ok and "409" in (default.error or "")
    ignored = write(orders_options(base, responses=rules), [op("SO-1")])[0]
    assert ignored.ok


def test_response_rule_fail_stops_the_batch(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    rules = [{"match": {"status": [422]}, "action": "fail"}]
    with pytest.raises(FatalError, match="POST /v1/orders -> 422"):
        write(orders_options(base, responses=rules), [op("")])


def test_missing_placeholder_value_quarantines_the_record(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = orders_options(base)
    no_dest = write(options, [WriteOp("update", ("SO-1",), {"status": "x"})])[0]
    assert not no_dest.ok and "{dest_id}" in (no_dest.error or "")
    options["create"] = {"path": "/v1/orders", "body": {"status": "{status}"}}
    bad = write(options, [WriteOp("create", ("SO-2",), {"order_id": "SO-2"})])[0]
    assert not bad.ok and "{status}" in (bad.error or "")
    assert state.requests == []  # neither record reached the API


def batch_options(base: str, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": base,
        "max_in_flight": 2,
        "idempotency_key": {},
        "upsert": {
            "method": "POST", "path": "/v1/products", "body": {"sku": "{sku}", "qty": "{qty}"},
            "batch": {"size": 3, "path": "/v1/products/batch", "body": {"records": "{records}"},
                      "results": "data", "id_path": "id", "error_path": "error"},
        },
        **extra,
    }


def product(sku: str, qty: int) -> WriteOp:
    return WriteOp("upsert", (sku,), {"sku": sku, "qty": qty}, idempotency_key=f"k-{sku}-{qty}")


def test_batch_maps_results_back_and_quarantines_a_bad_record(
    api: tuple[str, t.ApiState],
) -> None:
    base, state = api
    ops = [product(f"P{i}", -1 if i == 4 else i) for i in range(7)]
    outcomes = write(batch_options(base), ops)
    assert [o.ok for o in outcomes] == [True, True, True, True, False, True, True]
    assert [o.dest_id for o in outcomes if o.ok] == [f"p_P{i}" for i in range(7) if i != 4]
    assert "qty must not be negative for P4" in (outcomes[4].error or "")
    assert len(state.requests) == 3
    sizes = sorted(len(r.body["records"]) for r in state.requests)
    assert sizes == [1, 3, 3]
    # max_in_flight=2: the batches may arrive in either order; the first batch is whole.
    first = [r for r in state.requests if r.body["records"][0]["sku"] == "P0"]
    assert [rec for req in first for rec in req.body["records"]] == [
        {"sku": f"P{i}", "qty": i} for i in range(3)]


def test_a_record_that_cannot_be_encoded_is_quarantined_and_the_batch_goes_on(
    api: tuple[str, t.ApiState],
) -> None:
    # Bytes (a BLOB column, text that is not UTF-8) copied into a field cannot become JSON.
    base, state = api
    ops = [product(f"P{i}", i) for i in range(5)]
    ops[2] = WriteOp("upsert", ("P2",), {"sku": "P2", "qty": b"\xff\xfe"})
    outcomes = write(batch_options(base), ops)
    assert [o.ok for o in outcomes] == [True, True, False, True, True]
    assert "cannot be encoded as JSON" in (outcomes[2].error or "")
    sent = sorted(r["sku"] for req in state.requests for r in req.body["records"])
    assert sent == ["P0", "P1", "P3", "P4"]


def test_a_single_request_that_cannot_be_encoded_is_quarantined(
    api: tuple[str, t.ApiState],
) -> None:
    base, state = api
    bad = WriteOp("create", ("SO-9",), {"order_id": "SO-9", "note": b"\xff"})
    outcomes = write(orders_options(base), [op("SO-1"), bad])
    assert outcomes[0].ok
    assert not outcomes[1].ok and "cannot be encoded as JSON" in (outcomes[1].error or "")
    assert [r.body["order_id"] for r in state.requests] == ["SO-1"]


def test_batch_idempotency_key_is_a_stable_hash(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    ops = [product(f"P{i}", i) for i in range(3)]
    write(batch_options(base), ops)
    write(batch_options(base), ops)
    keys = [r.headers["idempotency-key"] for r in state.requests]
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 64
    write(batch_options(base), [product("P0", 99), *ops[1:]])
    assert state.requests[-1].headers["idempotency-key"] != keys[0]


def test_graphql_mutation_captures_id_and_quarantines_errors(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = {"base_url": base, "create": {
        "graphql": {"document": "mutation($input: OrderInput!) { createOrder(input: $input) "
                                "{ order { id } } }",
                    "variables": {"input": {"order_id": "{order_id}"}}},
        "id_path": "data.createOrder.order.id"}}
    outcomes = write(options, [op("SO-1"), op("BAD")])
    assert outcomes[0].ok and outcomes[0].dest_id == "g_SO-1"
    assert not outcomes[1].ok and "GraphQL error: order BAD is invalid" in (outcomes[1].error or "")
    sent = sorted(r.body["variables"]["input"]["order_id"] for r in state.requests)
    assert sent == ["BAD", "SO-1"]


def test_jsonrpc_call_and_error_inside_200(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = {"base_url": base, "create": {
        "path": "/rpc", "jsonrpc": {"method": "order.ship",
                                    "params": {"order_id": "{order_id}",
                                               "tracking": "{tracking}"}},
        "id_path": "result.shipment_id"}}
    outcomes = write(options, [op("SO-1", tracking="1Z"), op("SO-2", tracking="")])
    assert outcomes[0].ok and outcomes[0].dest_id == "r_SO-1"
    assert not outcomes[1].ok and "JSON-RPC error -32602: tracking is required" in (
        outcomes[1].error or "")
    bodies = sorted((r.body for r in state.requests), key=lambda b: b["params"]["order_id"])
    assert bodies[0]["jsonrpc"] == "2.0" and bodies[0]["method"] == "order.ship"
    assert isinstance(bodies[0]["id"], int) and bodies[0]["id"] != bodies[1]["id"]


def test_template_injection_is_refused_or_literal(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    options = {"base_url": base, "create": {"path": "/v1/orders",
                                            "body": {"order_id": "{order_id}",
                                                     "note": "{0.__class__} {order_id.__len__"}}}
    outcome = write(options, [op("SO-1")])[0]
    assert outcome.ok
    assert state.requests[-1].body["note"] == "{0.__class__} {order_id.__len__"
    evil = {"base_url": base, "create": {"path": "/v1/orders",
                                         "body": {"x": "{__import__}", "y": "{a.__class__}"}}}
    with pytest.raises(ConfigError, match="cannot start with '__'"):
        t.open_http_sink(evil)


def test_delete_without_template_is_a_clear_fatal_error(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    options = orders_options(base)
    del options["delete"]
    with pytest.raises(FatalError, match="no `delete` request"):
        write(options, [op("SO-1", "ord_1", action="delete")])


def test_no_write_template_fails_at_open(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    with pytest.raises(ConfigError):
        t.open_http_sink({"base_url": base, "delete": {"path": "/x"}})


def test_list_keys_pages_the_destination(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    options = orders_options(base, list={
        "path": "/v1/cursor-items", "records": "items", "key_fields": ["sku"], "id_path": "id",
        "pagination": {"type": "cursor", "next_path": "meta.next_cursor"}})
    sink = t.open_http_sink(options)
    try:
        keys = list(sink.list_keys())
    finally:
        sink.close()
    assert len(keys) == 23 and keys[0] == (("SKU-001",), "1")


def test_secrets_never_in_logs_or_errors(
    api: tuple[str, t.ApiState], caplog: pytest.LogCaptureFixture
) -> None:
    base, _ = api
    caplog.set_level(logging.DEBUG)
    secret = "super-secret-token-8675309"
    options = orders_options(base, auth={"type": "bearer", "token": secret},
                             retry={"attempts": 2, "backoff": 0.01},
                             responses=[{"match": {"status": [201]}, "action": "fail"}])
    with pytest.raises(FatalError) as info:
        write(options, [op("SO-1")])
    text = caplog.text + str(info.value) + "".join(str(r.__dict__) for r in caplog.records)
    assert "POST /v1/orders -> 201" in str(info.value)
    assert secret not in text
