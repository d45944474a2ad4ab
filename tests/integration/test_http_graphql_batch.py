"""GraphQL batches through aliases, against a loopback server that runs every aliased field:
many records per request, each record's answer, id and error mapped back to it."""

from __future__ import annotations

from typing import Any

import graphql

from connectors.api import WriteOp, WriteOutcome
from tests.support import http_testapp as t

PRODUCT_CREATE = (
    "mutation Create($input: ProductInput!) { productCreate(input: $input) {"
    " __typename ... on ProductCreatePayload { product { id } userErrors { field message } }"
    " ... on ProductCreateError { errorCode message } } }"
)


def write(options: dict[str, Any], ops: list[WriteOp]) -> list[WriteOutcome]:
    sink = t.open_http_sink(options)
    try:
        return sink.write(ops)
    finally:
        sink.close()


def options(base: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"base_url": base, "max_in_flight": 1, "idempotency_key": {},
            "create": {"path": "/graphql/store", "id_path": "data.productCreate.product.id",
                       "batch": {"size": size},
                       "graphql": {"document": PRODUCT_CREATE,
                                   "variables": {"input": {"sku": "{sku}"}}}},
            **extra}


def create(sku: str) -> WriteOp:
    return WriteOp("create", (sku,), {"sku": sku}, idempotency_key=f"i-{sku}")


def test_many_records_per_request_each_answer_mapped_back(api: tuple[str, t.ApiState]) -> None:
    base, state = api
    skus = ["A", "TAKEN", "B", "TOP", "TYPED", "C", "D"]
    outcomes = write(options(base, 3), [create(s) for s in skus])
    assert len(state.requests) == 3  # 3 + 3 + 1
    assert [o.ok for o in outcomes] == [True, False, True, False, False, True, True]
    # ids in record order although the store numbers its products as it creates them
    assert [o.dest_id for o in outcomes if o.ok] == ["p1", "p2", "p3", "p4"]
    assert outcomes[1].error == ("POST /graphql/store: userErrors: input.sku: SKU has already "
                                 "been taken")
    assert outcomes[3].error == "POST /graphql/store: GraphQL error: Access denied for sku"
    assert outcomes[4].error == ("POST /graphql/store: ProductCreateError INVALID_PRICE: price "
                                 "must be positive")
    first = state.requests[0].body
    assert first["variables"] == {"r0_input": {"sku": "A"}, "r1_input": {"sku": "TAKEN"},
                                  "r2_input": {"sku": "B"}}
    operation = graphql.parse(first["query"]).definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    assert [f.alias.value for f in operation.selection_set.selections
            if isinstance(f, graphql.FieldNode) and f.alias] == [
        "r0_productCreate", "r1_productCreate", "r2_productCreate"]
    # one idempotency key per batch
    keys = {seen.headers["idempotency-key"] for seen in state.requests}
    assert len(keys) == 3


def test_response_rules_judge_each_record_as_if_sent_alone(api: tuple[str, t.ApiState]) -> None:
    base, _ = api
    rule = {"match": {"path": "data.productCreate.userErrors", "contains": "already been taken"},
            "action": "ignore"}
    outcomes = write(options(base, 10, responses=[rule]),
                     [create("TAKEN"), create("TYPED"), create("E")])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[2].dest_id == "p1"
