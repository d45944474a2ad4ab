"""The seen set packs its keys and stays exact: the same answers as a plain set of keys."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.engine.seen import SeenKeys, _Run

_part = st.sampled_from(["a", "b", "ab", "é", "\udc80", "a\x00", "", "I000001", "('a',)"])
_key = st.one_of(st.tuples(_part), st.tuples(_part, _part))
_op = st.one_of(
    st.tuples(st.just("first"), _key),
    st.tuples(st.just("count"), st.lists(_key, max_size=6)),
    st.tuples(st.just("in"), _key),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_op, max_size=80), st.integers(min_value=1, max_value=5))
def test_answers_as_a_set_does_whatever_is_packed(ops: list, spill: int) -> None:
    seen, model = SeenKeys(spill=spill), set()
    for op, arg in ops:
        if op == "first":
            assert seen.first(arg) == (arg not in model)
            model.add(arg)
        elif op == "count":
            assert seen.count_first(arg) == len(set(arg) - model)
            model.update(arg)
        else:
            assert (arg in seen) == (arg in model)
        assert len(seen) == len(model)
    assert all(k in seen for k in model)


def test_runs_grow_with_what_is_packed_and_no_key_is_lost() -> None:
    seen = SeenKeys(spill=64)
    keys = [(f"I{n:06d}",) for n in range(64 * 100)]
    assert sum(seen.first(k) for k in keys) == len(keys)
    assert seen._bits is None  # read in key order: the runs were never searched
    # Eight runs of 64, then each an eighth of what is packed: 6,400 keys in 29 runs.
    assert len(seen._runs) == 29 and [len(r) for r in seen._runs[:10]] == [64] * 9 + [72]
    assert seen.count_first(keys[::7]) == 0
    assert not any(seen.first(k) for k in keys[::13])
    assert all(k in seen for k in keys)
    assert ("I999999",) not in seen and ("I000001", "x") not in seen


def test_a_run_finds_exactly_its_keys() -> None:
    run = _Run([b"c", b"a", b"bb", b"a\x00"])
    assert list(run) == run.keys() == [b"a", b"a\x00", b"bb", b"c"]
    assert all(run.has(k) for k in (b"a", b"a\x00", b"bb", b"c"))
    assert not any(run.has(k) for k in (b"", b"b", b"bbb", b"d", b"a\x01"))


def test_keys_read_out_of_order_are_found_through_the_filter() -> None:
    seen = SeenKeys(spill=100)
    keys = [(f"k{(n * 7919) % 1000:04d}",) for n in range(1000)]  # every key once, shuffled
    assert sum(seen.first(k) for k in keys) == 1000 and seen._bits is not None
    assert seen.count_first(keys[::3]) == 0 and not any(seen.first(k) for k in keys[::5])
    assert seen.count_first([("k1000",), ("k0500",), ("k1000",)]) == 1


def test_packed_keys_take_under_a_third_of_a_set_of_them() -> None:
    keys = [(f"I{n:06d}",) for n in range(200_000)]
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        seen = SeenKeys()
        seen.count_first(keys)
        packed = tracemalloc.get_traced_memory()[0] - base
        del seen
        base = tracemalloc.get_traced_memory()[0]
        plain = {k[0].encode() for k in keys}
        as_set = tracemalloc.get_traced_memory()[0] - base
        assert len(plain) == len(keys)
    finally:
        tracemalloc.stop()
    assert packed < as_set / 3, (packed, as_set)
