"""One path syntax (runner.paths) for the pipeline language and the http connector: dots, list
indices, quoted odd keys; a missing path is an error with its reason, never a silent null."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.api import MISSING, PathError, get_path, split_path
from runner.errors import RecordError, RunFailed
from runner.paths import format_path, getter, path_error, root_field
from runner.spec import All, Compare, ConnectorRef, FieldMap, KeymapRef, LookupRef, Step
from runner.transforms import Rejected, Transformed, compile_filter, compile_step
from runner.transforms.mapping import compile_mappings

BODY = {"carrier_product": {"carrier_product.": "FedEx", "a\"b": 1, "x[0]": 2},
        "lines": [{"sku": "A"}, {"sku": "B"}], "a.b": 3}


# --- the parser and the connectors' reader ------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ('carrier_product["carrier_product."]', "FedEx"),
        ('carrier_product."carrier_product."', "FedEx"),
        ('"carrier_product"."carrier_product."', "FedEx"),
        ('carrier_product["a\\"b"]', 1),
        ('carrier_product["x[0]"]', 2),
        ("lines.1.sku", "B"),
        ("lines[1].sku", "B"),
        ('"a.b"', 3),
    ],
)
def test_quoted_keys_and_indices_are_addressed(path: str, value: object) -> None:
    assert get_path(BODY, path) == value
    assert getter(path)(BODY) == value  # the language reads them the same way


def test_an_absent_path_is_missing_not_null_for_connectors() -> None:
    assert get_path(BODY, 'carrier_product["carrier_product"]') is MISSING
    assert get_path(BODY, "lines[5].sku") is MISSING
    assert get_path({"a": None}, "a") is None  # a JSON null is a value
    assert get_path([1, 2], "") == [1, 2]  # an empty path is the body itself


@pytest.mark.parametrize(
    ("path", "message"),
    [('a."x', "unclosed quote"), ("a[x]", r"expected \[index\]"), ('a["b"x', "expected ]"),
     ('"a"b', r"expected \. or \["), ('a["b"].', "ends with a dot"),
     ("carrier_product.", r'ends with a dot; quote a key that ends with one: "carrier_product\."'),
     ("carrier.carrier_product.", r'carrier\["carrier_product\."\]'),
     ("a..b", "empty key between two dots"), (".a", "starts with a dot"),
     ('a"b.c', "unexpected quote at column 2")],
)
def test_malformed_paths_say_where_and_how_to_fix(path: str, message: str) -> None:
    with pytest.raises(PathError, match=message):
        split_path(path)
    assert path_error(path) is not None
    with pytest.raises(ValueError):  # callers catching ValueError keep working
        getter(path)


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4))
def test_any_key_can_be_quoted_and_written_back(keys: list[str]) -> None:
    quoted = ".".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)
    assert split_path(quoted) == tuple(keys)
    assert split_path(format_path(tuple(keys))) == tuple(keys)


def test_root_field_is_what_a_source_must_select() -> None:
    assert root_field("customer.email") == "customer"
    assert root_field('"odd.key".x') == "odd.key"
    assert root_field("lines[0].sku") == "lines"
    assert root_field("sku") == "sku"


# --- the language's reader: the missing-path rule --------------------------------------------


ORDER = {"id": 17, "customer": {"carrier": {"id": 1, "name": "UPS"}, "note": None},
         "lines": [{"sku": "A"}], "total": 9.5}


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("customer.carrier.code", "no key 'code' in customer.carrier (keys: id, name)"),
        ("lines[3].sku", "no item 3 in lines (a list of 1)"),
        ("lines.sku", "lines is a list; index it with a number, not 'sku'"),
        ("total.amount", "total is 9.5 (float), not an object with a key 'amount'"),
        ('customer["carrier."].id', "no key 'carrier.' in customer (keys: carrier, note)"),
    ],
)
def test_a_missing_tail_is_an_error_naming_the_path_and_what_was_there(
    path: str, reason: str,
) -> None:
    with pytest.raises(RecordError) as caught:
        getter(path, where="carrier")(ORDER)
    assert str(caught.value) == f"carrier: {reason}"
    assert caught.value.field == "carrier"
    assert getter(path, optional=True)(ORDER) is None


def test_a_missing_root_and_a_present_null_stay_null() -> None:
    assert getter("shipping.city")(ORDER) is None  # the root is not there at all
    assert getter("customer.note.text")(ORDER) is None  # null, however deep the path goes
    assert getter("customer.note")(ORDER) is None


def test_a_literal_key_with_a_dot_wins_for_flat_rows() -> None:
    assert getter("a.b")({"a.b": 1, "a": {"b": 2}}) == 1
    assert getter("a.b")({"a": {"b": 2}}) == 2


def test_a_wide_object_lists_ten_keys() -> None:
    row = {"o": {f"k{i}": i for i in range(12)}}
    with pytest.raises(RecordError, match=r"\(keys: k0, k1, .*, k9, \.\.\.\)"):
        getter("o.x")(row)


# --- map, filters and key use it --------------------------------------------------------------


def test_map_reads_indices_both_ways_and_quoted_keys() -> None:
    rows = [{"lines": [{"sku": "A", "carrier": {"carrier_product.": "FedEx"}}]}]
    map_row = compile_mappings((
        FieldMap("dotted", field="lines.0.sku"),
        FieldMap("bracket", field="lines[0].sku"),
        FieldMap("quoted", field='lines[0].carrier["carrier_product."]'),
        FieldMap("typed", field="lines.0.sku", type="string", required=True),
    ), lookups=None, keymap=None)
    assert map_row(rows[0]) == {"dotted": "A", "bracket": "A", "quoted": "FedEx", "typed": "A"}


def test_map_quarantines_a_missing_path_unless_told_missing_null() -> None:
    row = {"customer": {"carrier": {"id": 1, "name": "UPS"}}}
    strict = compile_mappings((FieldMap("carrier", field="customer.carrier.code"),),
                              lookups=None, keymap=None)
    with pytest.raises(RecordError, match=r"^carrier: no key 'code' in customer.carrier "
                                          r"\(keys: id, name\)$"):
        strict(row)
    optional = compile_mappings((
        FieldMap("carrier", field="customer.carrier.code", missing="null"),
        FieldMap("with_default", field="customer.carrier.code", missing="null",
                 default="none", has_default=True),
    ), lookups=None, keymap=None)
    assert optional(row) == {"carrier": None, "with_default": "none"}
    failing = compile_mappings((FieldMap("carrier", field="customer.carrier.code",
                                         missing="fail"),), lookups=None, keymap=None)
    with pytest.raises(RunFailed, match="missing: fail"):
        failing(row)


def test_coalesce_passes_over_an_absent_path_but_not_over_all_of_them() -> None:
    fm = FieldMap("email", coalesce=("customer.email", "billing.email"))
    pick = compile_mappings((fm,), lookups=None, keymap=None)
    assert pick({"customer": {}, "billing": {"email": "b@x"}}) == {"email": "b@x"}
    assert pick({"customer": {"email": None}, "billing": {}}) == {"email": None}
    with pytest.raises(RecordError, match="no key 'email' in customer"):
        pick({"customer": {}, "billing": {}})
    lenient = compile_mappings((FieldMap("email", coalesce=fm.coalesce, missing="null"),),
                               lookups=None, keymap=None)
    assert lenient({"customer": {}, "billing": {}}) == {"email": None}


def test_lookup_and_keymap_on_read_paths() -> None:
    map_row = compile_mappings((
        FieldMap("rate", lookup=LookupRef("tax", 'item["tax.group"]', "rate", "quarantine")),
        FieldMap("product_id", keymap=KeymapRef("products", "item.sku", None, "quarantine")),
    ), lookups={"tax": {"T1": {"rate": 0.2}}},
        keymap=lambda job, entity, key: f"gid://{key[0]}")
    row = {"item": {"tax.group": "T1", "sku": "A"}}
    assert map_row(row) == {"rate": 0.2, "product_id": "gid://A"}
    with pytest.raises(RecordError, match=r"^rate: no key 'tax.group' in item \(keys: sku\)"):
        map_row({"item": {"sku": "A"}})


def test_filters_read_quoted_keys_and_quarantine_a_missing_path() -> None:
    keep = compile_filter(All((Compare('attrs["sell.online"]', "equals", True),
                               Compare("stock[0].qty", "gt", 0))))
    assert keep({"attrs": {"sell.online": True}, "stock": [{"qty": 2}]}) is True
    assert keep({"attrs": {"sell.online": False}, "stock": [{"qty": 2}]}) is False
    with pytest.raises(RecordError, match=r"^filter stock\[0\].qty: no item 0 in stock"):
        keep({"attrs": {"sell.online": True}, "stock": []})


def _step(**kwargs: Any) -> Step:
    return Step(name="s", source=ConnectorRef("memdb"), destination=ConnectorRef("memdb"),
                **kwargs)


def test_a_step_without_map_is_keyed_by_a_path_and_quarantines_a_record_without_it() -> None:
    step = _step(key=('ids["sku.v2"]',), mappings=None,
                 filter=Compare("meta.online", "equals", True))
    rows = [{"ids": {"sku.v2": "A"}, "meta": {"online": True}},
            {"ids": {"sku": "B"}, "meta": {"online": True}},
            {"ids": {"sku.v2": "C"}, "meta": {}},
            {"ids": {"sku.v2": "D"}, "meta": {"online": True}}]
    out = list(compile_step(step, residual_filter=step.filter).apply(rows))
    assert [o.key for o in out if isinstance(o, Transformed)] == [("A",), ("D",)]
    assert [o.reason for o in out if isinstance(o, Rejected)] == [
        "key ids[\"sku.v2\"]: no key 'sku.v2' in ids (keys: sku)",
        "filter meta.online: no key 'online' in meta (keys: none, it is empty)",
    ]


def test_a_missing_path_in_a_batch_rejects_that_record_only() -> None:
    step = _step(key=("sku",), mappings=(FieldMap("sku", field="sku"),
                                         FieldMap("carrier", field="customer.carrier.code")))
    rows = [{"sku": f"S{i}", "customer": {"carrier": {"code": "UPS"} if i != 2 else {"id": 1}}}
            for i in range(4)]
    out = list(compile_step(step).apply(rows))
    assert [o.record["sku"] for o in out if isinstance(o, Transformed)] == ["S0", "S1", "S3"]
    (bad,) = [o for o in out if isinstance(o, Rejected)]
    assert bad.reason == "carrier: no key 'code' in customer.carrier (keys: id)"
    assert bad.key == ("S2",)  # the quarantine listing still knows which record it was


# --- the http connector checks the same syntax -----------------------------------------------


def test_validate_hears_of_a_malformed_path_before_any_run() -> None:
    from connectors.api import CheckContext
    from connectors.http import HttpConnector

    connector = HttpConnector()
    source = {"base_url": "http://x", "request": {"path": "/p"}, "records": 'data."x',
              "select": {"carrier": 'c["carrier_product."', "ok": 'c["carrier_product."]',
                         "dot": "c.carrier_product."},
              "pagination": {"type": "cursor", "next_path": "meta[x]"}}
    problems = connector.check(source, CheckContext("source"))
    assert [(p.path, p.severity) for p in problems] == [
        ("records", "error"), ("pagination.next_path", "error"), ("select.carrier", "error"),
        ("select.dot", "error")]
    assert "unclosed quote" in problems[0].message
    assert 'c["carrier_product."]' in problems[3].message  # the fix, spelled out
    destination = {"base_url": "http://x", "upsert": {"path": "/p"}, "list": {
        "path": "/p", "id_path": "node.id", "key_fields": ["node.sku", 'node["sku'],
        "pagination": {"type": "relay", "page_info": "data.pageInfo"}}}
    assert [p.path for p in connector.check(destination, CheckContext("destination"))] == [
        "list.key_fields[1]"]


def test_the_module_examples_run() -> None:
    import doctest

    import runner.paths

    assert doctest.testmod(runner.paths).failed == 0
