"""The path syntax of the http connector: dots, list indices, quoted odd keys, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.http.template import MISSING, get_path, split_path

BODY = {"carrier_product": {"carrier_product.": "FedEx", "a\"b": 1, "x[0]": 2},
        "lines": [{"sku": "A"}, {"sku": "B"}], "a.b": 3}


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


def test_an_absent_path_is_missing_not_null() -> None:
    assert get_path(BODY, 'carrier_product["carrier_product"]') is MISSING
    assert get_path(BODY, "lines[5].sku") is MISSING
    assert get_path({"a": None}, "a") is None  # a JSON null is a value


@pytest.mark.parametrize(
    ("path", "message"),
    [('a."x', "unclosed quote"), ("a[x]", r"expected \[index\]"), ('a["b"x', "expected ]"),
     ('"a"b', r"expected \. or \["), ('a["b"].', "ends with a dot")],
)
def test_malformed_paths_say_where(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_path(path)


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4))
def test_any_key_can_be_quoted(keys: list[str]) -> None:
    quoted = ".".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)
    assert split_path(quoted) == tuple(keys)


def test_validate_hears_of_a_malformed_path_before_any_run() -> None:
    from connectors.api import CheckContext
    from connectors.http import HttpConnector

    connector = HttpConnector()
    source = {"base_url": "http://x", "request": {"path": "/p"}, "records": 'data."x',
              "select": {"carrier": 'c["carrier_product."', "ok": 'c["carrier_product."]'},
              "pagination": {"type": "cursor", "next_path": "meta[x]"}}
    problems = connector.check(source, CheckContext("source"))
    assert [(p.path, p.severity) for p in problems] == [
        ("records", "error"), ("pagination.next_path", "error"), ("select.carrier", "error")]
    assert "unclosed quote" in problems[0].message
    destination = {"base_url": "http://x", "upsert": {"path": "/p"}, "list": {
        "path": "/p", "id_path": "node.id", "key_fields": ["node.sku", 'node["sku'],
        "pagination": {"type": "relay", "page_info": "data.pageInfo"}}}
    assert [p.path for p in connector.check(destination, CheckContext("destination"))] == [
        "list.key_fields[1]"]
