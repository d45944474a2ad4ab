"""``replay_safe``: which http writes can be sent again after a crash lost their answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.api import ConnectorContext, replay_safe
from connectors.http import HttpConnector

REQ = {"path": "/v1/products", "body": "{record}"}


def sink(**opts: Any) -> Any:
    context = ConnectorContext(job="j", step="s", key_fields=("sku",), http_client=httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200))))
    return HttpConnector().open_sink({"base_url": "http://api", **opts}, context)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        # an upsert request is idempotent by key
        ({"upsert": REQ}, {"upsert": True, "create": True, "update": True, "delete": True}),
        # a plain create makes a new object each time it is sent
        ({"create": REQ, "update": REQ},
         {"upsert": False, "create": False, "update": True, "delete": True}),
        # ... unless the store honours an idempotency key per record
        ({"create": REQ, "update": REQ, "idempotency_key": {}},
         {"upsert": True, "create": True, "update": True, "unpublish": True}),
        # a batch's key hashes its members: a rerun that batches differently is a new key
        ({"create": {**REQ, "batch": {"size": 10}}, "idempotency_key": {}},
         {"upsert": False, "create": False, "update": True}),
        # match alone does not make a blind resend safe (the engine asks match first)
        ({"create": REQ, "match": {"path": "/v1/products", "id_path": "id"}},
         {"create": False, "update": True}),
    ],
)
def test_replay_safe_per_action(opts: dict[str, Any], expected: dict[str, bool]) -> None:
    s = sink(**opts)
    try:
        assert {action: replay_safe(s, action) for action in expected} == expected
    finally:
        s.close()
