"""``HttpConnector.check``: what the http connector would refuse at open or write time, said
before a run (no I/O), each problem at its dotted path inside the options block."""

from __future__ import annotations

from typing import Any

from connectors.api import CheckContext, OptionProblem
from connectors.http import HttpConnector

FIELDS = frozenset({"sku", "title", "qty", "carrier", "order_id", "warehouse"})
DEST = CheckContext(role="destination", key_fields=("sku",), fields=FIELDS)
MUTATION = "mutation($input: ProductInput!) { productCreate(input: $input) { product { id } } }"


def check(options: dict[str, Any], ctx: CheckContext = DEST) -> list[OptionProblem]:
    return HttpConnector().check({"base_url": "http://api", **options}, ctx)


def errors(options: dict[str, Any], ctx: CheckContext = DEST) -> dict[str, str]:
    found = {p.path: p.message for p in check(options, ctx) if p.severity == "error"}
    return found


def upsert(**opts: Any) -> dict[str, Any]:
    return {"upsert": opts}


def test_a_sound_destination_has_no_problem() -> None:
    options = {
        "idempotency_key": {},
        "create": {"path": "/v1/orders", "body": "{record}", "id_path": "data.id"},
        "update": {"method": "PUT", "path": "/v1/orders/{dest_id}",
                   "body": {"qty": "{qty}", "note": "a {{ literal }} brace, {sku}"}},
        "upsert": {"graphql": {"document": MUTATION, "variables": {"input": "{record}"}}},
        "delete": {"method": "DELETE", "path": "/v1/orders/{dest_id}"},
    }
    assert check(options) == []


def test_batch_on_jsonrpc_is_refused() -> None:
    found = errors(upsert(jsonrpc={"method": "order.create", "params": "{record}"},
                          batch={"size": 50}))
    assert list(found) == ["upsert.batch"]
    assert "batch is supported for REST and GraphQL only" in found["upsert.batch"]


def test_batch_on_graphql_goes_through_aliases() -> None:
    gql = {"document": MUTATION, "variables": {"input": "{record}"}}
    assert check(upsert(graphql=gql, batch={"size": 50})) == []
    record_is_input = CheckContext(role="destination", fields=frozenset({"input"}))
    problems = check(upsert(graphql={**gql, "variables": "{record}"},
                            batch={"size": 50, "results": "data"}), record_is_input)
    assert [(p.path, p.severity) for p in problems] == [
        ("upsert.batch.results", "warning"), ("upsert.graphql.variables", "error")]
    fragments = "mutation { ...F } fragment F on Mutation { make { id } }"
    found = errors(upsert(graphql={"document": fragments}, batch={"size": 5}))
    assert "select fields at its root" in found["upsert.graphql.document"]


def test_graphql_document_is_graphql_not_a_template() -> None:
    # `{__typename}` is a selection, `}}` two closing braces: the document parses as written.
    options = upsert(graphql={"document": "query{__typename}", "variables": {}})
    assert check(options) == []
    options = upsert(graphql={"document": "mutation { a { b { c }}}", "variables": {}})
    assert check(options) == []


def test_graphql_document_that_does_not_parse() -> None:
    found = errors(upsert(graphql={"document": "mutation { a { id } ", "variables": {}}))
    assert found["upsert.graphql.document"].startswith(
        "the GraphQL document does not parse: Syntax Error: Expected Name, found <EOF>")
    found = errors(upsert(graphql={"document": "mutation {{ a { id }}}", "variables": {}}))
    assert found["upsert.graphql.document"].endswith(
        "the document is sent as written: write single braces")


def test_graphql_variables_against_the_document() -> None:
    doc = ("mutation($input: ProductInput!, $note: String, $lang: String! = \"en\") "
           "{ productCreate(input: $input, note: $note, lang: $lang, extra: $extra) { id } }")
    problems = check(upsert(graphql={"document": doc, "variables": {"note": "{title}",
                                                                    "shop": "{sku}"}}))
    assert [(p.path, p.severity) for p in problems] == [
        ("upsert.graphql.document", "error"),  # $extra used, never declared
        ("upsert.graphql.variables", "error"),  # $input required, not provided
        ("upsert.graphql.variables.shop", "warning"),  # provided, not declared
    ]
    assert "$extra is used but not declared" in problems[0].message
    assert "declares $input as required" in problems[1].message
    # "{record}" provides the record's fields as variables
    fields = CheckContext(role="destination", fields=frozenset({"input"}))
    assert check(upsert(graphql={"document": MUTATION, "variables": "{record}"}), fields) == []


def test_placeholders_must_name_the_records_fields() -> None:
    found = errors({
        "create": {"path": "/v1/inventory/{warehouse_code}/batch",
                   "body": {"carrier": "{carier}", "sku": "{sku}", "id": "{dest_id}"}},
    })
    assert found == {
        "create.path": "placeholder {warehouse_code} is not a field of the record (the step's "
        "map) nor a special; did you mean {warehouse}? it can use: carrier, dest_id, "
        "idempotency_key, key, order_id, qty, record, sku, title, warehouse",
        "create.body.carrier": found["create.body.carrier"],
    }
    assert "did you mean {carrier}?" in found["create.body.carrier"]


def test_unknown_fields_unknowable_without_the_steps_fields() -> None:
    unknown = CheckContext(role="destination", key_fields=("sku",), fields=None)
    assert errors({"create": {"path": "/x/{anything}", "body": "{record}"}}, unknown) == {}
    found = errors({"create": {"path": "/x/{__class__}", "body": "{record}"}}, unknown)
    assert "cannot start with '__'" in found["create.path"]


def test_unquoted_record_is_a_yaml_mapping() -> None:
    found = errors({"create": {"path": "/v1/orders", "body": {"record": None}}})
    assert found == {"create.body": "{record} unquoted is a YAML mapping, not a placeholder; "
                                    "quote it: body: \"{record}\""}
    found = errors(upsert(graphql={"document": MUTATION, "variables": {"input": {"record": None}}}))
    assert found["upsert.graphql.variables.input"].endswith('quote it: input: "{record}"')


def test_doubled_braces_are_literal_text() -> None:
    found = errors({"create": {"path": "/v1/orders", "body": {"sku": "{{sku}}"}}})
    assert found == {"create.body.sku": "{{sku}} is the literal text {sku}, not a placeholder; "
                                        "write {sku} (double braces are escapes for a literal "
                                        "brace)"}


def test_a_create_has_no_dest_id_and_a_rest_action_needs_a_path() -> None:
    found = errors({"create": {"path": "/v1/orders/{dest_id}", "body": "{record}"},
                    "update": {"body": "{record}"}})
    assert "a create has no {dest_id} yet" in found["create.path"]
    assert found["update"] == "update has no path; add the request path"


def test_batch_wrapper_uses_records_and_count_only() -> None:
    found = errors({"create": {"path": "/v1/p", "body": "{record}",
                               "batch": {"size": 10,
                                         "body": {"items": "{records}", "n": "{sku}"}}}})
    assert list(found) == ["create.batch.body.n"]


def test_list_and_match_placeholders() -> None:
    found = errors({
        "create": {"path": "/v1/p", "body": "{record}"},
        "list": {"path": "/v1/p", "params": {"since": "{cursor}"}, "id_path": "id"},
        "match": {"path": "/v1/p", "params": {"sku": "{keys}", "t": "{title}"}, "id_path": "id"},
    })
    assert list(found) == ["list.params.since", "match.params.t"]
    assert "a listing is sent as written" in found["list.params.since"]
    # a key field in the path: one key per request
    assert errors({"create": {"path": "/v1/p", "body": "{record}"},
                   "match": {"path": "/v1/p/by-sku/{sku}", "id_path": "id"}}) == {}


def test_match_graphql_document_and_composite_keys() -> None:
    found = errors({
        "create": {"path": "/v1/p", "body": "{record}"},
        "match": {"id_path": "id", "graphql": {
            "document": "query($skus: [String!]!, $after: String) { p(skus: $skus) { id }",
            "variables": {"skus": "{keys}"}}},
    })
    assert list(found) == ["match.graphql.document"]
    composite = CheckContext(role="destination", key_fields=("sku", "warehouse"), fields=FIELDS)
    found = errors({"create": {"path": "/v1/p", "body": "{record}"},
                    "match": {"path": "/v1/p", "params": {"k": "{keys}"}, "id_path": "id"}},
                   composite)
    assert "composite key" in found["match.params"]


def test_creates_that_a_crash_can_duplicate_are_a_warning() -> None:
    create = {"path": "/v1/p", "body": "{record}"}
    warned = [p for p in check({"create": create}) if p.severity == "warning"]
    assert [p.path for p in warned] == ["create"]
    assert warned[0].message.startswith("a crash here can create duplicates")
    assert check({"create": create, "idempotency_key": {}}) == []
    assert check({"create": create,
                  "match": {"path": "/v1/p", "params": {"sku": "{keys}"}, "id_path": "id"}}) == []


def test_source_templates_can_use_only_the_cursor() -> None:
    source = CheckContext(role="source")
    found = errors({"request": {"path": "/v1/orders", "params": {"since": "{cursro}"}}}, source)
    assert "did you mean {cursor}?" in found["request.params.since"]
    found = errors({"graphql": {"query": "query($after: String) { orders(after: $after) { id }",
                                "records": "data.orders"}}, source)
    assert list(found) == ["graphql.query"]
    assert check({"graphql": {"query": "query($after: String) { o(after: $after) { id } }",
                              "records": "data.o", "variables": {"since": "{cursor}"}}},
                 source) == [OptionProblem("graphql.variables.since",
                                           "the document declares no $since; declare it or "
                                           "remove it from variables", "warning")]
