"""``validate``'s checks of ``then`` (one entity in one step), and how a sink exposes its levels
and reads children's ids from its answers. No I/O: check() and the sink's parsing only."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from connectors.api import CheckContext, ConnectorContext, Nested, replay_safe
from connectors.http import HttpConnector
from connectors.http.entity import Capture, captures
from connectors.http.options import HttpDestinationOptions
from connectors.http.options_write import Level
from connectors.http.sink import open_http_sink

FIELDS = frozenset({"sku", "title", "variants"})


def dest(*levels: dict[str, Any]) -> dict[str, Any]:
    return {"base_url": "http://store.invalid",
            "create": {"path": "/products", "body": "{record}", "id_path": "id"},
            "match": {"path": "/products", "params": {"sku": "{keys}"}, "id_path": "id"},
            "then": list(levels)}


def stock(**over: Any) -> dict[str, Any]:
    return {"name": "stock", "key": "sku",
            "upsert": {"path": "/inventory/{item.sku}", "body": {"qty": "{item.available}"}},
            **over}


def variants(**over: Any) -> dict[str, Any]:
    return {"name": "variants", "for_each": "variants", "key": "sku",
            "fields": ["sku", "size", "available"],
            "create": {"path": "/products/{parent.id}/variants", "body": "{item}",
                       "id_path": "id"},
            "match": {"path": "/variants", "params": {"sku": "{keys}"}, "id_path": "id"},
            "then": [stock()], **over}


def problems(options: dict[str, Any]) -> list[tuple[str, str, str]]:
    schema = HttpConnector.destination_options
    assert schema is not None
    jsonschema.validate(options, schema)  # check() runs on options valid against the schema
    found = HttpConnector().check(options, CheckContext("destination", ("sku",), FIELDS))
    return [(p.path, p.severity, p.message) for p in found]


def test_a_well_formed_three_level_entity_has_no_problem() -> None:
    assert problems(dest(variants())) == []


@pytest.mark.parametrize(("level", "path", "says"), [
    (variants(for_each="varients"), "then.0.for_each",
     "varients is not a field of the parent item; did you mean variants?"),
    (variants(key="code"), "then.0.key", "code is not a field of the items"),
    (variants(create={"path": "/products/{parent.sku}/variants", "body": "{item}"}),
     "then.0.create.path", "{parent.sku}: sku is not a part of the parent"),
    (variants(create={"path": "/variants", "body": {"size": "{item.sizes}"}}),
     "then.0.create.body", "{item.sizes}: sizes is not a field of the level's items"),
    (variants(create={"path": "/variants", "body": {"t": "{parent.item.titel}"}}),
     "then.0.create.body", "titel is not a field of the parent item; did you mean title?"),
    (variants(create={"path": "/variants", "body": {"s": "{sku}"}}),
     "then.0.create.body.s", "placeholder {sku} is not available to a level"),
    (variants(then=[stock(upsert={"path": "/inventory", "body": {"q": "{item.qty}"}})]),
     "then.0.then.0.upsert.body", "{item.qty}: qty is not a field"),
])
def test_a_wrong_name_in_a_level_is_located_and_says_what_is_known(
    level: dict[str, Any], path: str, says: str,
) -> None:
    found = problems(dest(level))
    assert [p for p in found if p[0] == path and p[1] == "error" and says in p[2]], found


def test_from_parent_under_a_level_without_a_call_is_an_error() -> None:
    capture = {"records": "data.variants", "id_path": "id"}
    pure = {"name": "variants", "for_each": "variants", "key": "sku",
            "from_parent": capture, "then": [stock(from_parent=capture)]}
    found = problems(dest(pure))
    assert [p[0] for p in found if p[1] == "error"] == ["then.0.then.0.from_parent"]


def test_an_unmatched_child_create_is_a_warning() -> None:
    level = {k: v for k, v in variants().items() if k != "match"}
    found = problems(dest(level))
    assert [(p[0], p[1]) for p in found] == [("then.0.create", "warning")]
    assert "a crash here can create duplicates" in found[0][2]


def test_a_level_needs_a_request_a_capture_or_levels() -> None:
    with pytest.raises(jsonschema.ValidationError):
        problems(dest({"name": "variants", "for_each": "variants", "key": "sku"}))


def test_the_sink_exposes_its_levels_in_order_with_their_own_sinks() -> None:
    ctx = ConnectorContext(job="j", step="products", key_fields=("sku",))
    sink = open_http_sink(
        HttpDestinationOptions.parse(dest(variants(entity="product_variants"))), ctx)
    try:
        assert isinstance(sink, Nested)
        levels = sink.child_levels()
        assert [(lv.name, lv.parent, lv.entity, lv.key_fields, lv.for_each)
                for lv in levels] == [
            ("variants", "", "product_variants", ("sku",), "variants"),
            ("variants.stock", "variants", "stock", ("sku",), None),
        ]
        # The level's creates are matched (its own match), its stock upserts replay safely.
        assert all(lv.sink is not None for lv in levels)
        assert replay_safe(levels[0].sink, "create") is False  # type: ignore[arg-type]
        assert replay_safe(levels[1].sink, "upsert") is True  # type: ignore[arg-type]
    finally:
        sink.close()


def test_children_ids_come_from_the_answer_of_the_action_that_was_sent() -> None:
    then = [{"name": "variants", "key": ["sku"], "from_parent": {
        "records": {"create": "data.productCreate.product.variants",
                    "update": "data.productUpdate.product.variants"},
        "id_path": "id"}}]
    (capture,) = captures([Level.parse(level) for level in then], "")
    assert capture == Capture("variants", {"create": "data.productCreate.product.variants",
                                           "update": "data.productUpdate.product.variants"},
                              ("sku",), "id")
    body = {"data": {"productCreate": {"product": {"variants": [
        {"sku": "A-S", "id": 7}, {"sku": "A-M", "id": None}, {"id": 9}]}}}}
    assert capture.ids("create", body) == {("A-S",): "7"}  # no id or no key: not taken
    assert capture.ids("update", body) == {}


@pytest.mark.parametrize(("create", "sends"), [
    ({"path": "/products", "body": "{record}"}, True),
    ({"path": "/products", "body": {"sku": "{sku}", "variants": "{variants}"}}, True),
    ({"path": "/products", "body": {"sku": "{sku}", "title": "{title}"}}, False),
    ({"graphql": {"document": "mutation($i: In!) { c(i: $i) { id } }",
                  "variables": {"i": {"sku": "{sku}"}}}}, False),
])
def test_a_level_knows_whether_the_parents_call_sends_its_items(
    create: dict[str, Any], sends: bool,
) -> None:
    ctx = ConnectorContext(job="j", step="products", key_fields=("sku",))
    sink = open_http_sink(
        HttpDestinationOptions.parse({**dest(variants()), "create": create}), ctx)
    try:
        top, nested = sink.child_levels()
        assert top.parent_sends is sends  # False: a change only in variants skips the parent
        assert nested.parent_sends is True  # only the step's record has an own part
    finally:
        sink.close()
