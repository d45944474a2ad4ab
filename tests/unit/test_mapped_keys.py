"""Lookups and key maps keyed on another output field of the same map (``on: {mapped: NAME}``):
evaluated after the field they name, whatever the order they are written in; cycles refused."""

from __future__ import annotations

from typing import Any

import pytest

from runner.errors import ConfigError, RecordError
from runner.spec import FieldMap, KeymapRef, LookupRef
from runner.transforms.mapping import compile_mappings, mapping_reads

CARRIERS = {"UPS": {"code": "UPS", "name": "United Parcel Service", "alias": "FEDEX"},
            "FEDEX": {"code": "FEDEX", "name": "FedEx", "alias": "UPS"}}


def carrier_map(*extra: FieldMap) -> tuple[FieldMap, ...]:
    # Written with the dependent entries first: the map orders them itself.
    return (
        FieldMap("alias_name", lookup=LookupRef("carriers", "alias", "name", mapped=True)),
        FieldMap("alias", lookup=LookupRef("carriers", "carrier_code", "alias", "quarantine",
                                           mapped=True)),
        FieldMap("shipment_id", field="shipment_id"),
        FieldMap("carrier_code", expr="upper(strip(carrier))"),
        *extra,
    )


def keymap(job: str | None, entity: str, key: tuple[str, ...]) -> str | None:
    return {("orders", ("UPS",)): "ord_9"}.get((entity, key))


def test_a_lookup_takes_its_key_from_a_field_the_map_computed() -> None:
    map_row = compile_mappings(carrier_map(), lookups={"carriers": CARRIERS}, keymap=None)
    out = map_row({"shipment_id": 7, "carrier": " ups "})
    assert out == {"alias_name": "FedEx", "alias": "FEDEX", "shipment_id": 7,
                   "carrier_code": "UPS"}
    assert list(out) == ["alias_name", "alias", "shipment_id", "carrier_code"]  # map order


def test_a_keymap_too_and_misses_follow_the_missing_policy() -> None:
    entries = carrier_map(FieldMap("order_id", keymap=KeymapRef("orders", "carrier_code",
                                                                 mapped=True)))
    map_row = compile_mappings(entries, lookups={"carriers": CARRIERS}, keymap=keymap)
    assert map_row({"shipment_id": 1, "carrier": "ups"})["order_id"] == "ord_9"
    with pytest.raises(RecordError, match="no row in lookup 'carriers' for carrier_code='DHL'"):
        map_row({"shipment_id": 2, "carrier": "dhl"})


def test_the_source_is_not_asked_for_a_mapped_key() -> None:
    assert mapping_reads(carrier_map()) == frozenset({"shipment_id", "carrier"})


def test_a_source_field_of_the_same_name_is_not_what_a_mapped_key_reads() -> None:
    entries = (FieldMap("code", expr="upper(code)"),
               FieldMap("name", lookup=LookupRef("carriers", "code", "name", mapped=True)),
               FieldMap("raw", lookup=LookupRef("carriers", "code", "name", missing="null")))
    row: dict[str, Any] = {"code": "fedex"}
    out = compile_mappings(entries, lookups={"carriers": CARRIERS}, keymap=None)(row)
    assert out == {"code": "FEDEX", "name": "FedEx", "raw": None}


def test_each_items_can_key_on_their_own_mapped_fields() -> None:
    entries = (FieldMap("lines", field="lines", each=(
        FieldMap("code", expr="upper(carrier)"),
        FieldMap("name", lookup=LookupRef("carriers", "code", "name", mapped=True)),
    )),)
    out = compile_mappings(entries, lookups={"carriers": CARRIERS}, keymap=None)(
        {"lines": [{"carrier": "ups"}, {"carrier": "fedex"}]})
    assert out["lines"] == [{"code": "UPS", "name": "United Parcel Service"},
                            {"code": "FEDEX", "name": "FedEx"}]


@pytest.mark.parametrize("entries, message", [
    ((FieldMap("a", lookup=LookupRef("carriers", "b", "name", mapped=True)),
      FieldMap("b", lookup=LookupRef("carriers", "a", "name", mapped=True))),
     "mapped keys form a cycle: a -> b -> a"),
    ((FieldMap("a", lookup=LookupRef("carriers", "a", "name", mapped=True)),),
     "'a' cannot take its key from itself"),
    ((FieldMap("a", keymap=KeymapRef("orders", "nope", mapped=True)),),
     "'nope' is not an output field of this map"),
])
def test_no_order_is_a_configuration_error(entries: tuple[FieldMap, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_mappings(entries, lookups={"carriers": CARRIERS}, keymap=keymap)
