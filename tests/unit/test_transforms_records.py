"""Row hashes, JSON-ready records and per-batch dedupe."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.errors import RecordError
from runner.transforms import Transformed, dedupe_by_key, jsonable, row_hash

RECORD = {
    "sku": "A1", "price": Decimal("9.90"), "qty": 3, "on": True, "tags": ["x", "y"],
    "updated": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "day": dt.date(2024, 1, 2),
    "dims": {"w": 1.5, "h": None},
}


def test_row_hash_ignores_key_order_at_every_level() -> None:
    shuffled = {k: RECORD[k] for k in reversed(list(RECORD))}
    shuffled["dims"] = {"h": None, "w": 1.5}
    assert row_hash(shuffled) == row_hash(RECORD)
    assert len(row_hash(RECORD)) == 32


def test_row_hash_changes_with_any_value() -> None:
    base = row_hash(RECORD)
    for field, value in [("sku", "A2"), ("price", Decimal("9.91")), ("qty", 4), ("on", False),
                         ("tags", ["y", "x"]), ("day", dt.date(2024, 1, 3)), ("dims", {"w": 1.5})]:
        assert row_hash({**RECORD, field: value}) != base, field
    assert row_hash({**RECORD, "extra": None}) != base


def test_decimal_hashes_by_its_written_form() -> None:
    # Decimal('1.0') and Decimal('1.00') serialise differently, so they hash differently;
    # a `scale` conversion quantizes them to the same value first.
    assert row_hash({"p": Decimal("1.0")}) != row_hash({"p": Decimal("1.00")})
    assert row_hash({"p": Decimal("1.00")}) == row_hash({"p": Decimal("1.00")})


def test_row_hash_is_stable_across_processes() -> None:
    code = (
        "import datetime as dt; from decimal import Decimal; "
        "from runner.transforms import row_hash; "
        "print(row_hash({'sku': 'A1', 'price': Decimal('9.90'), 'day': dt.date(2024, 1, 2),"
        " 'n': {'b': 1, 'a': [1, 2]}}))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs == {row_hash({"n": {"a": [1, 2], "b": 1}, "day": dt.date(2024, 1, 2),
                                 "price": Decimal("9.90"), "sku": "A1"})}


def test_row_hash_of_unserialisable_value_is_record_error() -> None:
    with pytest.raises(RecordError, match="cannot be hashed"):
        row_hash({"x": object()})


def test_jsonable_keeps_precision_and_isoformats() -> None:
    out = jsonable(RECORD)
    assert out == {
        "sku": "A1", "price": "9.90", "qty": 3, "on": True, "tags": ["x", "y"],
        "updated": "2024-01-02T03:04:05+00:00", "day": "2024-01-02",
        "dims": {"w": 1.5, "h": None},
    }
    assert json.loads(json.dumps(out)) == out
    nested = jsonable({"lines": ({"p": Decimal("1.5")},), "s": {3}, "b": b"\x00\x01"})
    assert nested == {"lines": [{"p": "1.5"}], "s": [3], "b": "AAE="}


def test_dedupe_keeps_the_last_occurrence_of_each_key() -> None:
    items = [Transformed({"v": i}, key, {}) for i, key in
             enumerate([("a",), ("b",), ("a",), ("c",), ("b",)])]
    kept = list(dedupe_by_key(items))
    assert [(t.key, t.record["v"]) for t in kept] == [(("a",), 2), (("c",), 3), (("b",), 4)]
    assert list(dedupe_by_key([])) == []


def _last_occurrences(items: list[Transformed]) -> list[Transformed]:
    """The rule spelled out: each key's last item, ordered by where those last items stand."""
    last_at = {t.key: i for i, t in enumerate(items)}
    return [t for i, t in enumerate(items) if last_at[t.key] == i]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=12),
       st.booleans())
def test_dedupe_is_the_last_occurrences_in_their_order(keys: list[str], as_iter: bool) -> None:
    items = [Transformed({"v": i}, (k,), {}) for i, k in enumerate(keys)]
    kept = list(dedupe_by_key(iter(items) if as_iter else items))
    assert [id(t) for t in kept] == [id(t) for t in _last_occurrences(items)]


def test_row_hash_is_the_hash_of_the_sorted_dump_whatever_the_key_types() -> None:
    # Stored hashes must not move across versions: the hash is BLAKE2b-128 of orjson's dump
    # with sorted keys (non-string keys dumped as strings), whichever path computed it.
    both = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    for record in ({"b": 1, "a": [{"y": None, "x": 2.5}]}, {1: "a", "b": {2: "x"}}):
        expected = hashlib.blake2b(orjson.dumps(record, option=both), digest_size=16).hexdigest()
        assert row_hash(record) == expected
