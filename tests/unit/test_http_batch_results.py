"""A batch's answers read per record (issue 16: top-level ``error``/``id`` read with dict.get,
the records sent as they are, the batch's idempotency key hashed in one update) give what the
general path gives: ids, kept ids, refusals, the request body and the batch key."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson
import pytest

from connectors.api import ConnectorContext, WriteOp, WriteOutcome
from connectors.http import HttpConnector

OPS = [WriteOp("upsert", ("A",), {"sku": "A", "n": 1}, None, "k1"),
       WriteOp("upsert", ("B",), {"sku": "B"}, "old-b", "k2"),
       WriteOp("upsert", ("C",), {"sku": "C"}, "old-c", None),
       WriteOp("upsert", ("D",), {"sku": "D"}, None, "k4"),
       WriteOp("upsert", ("E",), {"sku": "E"}, "old-e", "k5"),
       WriteOp("upsert", ("F",), {"sku": "F"}, None, "k6")]


def _old_batch_key(ops: list[WriteOp]) -> str:
    digest = hashlib.sha256()
    for op in ops:
        digest.update((op.idempotency_key or repr((op.action, op.key))).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _write(results: list[Any], batch: dict[str, Any]) -> tuple[list[WriteOutcome],
                                                                 list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": results})

    sink = HttpConnector().open_sink(
        {"base_url": "http://a", "idempotency_key": {"header": "Idempotency-Key"},
         "upsert": {"path": "/p", "body": "{record}",
                    "batch": {"size": 10, "results": "data", **batch}}},
        ConnectorContext(job="j", step="s", key_fields=("sku",),
                         http_client=httpx.Client(transport=httpx.MockTransport(handler))))
    try:
        return sink.write(OPS), seen
    finally:
        sink.close()


RESULTS = [{"id": 1}, {"id": None}, {}, {"error": "bad sku"}, {"error": "", "id": "e"},
           ["not", "an", "object"]]


@pytest.mark.parametrize(("batch", "results", "expected"), [
    ({"id_path": "id"}, RESULTS,
     [(True, "1", None), (True, "old-b", None), (True, "old-c", None),
      (False, None, "POST /p: bad sku"), (True, "e", None), (True, None, None)]),
    ({"id_path": "ref.id", "error_path": "problem.text"},
     [{"ref": {"id": 7}}, {"ref": {}}, {"problem": {"text": "no"}}, {"problem": {"text": ""}},
      {"problem": None, "ref": {"id": "x"}}, ["x"]],
     [(True, "7", None), (True, "old-b", None), (False, "old-c", "POST /p: no"),
      (True, None, None), (True, "x", None), (True, None, None)]),
    ({}, RESULTS,
     [(True, None, None), (True, "old-b", None), (True, "old-c", None),
      (False, None, "POST /p: bad sku"), (True, "old-e", None), (True, None, None)]),
])
def test_batch_answers(batch: dict[str, Any], results: list[Any],
                       expected: list[tuple[Any, ...]]) -> None:
    outcomes, seen = _write(results, batch)
    assert [(o.ok, o.dest_id, o.error) for o in outcomes] == expected
    (request,) = seen
    assert orjson.loads(request.content) == [op.record for op in OPS]
    assert request.headers["Idempotency-Key"] == _old_batch_key(OPS)


def test_each_op_goes_to_its_request_in_op_order() -> None:
    """The request is chosen once per kind of op (action, with or without an id): ops of
    every kind, interleaved, still reach the request each asks for, and outcomes come back
    in op order."""
    sent: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        for record in orjson.loads(request.content):
            sent[record["sku"]] = request.url.path
        return httpx.Response(200, json={"data": [{"id": f"{request.url.path}"}] * len(
            orjson.loads(request.content))})

    sink = HttpConnector().open_sink(
        {"base_url": "http://a",
         "create": {"path": "/c", "body": "{record}", "batch": {"size": 2, "results": "data",
                                                                "id_path": "id"}},
         "update": {"path": "/u", "body": "{record}", "batch": {"size": 2, "results": "data",
                                                                "id_path": "id"}}},
        ConnectorContext(job="j", step="s", key_fields=("sku",),
                         http_client=httpx.Client(transport=httpx.MockTransport(handler))))
    ops = [WriteOp("upsert", ("1",), {"sku": "1"}, None),
           WriteOp("upsert", ("2",), {"sku": "2"}, "id2"),
           WriteOp("create", ("3",), {"sku": "3"}, None),
           WriteOp("update", ("4",), {"sku": "4"}, "id4"),
           WriteOp("upsert", ("5",), {"sku": "5"}, None),
           WriteOp("upsert", ("6",), {"sku": "6"}, "id6"),
           WriteOp("create", ("7",), {"sku": "7"}, "id7")]
    try:
        outcomes = sink.write(ops)
    finally:
        sink.close()
    assert sent == {"1": "/c", "2": "/u", "3": "/c", "4": "/u", "5": "/c", "6": "/u", "7": "/c"}
    assert [o.dest_id for o in outcomes] == [sent[op.record["sku"]] for op in ops]
