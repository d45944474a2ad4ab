"""The sandbox's GraphQL cost reckoning on documents, without a server: connections, fragments,
aliases, variables and the refund of a short page."""

from __future__ import annotations

from graphql import parse

from runner.demo.sandbox.graphql_api import schema
from runner.demo.sandbox.graphql_cost import requested_cost


def cost(query: str, **variables: object) -> tuple[int, list[tuple[str, int, int]]]:
    found = requested_cost(schema(), parse(query), None, variables, default_page=100)
    return found.requested, found.connections


def test_connection_is_two_plus_page_size_times_item() -> None:
    assert cost("{ products(first: 10) { nodes { sku } } }") == (12, [("products", 10, 1)])
    # Edges and nodes in one query name the same items: counted once.
    assert cost("{ products(take: 5) { edges { cursor node { sku } } nodes { id } } }")[0] == 7
    # Lists of objects inside a node cost 1 each; pageInfo and scalars nothing.
    query = "{ orders(first: 3) { pageInfo { hasNextPage }"
    query += " nodes { customer { email } lines { sku } } } }"
    assert cost(query)[0] == 2 + 3 * 3


def test_defaults_variables_aliases_and_fragments() -> None:
    assert cost("{ products { totalCount } }")[0] == 2  # no items asked for
    assert cost("{ products { nodes { sku } } }")[0] == 102  # the default page
    query = 'query ($n: Int) { a: products(first: $n) { ...P } b: order(id: "x") { id } }'
    query += " fragment P on ProductConnection { nodes { variants { sku } } }"
    requested, connections = cost(query, n=4)
    assert requested == (2 + 4 * 2) + 1
    assert connections == [("a", 4, 2)]


def test_mutations_cost_ten_each_and_short_pages_refund() -> None:
    two = 'mutation { a: productDelete(id: "x") { deletedProductId }'
    two += ' b: productDelete(id: "y") { deletedProductId } }'
    assert cost(two)[0] == 20
    found = requested_cost(
        schema(), parse("{ p: products(first: 10) { nodes { sku } } }"), None, {}, default_page=100
    )
    assert found.actual({"p": {"nodes": [{"sku": "A"}, {"sku": "B"}]}}) == 2 + 2
    assert found.actual(None) == 2
