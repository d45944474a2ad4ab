"""Every paging style, for sources and for ``destination.list``, over a real loopback server:
2,500 objects behind a page cap of 1,000, each seen exactly once; listings that never end are
refused with an error that says why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.api import BadRecord, ReadRequest
from runner.errors import FatalError
from tests.support.http_testapp import open_http_sink, open_http_source
from tests.support.loopback import serve_app
from tests.support.paging_testapp import PagingState, make_paging_app

COUNT = 2500
_STATE = PagingState.of(COUNT)
ALL_SKUS = {f"SKU-{i:05d}" for i in range(1, COUNT + 1)}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve_app(make_paging_app(_STATE)) as url:
        yield url


@pytest.fixture
def state(base: str) -> PagingState:
    _STATE.requests = 0
    _STATE.bodies.clear()
    return _STATE


GQL_RELAY = {"query": "query($after: String, $first: Int) { products(first: $first, "
             "after: $after) { edges { node { id sku } } pageInfo { hasNextPage endCursor } } }",
             "variables": {"first": 2500}}
GQL_SKIP = {"query": "query($skip: Int, $take: Int) { products(skip: $skip, take: $take) "
            "{ items { id sku } } }"}

# (read options, records' key path, requests expected): 3 pages of data, plus the empty page
# that ends a page/offset listing.
STYLES: dict[str, tuple[dict[str, Any], int]] = {
    "page": ({"request": {"path": "/page"}, "pagination": {
        "type": "page", "size_param": "per_page", "size": 1000}}, 4),
    "offset": ({"request": {"path": "/offset"}, "pagination": {"type": "offset",
                                                                "limit": 2500}}, 4),
    "skip_take": ({"request": {"path": "/skip-take"}, "records": "items", "pagination": {
        "type": "offset", "offset_param": "skip", "limit_param": "take", "limit": 1000}}, 4),
    "cursor": ({"request": {"path": "/cursor", "params": {"limit": 2500}},
                "pagination": {"type": "cursor"}}, 3),
    "link": ({"request": {"path": "/link", "params": {"limit": 2500}}, "records": "",
              "pagination": {"type": "link"}}, 3),
    "next_url": ({"request": {"path": "/next"}, "pagination": {"type": "next_url"}}, 3),
    "post_body": ({"request": {"method": "POST", "path": "/search", "body": {"q": "*"}},
                   "pagination": {"type": "offset", "in": "body", "offset_param": "page.offset",
                                  "limit_param": "page.limit", "limit": 1000}}, 4),
    "jsonrpc": ({"jsonrpc": {"path": "/rpc", "method": "search_read", "records":
                             "result.records", "params": {"model": "product"}},
                 "pagination": {"type": "offset", "limit": 1000}}, 4),
    "graphql_relay_nodes": ({"graphql": {**GQL_RELAY, "records": "data.products.nodes"},
                             "pagination": {"type": "relay",
                                            "page_info": "data.products.pageInfo"}}, 3),
    "graphql_page_info": ({"graphql": {**GQL_RELAY, "records": "data.products.nodes",
                                       "page_info": "data.products.pageInfo"}}, 3),
    "graphql_skip_take": ({"graphql": {**GQL_SKIP, "records": "data.products.items"},
                           "pagination": {"type": "offset", "offset_param": "skip",
                                          "limit_param": "take", "limit": 1000}}, 4),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_source_reads_every_object_once(base: str, state: PagingState, style: str) -> None:
    options, requests = STYLES[style]
    source = open_http_source({"base_url": base, **options})
    try:
        rows = list(source.read(ReadRequest()))
    finally:
        source.close()
    counts = Counter(r["sku"] for r in rows)
    assert set(counts) == ALL_SKUS and max(counts.values()) == 1
    assert state.requests == requests


def test_post_body_and_rpc_params_carry_the_paging_values(base: str, state: PagingState) -> None:
    options, _ = STYLES["post_body"]
    source = open_http_source({"base_url": base, **options})
    list(source.read(ReadRequest()))
    source.close()
    assert [b["page"] for b in state.bodies] == [
        {"offset": o, "limit": 1000} for o in (0, 1000, 2000, 2500)]
    assert all(b["q"] == "*" for b in state.bodies)  # the user's body is kept


def _list_options(style: str) -> dict[str, Any]:
    options, _ = STYLES[style]
    listing: dict[str, Any] = {"key_fields": ["sku"], "id_path": "id",
                               "pagination": options.get("pagination")}
    if "request" in options:
        listing.update(options["request"])
        listing["records"] = options.get("records", "data")
    else:
        listing.update({k: v for k, v in options.items() if k in ("graphql", "jsonrpc")})
    if listing["pagination"] is None:
        del listing["pagination"]
    return listing


@pytest.mark.parametrize("style", sorted(STYLES))
def test_list_keys_sees_every_object_once(base: str, state: PagingState, style: str) -> None:
    sink = open_http_sink({"base_url": base, "upsert": {"path": "/x"},
                           "list": _list_options(style)}, key_fields=("sku",))
    try:
        pairs = list(sink.list_keys())
    finally:
        sink.close()
    assert len(pairs) == COUNT
    assert {key[0] for key, _ in pairs} == ALL_SKUS
    assert all(dest_id == f"gid://p/{int(key[0][4:])}" for key, dest_id in pairs)


def test_list_keys_reads_relay_edges_and_reports_every_id_of_a_duplicated_key(
    base: str, state: PagingState,
) -> None:
    _STATE.items[1700]["sku"] = _STATE.items[3]["sku"]  # a natural key claimed twice
    try:
        sink = open_http_sink({"base_url": base, "upsert": {"path": "/x"}, "list": {
            "graphql": {**GQL_RELAY, "records": "data.products.edges"},
            "pagination": {"type": "relay", "page_info": "data.products.pageInfo"},
            "key_fields": ["node.sku"], "id_path": "node.id"}})
        pairs = list(sink.list_keys())
        sink.close()
    finally:
        _STATE.items[1700]["sku"] = "SKU-01701"
    ids_of = [dest for key, dest in pairs if key == ("SKU-00004",)]
    assert ids_of == ["gid://p/4", "gid://p/1701"]
    assert len(pairs) == COUNT


# --- the never-ending guard -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "pagination", "message"),
    [
        ("/loop/cursor", {"type": "cursor"}, "same next page as the one before"),
        ("/loop/same", {"type": "offset", "limit": 3}, "same items as the page before"),
        ("/loop/empty", {"type": "cursor"}, "empty but claims a next page"),
        ("/loop/forever", {"type": "cursor", "max_pages": 25}, r"pagination.max_pages \(25\)"),
    ],
)
def test_a_listing_that_never_ends_is_refused(
    base: str, state: PagingState, path: str, pagination: dict[str, Any], message: str,
) -> None:
    source = open_http_source({"base_url": base, "request": {"path": path},
                               "pagination": pagination})
    with pytest.raises(FatalError, match=message):
        list(source.read(ReadRequest()))
    source.close()
    assert state.requests <= 25


def test_a_never_ending_list_is_refused_too(base: str, state: PagingState) -> None:
    sink = open_http_sink({"base_url": base, "upsert": {"path": "/x"}, "list": {
        "path": "/loop/same", "id_path": "id", "key_fields": ["sku"],
        "pagination": {"type": "page"}}})
    with pytest.raises(FatalError, match="same items as the page before"):
        list(sink.list_keys())
    sink.close()


# --- paths ------------------------------------------------------------------------------------


def test_select_addresses_a_key_with_a_trailing_dot_and_quarantines_a_missing_path(
    base: str, state: PagingState,
) -> None:
    _STATE.items[2]["carrier_product"] = {}
    try:
        source = open_http_source({
            "base_url": base, "request": {"path": "/offset", "params": {"limit": 5}},
            "select": {"sku": "sku", "carrier": 'carrier_product["carrier_product."]',
                       "also": '"carrier_product"."carrier_product."',
                       "note": {"path": "note", "optional": True}}})
        rows = list(source.read(ReadRequest()))[:5]
        source.close()
    finally:
        _STATE.items[2]["carrier_product"] = {"carrier_product.": "C3"}
    assert rows[0] == {"sku": "SKU-00001", "carrier": "C1", "also": "C1", "note": None}
    bad = rows[2]
    assert isinstance(bad, BadRecord)
    assert "select.carrier" in bad.reason and "carrier_product[\"carrier_product.\"]" in bad.reason


def test_the_rest_and_graphql_forms_kept_for_match_page_the_same_way(
    base: str, state: PagingState,
) -> None:
    from connectors.api import MISSING, ConnectorContext
    from connectors.http.client import HttpClient
    from connectors.http.options import HttpOptions
    from connectors.http.options_read import CursorPaging
    from connectors.http.pagination import graphql_pages, relay, rest_pages

    client = HttpClient(HttpOptions.parse({"base_url": base}),
                        ConnectorContext(job="t", step="s"))
    try:
        rest = [i["sku"] for page in rest_pages(
            client, method="get", path="/cursor", params={"limit": 2500}, body=MISSING,
            records_path="data", pagination=CursorPaging.parse({"type": "cursor"}))
            for i in page]
        gql = [i["sku"] for page in graphql_pages(
            client, path="/graphql", records="data.products.nodes",
            query=GQL_RELAY["query"], variables={"first": 1000},
            pagination=relay("data.products.pageInfo", "after")) for i in page]
    finally:
        client.close()
    assert sorted(rest) == sorted(gql) == sorted(ALL_SKUS)
