"""Changes runs hash the source row before mapping it (issue 16): an unchanged row is not
mapped, a changed lookup or mapping maps and compares every row again, and the plan agrees."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
import pytest
import xxhash

from runner.engine import run_job
from runner.spec import ConnectorRef, FieldMap, LookupRef, LookupSpec, NestSpec
from runner.state.base import StateStore
from runner.transforms.prehash import skip_unchanged, source_hasher
from tests.support.doubles import World
from tests.support.mapping_spy import mapped
from tests.unit.test_engine import make_job, make_step, row

__all__ = ["mapped"]  # the fixture


def _run(job: Any, state: StateStore) -> Any:
    return run_job(job, project=None, state=state, sleep=lambda s: None)


def test_unchanged_source_rows_are_not_mapped(world: World, state: StateStore,
                                              mapped: list[str]) -> None:
    world.rows["erp"] = [row(i) for i in range(6)]
    job = make_job(make_step())
    assert _run(job, state).steps[0].created == 6
    assert sorted(mapped) == [f"A{i}" for i in range(6)]  # the first run maps every row

    mapped.clear()
    world.rows["erp"][4] = row(4, name="renamed")
    dest = world.sink("store")
    dest.writes.clear()
    second = _run(job, state).steps[0]
    assert mapped == ["A4"]  # only the changed row went through the mapping
    assert [op.key for op in dest.ops] == [("A4",)]
    assert dest.records[("A4",)]["title"] == "renamed"
    assert (second.unchanged, second.updated, second.read) == (5, 1, 6)


def test_a_changed_source_that_maps_to_the_same_record_is_not_written_and_not_remapped(
        world: World, state: StateStore, mapped: list[str]) -> None:
    # modified_at is read (the source hash covers it) but not mapped: the record is the same.
    world.rows["erp"] = [row(i) for i in range(3)]
    job = make_job(make_step())
    _run(job, state)
    world.rows["erp"][1] = row(1, ts="2030-01-01T00:00:00")
    dest = world.sink("store")
    dest.writes.clear()
    mapped.clear()
    assert _run(job, state).steps[0].unchanged == 3
    assert mapped == ["A1"] and dest.ops == []
    mapped.clear()
    assert _run(job, state).steps[0].unchanged == 3
    assert mapped == []  # the new source hash was kept although nothing was written


def _lookup_step(**kw: Any) -> Any:
    mappings = (*(make_step().mappings or ()),
                FieldMap("tax", lookup=LookupRef("taxes", on="tax_id", take="code")))
    lookups = {"taxes": LookupSpec("taxes", ConnectorRef("memory", {"name": "taxes"}), "id")}
    return make_step(mappings=mappings, lookups=lookups, **kw)


def test_a_changed_lookup_maps_every_row_again(world: World, state: StateStore,
                                               mapped: list[str]) -> None:
    world.rows["erp"] = [row(i, tax_id=i % 2) for i in range(4)]
    world.rows["taxes"] = [{"id": 0, "code": "STD"}, {"id": 1, "code": "RED"}]
    job = make_job(_lookup_step())
    _run(job, state)
    mapped.clear()
    _run(job, state)
    assert mapped == []

    world.rows["taxes"][1] = {"id": 1, "code": "ZERO"}
    dest = world.sink("store")
    dest.writes.clear()
    third = _run(job, state).steps[0]
    assert sorted(mapped) == ["A0", "A1", "A2", "A3"]
    assert sorted(op.key for op in dest.ops) == [("A1",), ("A3",)]
    assert dest.records[("A3",)]["tax"] == "ZERO"
    assert (third.unchanged, third.updated) == (2, 2)


def test_a_changed_mapping_maps_every_row_again(world: World, state: StateStore,
                                                mapped: list[str]) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    _run(make_job(make_step()), state)
    mappings = (*(make_step().mappings or ()), FieldMap("channel", const="web", has_const=True))
    mapped.clear()
    dest = world.sink("store")
    dest.writes.clear()
    second = _run(make_job(make_step(mappings=mappings)), state).steps[0]
    assert sorted(mapped) == ["A0", "A1", "A2"]
    assert second.updated == 3 and dest.records[("A0",)]["channel"] == "web"


def test_a_complete_run_maps_and_writes_every_row(world: World, state: StateStore,
                                                  mapped: list[str]) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    job = make_job(make_step())
    _run(job, state)
    mapped.clear()
    full = _run(make_job(make_step(mode="full")), state).steps[0]
    assert sorted(mapped) == ["A0", "A1", "A2"] and full.written == 3


def test_a_cursor_step_does_not_hash_source_rows(world: World, state: StateStore) -> None:
    from runner.spec import CursorSpec

    world.rows["erp"] = [row(i) for i in range(3)]
    step = make_step(cursor=CursorSpec("modified_at"))
    _run(make_job(step), state)
    assert state.get_source_hashes("inventory", "products", [("A0",)]) == {}
    assert set(state.get_hashes("inventory", "products", [("A0",)])) == {("A0",)}


def test_the_plan_skips_the_same_rows_as_the_run(world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(5)]
    job = make_job(make_step())
    _run(job, state)
    world.rows["erp"][2] = row(2, name="renamed")
    world.rows["erp"].append(row(7))
    planned = run_job(job, project=None, state=state, dry_run=True).plan[0]
    assert world.sink("store").records[("A2",)]["title"] == "item 2"  # nothing written
    done = _run(job, state).steps[0]
    assert (planned.creates, planned.updates, planned.unchanged) == (1, 1, 4)
    assert (done.created, done.updated, done.unchanged) == (1, 1, 4)


def test_state_keeps_the_source_hash_beside_the_row_hash(state: StateStore) -> None:
    from runner.state.base import BatchCommit

    run = state.begin_run("j", "s", "changes")
    base = BatchCommit(run_id=run, job="j", step="s", entity="e")
    state.commit_batch(replace(base, hashes={("a",): "h1", ("b",): "h2"},
                               source_hashes={("a",): "s1"}))
    assert state.get_source_hashes("j", "s", [("a",), ("b",)]) == {("a",): "s1"}
    # an unchanged record with a new source: only the source hash moves
    state.commit_batch(replace(base, source_hashes={("b",): "s2"}))
    assert state.get_hashes("j", "s", [("a",), ("b",)]) == {("a",): "h1", ("b",): "h2"}
    assert state.get_source_hashes("j", "s", [("b",)]) == {("b",): "s2"}
    # a write without a source hash (a quarantine retry) forgets the old one
    state.commit_batch(replace(base, hashes={("a",): "h3"}))
    assert state.get_source_hashes("j", "s", [("a",), ("b",)]) == {("b",): "s2"}


@pytest.mark.parametrize("key", [("A1",), ("A1", "red"), ("", ""), ("a\x1fb",), ("é", "x", "")])
def test_the_per_step_idempotency_keys_are_the_keys_sent_before(key: tuple[str, ...]) -> None:
    # A replay after an upgrade must send the keys an older runner sent for the same change.
    from runner.engine.ops import idempotency_key, idempotency_keys

    assert idempotency_keys("inv", "products")(key, "h1") == idempotency_key(
        "inv", "products", key, "h1")
    assert idempotency_keys("inv", "products")(key, "h1") != idempotency_keys("inv", "stock")(
        key, "h1")


def _source_digest(seed: bytes, data: bytes) -> str:
    """XXH3-128 of ``data`` seeded by the BLAKE2b-64 of ``seed``, written out."""
    number = int.from_bytes(hashlib.blake2b(seed, digest_size=8).digest(), "little")
    return xxhash.xxh3_128_hexdigest(data, number)


def test_a_source_hash_is_the_hash_of_the_sorted_dump_whatever_the_key_types() -> None:
    # Stored source hashes must not move across versions: the source digest of orjson's dump
    # with sorted keys (non-string keys as strings), on the fast path and the other.
    step = make_step()
    hasher = source_hasher(step, None)
    assert hasher is not None
    both = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    chunk: list[Mapping[str, Any]] = [{"sku": "A1", "b": {2: "x"}}, {"sku": "B2", "a": [1.5]}]
    got = list(skip_unchanged(chunk, hasher, lambda keys: {}))
    for record, (_, digest) in zip(chunk, got, strict=True):  # type: ignore[misc]
        assert digest == _source_digest(hasher._seed, orjson.dumps(record, option=both))


def test_a_lookup_with_keys_of_any_type_gives_a_version() -> None:
    # A lookup's rows come keyed as the source names its fields (a str subclass, a number).
    class Name(str):
        pass

    one = source_hasher(_lookup_step(), {"taxes": {7: {Name("id"): 7, 1: "x"}}})
    other = source_hasher(_lookup_step(), {"taxes": {7: {Name("id"): 7, 1: "y"}}})
    assert one is not None and other is not None and one.version != other.version


def test_a_duplicate_among_unchanged_rows_is_counted(world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    job = make_job(make_step(batch_size=10))
    _run(job, state)
    world.rows["erp"].append(row(1))  # the same key again, unchanged: a duplicate
    world.rows["erp"].append(row(7))  # a new one in the same batch, transformed
    second = _run(job, state).steps[0]
    assert (second.unchanged, second.duplicates, second.created) == (3, 1, 1)


# -- a nested step: groups of rows hashed as read -----------------------------------------------

VARIANTS = NestSpec(by=("item_id",), into="variants", fields=("vsku", "size"))


def _nested_step(**kw: Any) -> Any:
    mappings = (*(make_step().mappings or ()),
                FieldMap("variants", field="variants",
                         each=(FieldMap("sku", field="vsku"), FieldMap("size", field="size"))))
    return make_step(mappings=mappings, nest=VARIANTS, **kw)


def _variant_rows(i: int, sizes: tuple[str | None, ...] = ("S", "M"), **extra: Any
                  ) -> list[dict[str, Any]]:
    return [row(i, vsku=None if size is None else f"A{i}-{size}", size=size, **extra)
            for size in sizes]


def test_a_nested_step_maps_only_the_products_whose_rows_changed(
        world: World, state: StateStore, mapped: list[str]) -> None:
    world.rows["erp"] = [r for i in range(4) for r in _variant_rows(i)]
    job = make_job(_nested_step())
    assert _run(job, state).steps[0].created == 4
    mapped.clear()
    assert _run(job, state).steps[0].unchanged == 4
    assert mapped == []  # nothing nested, nothing mapped

    # A change in one item row (not the first of its group) and a group that gains a row.
    world.rows["erp"][5]["size"] = "XL"
    world.rows["erp"][6:8] = _variant_rows(3, ("S", "M", "L"))
    dest = world.sink("store")
    dest.writes.clear()
    third = _run(job, state).steps[0]
    assert sorted(mapped) == ["A2", "A3"]
    assert (third.unchanged, third.updated) == (2, 2)
    assert [v["size"] for v in dest.records[("A2",)]["variants"]] == ["S", "XL"]
    assert len(dest.records[("A3",)]["variants"]) == 3


def test_a_group_hashes_its_rows_under_its_own_seed(state: StateStore) -> None:
    # Stored source hashes must not move across versions: the source digest, under the seed
    # and "rows", of the dump of the group's rows in read order, each row's fields in their own
    # order; the record comes nested as nest does.
    from runner.transforms.shape import nest

    hasher = source_hasher(_nested_step(), None)
    assert hasher is not None and hasher.reads_key_from(VARIANTS)
    rows = _variant_rows(1) + _variant_rows(2, (None,))
    got = list(skip_unchanged(rows, hasher, lambda keys: {}, nest=VARIANTS))
    assert [record for record, _ in got] == list(nest(rows, VARIANTS))  # type: ignore[misc]
    for group, (_, digest) in zip((rows[:2], rows[2:]), got, strict=True):  # type: ignore[misc]
        data = orjson.dumps(group, default=str)
        assert digest == _source_digest(hasher._seed + b"rows\x1f", data)


def test_only_a_key_in_the_group_header_lets_a_group_be_hashed_as_rows() -> None:
    # A key read from an item field (or the list) is not in the group's first row as the
    # record has it: such a step keeps hashing nested records.
    assert source_hasher(_nested_step(), None).reads_key_from(VARIANTS)  # type: ignore[union-attr]
    for field in ("vsku", "variants.0.vsku"):
        step = make_step(mappings=(FieldMap("sku", field=field),), nest=VARIANTS)
        hasher = source_hasher(step, None)
        assert hasher is not None and not hasher.reads_key_from(VARIANTS)


def test_the_seen_set_counts_the_first_of_each_unchanged_key_once() -> None:
    from runner.engine.seen import SeenKeys

    seen = SeenKeys()
    seen.add(("a",))
    assert seen.count_first([("a",), ("b",), ("b",), ("é\udc80",)]) == 2  # one-field keys
    assert seen.count_first([("c", "d"), ("c", "d"), ("b",), ("e",)]) == 2  # mixed widths
    assert all(k in seen for k in [("a",), ("b",), ("é\udc80",), ("c", "d"), ("e",)])
    assert ("c",) not in seen and not seen.first(("e",))
