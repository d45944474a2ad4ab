"""``match`` against a loopback store whose natural keys are not unique: which keys does the
destination hold, under which ids (REST query, REST path, GraphQL; batched, paged)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.api import Listable, Matchable
from tests.support import http_testapp as t


@pytest.fixture
def api(testapp: tuple[str, t.ApiState]) -> tuple[str, t.ApiState]:
    server, state = testapp
    state.reset()
    # p1..p6; A is held twice (a store whose creates are not idempotent)
    for sku in ("A", "B", "A", "C", "D", "E"):
        state.products.append({"id": f"p{len(state.products) + 1}", "sku": sku})
    return server, state


def options(base: str, match: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"base_url": base, "max_in_flight": 3,
            "create": {"path": "/v1/products", "body": "{record}", "id_path": "data.id"},
            "match": match, **extra}


def run_match(opts: dict[str, Any], keys: list[tuple[Any, ...]]) -> dict[Any, list[str]]:
    sink = t.open_http_sink(opts, key_fields=("sku",))
    try:
        assert isinstance(sink, Matchable)
        return sink.match(keys)
    finally:
        sink.close()


KEYS = [("A",), ("B",), ("X",), ("C",), ("E",)]
EXPECTED = {("A",): ["p1", "p3"], ("B",): ["p2"], ("C",): ["p4"], ("E",): ["p6"]}


def test_rest_query_batched_joined_and_paged(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    match = {"path": "/v1/products", "params": {"sku": "{keys}"}, "batch": 2,
             "id_path": "id", "pagination": {"type": "offset", "limit": 1}}
    assert run_match(options(base, match), KEYS) == EXPECTED
    asked = sorted(r.query["sku"] for r in state.requests)
    # 3 requests of up to 2 keys, each paged one object at a time until an empty page
    assert sorted(set(asked)) == ["A,B", "E", "X,C"]
    assert asked.count("A,B") == 4 and asked.count("X,C") == 2 and asked.count("E") == 2


def test_rest_query_with_the_parameter_repeated(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    match = {"path": "/v1/products", "params": {"sku": "{keys}"}, "keys_as": "repeat",
             "batch": 10, "id_path": "id"}
    assert run_match(options(base, match), KEYS) == EXPECTED
    assert len(state.requests) == 1


def test_rest_path_one_key_per_request_404_is_absent(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    match = {"path": "/v1/products/by-sku/{key}", "id_path": "id", "batch": 50}
    assert run_match(options(base, match), KEYS) == EXPECTED
    assert sorted(r.path for r in state.requests) == sorted(
        f"/v1/products/by-sku/{k[0]}" for k in KEYS)


def test_graphql_keys_as_a_list_variable_relay_paged(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    match = {"path": "/graphql/store", "records": "data.products.nodes", "id_path": "id",
             "batch": 5, "graphql": {
                 "document": "query($skus: [String!]!, $after: String) "
                             "{ products(skus: $skus, after: $after) "
                             "{ nodes { id sku } pageInfo { hasNextPage endCursor } } }",
                 "variables": {"skus": "{keys}"}, "page_info": "data.products.pageInfo"}}
    assert run_match(options(base, match), KEYS) == EXPECTED
    # five matching objects, two per page: three pages
    assert [r.body["variables"].get("after") for r in state.requests] == [None, "2", "4"]
    assert state.requests[0].body["variables"]["skus"] == ["A", "B", "X", "C", "E"]


def test_when_sets_match_always_and_only_declared_match_is_matchable(
    api: tuple[str, t.ApiState]
) -> None:
    base, _ = api
    match = {"path": "/v1/products", "params": {"sku": "{keys}"}, "id_path": "id"}
    for when, expected in ((None, False), ("recovery", False), ("always", True)):
        m = match if when is None else {**match, "when": when}
        sink = t.open_http_sink(options(base, m), key_fields=("sku",))
        assert isinstance(sink, Matchable) and sink.match_always is expected
        sink.close()
    plain = options(base, match)
    del plain["match"]
    sink = t.open_http_sink(plain, key_fields=("sku",))
    assert not isinstance(sink, Matchable) and not isinstance(sink, Listable)
    sink.close()
    both = options(base, match, list={"path": "/v1/products", "id_path": "id"})
    sink = t.open_http_sink(both, key_fields=("sku",))
    assert isinstance(sink, Matchable) and isinstance(sink, Listable)
    sink.close()
