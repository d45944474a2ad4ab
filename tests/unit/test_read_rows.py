"""A step that nests reads a RowSource as blocks of tuples (issue 16): the same records, the
same retries, cursor and quarantine as reading dicts, and a changes run that switches from one
to the other maps its records once and writes none of the unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.api import BadRecord, ReadRequest, Rows
from runner.engine.cursor import CursorTracker
from runner.engine.reading import RowStream
from runner.engine.retry import Retrier
from runner.errors import RetryableError
from runner.spec import RetryPolicy
from runner.state.base import StateStore
from runner.transforms.prehash import (
    Unchanged,
    skip_unchanged,
    skip_unchanged_rows,
    source_hasher,
)
from runner.transforms.shape import nest, nest_rows
from tests.support.doubles import World
from tests.support.mapping_spy import mapped
from tests.unit.test_engine import make_job, run
from tests.unit.test_engine_prehash import VARIANTS, _nested_step, _variant_rows

__all__ = ["mapped"]  # the fixture, imported for these tests

COLUMNS = ("item_id", "name", "vsku", "size")


def _blocks(rows: list[tuple[Any, ...]], cuts: list[int],
            columns: tuple[str, ...] = COLUMNS) -> list[Rows]:
    """``rows`` split at ``cuts`` into blocks."""
    edges = [0, *sorted({c for c in cuts if 0 < c < len(rows)}), len(rows)]
    return [Rows(columns, rows[a:b]) for a, b in pairwise(edges) if b > a]


def _dicts(rows: list[tuple[Any, ...]], columns: tuple[str, ...] = COLUMNS
           ) -> list[dict[str, Any]]:
    return [dict(zip(columns, r, strict=True)) for r in rows]


# Rows of products in item order, each with 1-3 variant rows, a variant possibly all-null (a
# product without lines, as a LEFT JOIN gives it).
_product = st.tuples(
    st.sampled_from(["Chair", "Desk", None]),
    st.lists(st.tuples(st.sampled_from(["S", "M", None]), st.booleans()), min_size=1,
             max_size=3),
)


@st.composite
def _rows(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], list[int]]:
    products = draw(st.lists(_product, max_size=8))
    rows = [(f"A{i}", name, f"A{i}-{n}" if has else None, size if has else None)
            for i, (name, lines) in enumerate(products) for n, (size, has) in enumerate(lines)]
    cuts = draw(st.lists(st.integers(0, max(len(rows), 1)), max_size=4))
    return rows, cuts


@settings(max_examples=150, deadline=None)
@given(_rows())
def test_nest_of_tuples_makes_the_records_nest_of_dicts_makes(
        case: tuple[list[tuple[Any, ...]], list[int]]) -> None:
    rows, cuts = case
    assert list(nest_rows(_blocks(rows, cuts), VARIANTS)) == list(nest(_dicts(rows), VARIANTS))


@settings(max_examples=100, deadline=None)
@given(_rows())
def test_groups_of_tuples_decide_as_groups_of_dicts_do(
        case: tuple[list[tuple[Any, ...]], list[int]]) -> None:
    rows, cuts = case
    hasher = source_hasher(_nested_step(), None)
    assert hasher is not None
    # Stored: the hashes of the even products as tuples read them; as dicts, none match.
    first = list(skip_unchanged_rows(_blocks(rows, cuts), hasher, lambda keys: {},
                                     nest=VARIANTS, lookahead=3))
    digests = {(rec["item_id"],): d for rec, d in first}  # type: ignore[misc]
    stored = {k: d for k, d in digests.items() if int(k[0][1:]) % 2 == 0}
    as_rows: list[Any] = []  # one entry per record: a key found unchanged, or (record, hash)
    for item in skip_unchanged_rows(_blocks(rows, cuts[::-1]), hasher,
                                    lambda keys: {k: stored[k] for k in keys if k in stored},
                                    nest=VARIANTS, lookahead=2):
        as_rows.extend(item.keys if isinstance(item, Unchanged) else [item])
    as_dicts = list(skip_unchanged(_dicts(rows), hasher, lambda keys: {}, nest=VARIANTS))
    assert [type(i).__name__ for i in as_dicts] == ["tuple"] * len(as_dicts)
    # The same records in the same order; the stored ones unchanged, by the same key.
    assert len(as_rows) == len(as_dicts)
    for got, want in zip(as_rows, as_dicts, strict=True):
        record = want[0]  # type: ignore[index]
        key = (record["item_id"],)
        if key in stored:
            assert got == key
        else:
            assert got[0] == record
            assert got[1] == digests[key] != want[1]  # type: ignore[index]


def test_rows_a_nest_cannot_take_as_tuples_are_nested_as_dicts() -> None:
    rows = [("A1", "Chair", "A1-S"), ("A1", "Chair", "A1-M")]
    no_size = ("item_id", "name", "vsku")  # `size` is a nest field the read lacks: null
    assert list(nest_rows([Rows(no_size, rows)], VARIANTS)) == list(
        nest(_dicts(rows, no_size), VARIANTS))
    twice = ("item_id", "name", "vsku", "vsku")  # a name twice: a dict keeps the last
    doubled = [(*r, "x") for r in rows]
    assert list(nest_rows([Rows(twice, doubled)], VARIANTS)) == list(
        nest(_dicts(doubled, twice), VARIANTS))
    assert list(nest_rows([], VARIANTS)) == []


class _Flaky:
    """A RowSource whose blocks are cut differently on each attempt, that fails once after
    handing out ``fail_after`` blocks."""

    def __init__(self, items: list[Any], sizes: list[int], fail_after: int) -> None:
        self.items, self.sizes, self.fail_after, self.attempts = items, sizes, fail_after, 0

    def pushdown(self, flt: Any) -> Any:
        return flt

    def read(self, request: ReadRequest) -> Iterator[Any]:
        raise AssertionError("read as tuples only")

    def read_rows(self, request: ReadRequest) -> Iterator[Rows | BadRecord]:
        size = self.sizes[self.attempts]
        self.attempts += 1
        handed = 0
        block: list[tuple[Any, ...]] = []
        for item in self.items:
            if isinstance(item, BadRecord):
                if block:
                    yield Rows(("id", "ts"), block)
                    handed, block = handed + 1, []
                yield item
                continue
            block.append(item)
            if len(block) == size:
                if self.attempts == 1 and handed == self.fail_after:
                    raise RetryableError("connection reset")
                yield Rows(("id", "ts"), block)
                handed, block = handed + 1, []
        if block:
            yield Rows(("id", "ts"), block)

    def close(self) -> None:
        pass


def test_a_retried_read_of_tuples_resumes_where_it_was_even_inside_a_block() -> None:
    items: list[Any] = [(i, f"2024-01-0{1 + i % 9}") for i in range(10)]
    items.insert(4, BadRecord(raw="broken", reason="unreadable"))
    # The first attempt hands out [0, 1] in twos, then fails; the retry reads in threes, and
    # its first block [0, 1, 2] was handed out in part: only 2 is new.
    source = _Flaky(items, sizes=[2, 3], fail_after=1)
    stream = RowStream(source, ReadRequest(), Retrier(RetryPolicy(attempts=3, backoff_s=0),
                                                      lambda s: None),
                       what="test", cursor_field="ts")
    got = [row for block in stream.blocks() for row in block.values]
    assert source.attempts == 2
    assert got == [i for i in items if not isinstance(i, BadRecord)]
    assert stream.read == 11 and [b.reason for b in stream.bad] == ["unreadable"]
    assert stream.cursor.max == "2024-01-09"


def test_the_cursor_of_a_block_is_its_column_largest_value() -> None:
    tracker = CursorTracker("ts")
    tracker.see_rows(("id", "ts"), [(1, None), (2, "2024-01-02"), (3, "2024-01-01")])
    assert tracker.max == "2024-01-02"
    tracker.see_rows(("id", "ts"), [(4, None)])
    tracker.see_rows(("id", "other"), [(5, "2099-01-01")])  # no such column: moves nothing
    assert tracker.max == "2024-01-02"
    mixed = [(6, 7), (7, "2024-01-03")]  # compared as text, one at a time, as row by row
    by_row = CursorTracker("ts")
    for values in [(2, "2024-01-02"), *mixed]:
        by_row.see(dict(zip(("id", "ts"), values, strict=True)))
    tracker.see_rows(("id", "ts"), mixed)
    assert tracker.max == by_row.max == 7
    by_path = CursorTracker("meta.ts")  # a path into a record, not a column's name
    by_path.see_rows(("meta.ts",), [(1,)])
    assert by_path.max is None


@pytest.fixture(params=[None, 1, 2, 3], ids=["dicts", "blocks1", "blocks2", "blocks3"])
def blocks(request: pytest.FixtureRequest, world: World) -> int | None:
    world.blocks = request.param
    return request.param  # type: ignore[no-any-return]


def test_a_nested_changes_step_reads_tuples_and_maps_only_what_changed(
        world: World, state: StateStore, mapped: list[str], blocks: int | None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if blocks:  # the dict nest and groups are not used at all
        monkeypatch.setattr("runner.transforms.compile.nest", None)
        monkeypatch.setattr("runner.transforms.prehash.groups", None)
    world.rows["erp"] = [r for i in range(4) for r in _variant_rows(i)]
    world.rows["erp"].insert(3, BadRecord(raw="x", reason="unreadable"))
    job = make_job(_nested_step())
    first = run(job, state).steps[0]
    assert (first.created, first.quarantined, first.read) == (4, 1, 9)
    mapped.clear()
    assert run(job, state).steps[0].unchanged == 4
    assert mapped == []
    world.rows["erp"][6]["size"] = "XL"  # a line of A2
    dest = world.sink("store")
    third = run(job, state).steps[0]
    assert (mapped, third.updated, third.unchanged) == (["A2"], 1, 3)
    assert [v["size"] for v in dest.records[("A2",)]["variants"]] == ["S", "XL"]


def test_a_nested_cursor_step_reads_tuples_and_moves_its_cursor(
        world: World, state: StateStore, blocks: int | None) -> None:
    from runner.spec import CursorSpec

    world.rows["erp"] = [r for i in range(5) for r in _variant_rows(i, ts=f"2024-01-0{i + 1}")]
    job = make_job(_nested_step(cursor=CursorSpec(field="modified_at")))
    result = run(job, state).steps[0]
    assert (result.created, result.read) == (5, 10)
    assert state.get_cursor("inventory", "products") == "2024-01-05"
    dest = world.sink("store")
    assert [v["sku"] for v in dest.records[("A4",)]["variants"]] == ["A4-S", "A4-M"]


def test_switching_from_dicts_to_tuples_maps_once_and_writes_nothing_unchanged(
        world: World, state: StateStore, mapped: list[str]) -> None:
    world.rows["erp"] = [r for i in range(4) for r in _variant_rows(i)]
    job = make_job(_nested_step())
    assert run(job, state).steps[0].created == 4  # hashed as groups of dicts
    world.blocks = 2
    dest = world.sink("store")
    dest.writes.clear()
    mapped.clear()
    second = run(job, state).steps[0]
    # Groups of tuples hash differently: every record is mapped, and its record hash, not
    # its source hash, finds it unchanged.
    assert sorted(mapped) == ["A0", "A1", "A2", "A3"]
    assert (second.unchanged, second.written, dest.writes) == (4, 0, [])
    mapped.clear()
    assert run(job, state).steps[0].unchanged == 4
    assert mapped == []
