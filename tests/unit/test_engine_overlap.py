"""Batches on their way at once: a sink that takes concurrent writes is handed the next batch
before the last is acknowledged; commits stay one at a time, in read order, and only of what
the destination acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from connectors.api import WriteOp, WriteOutcome
from runner.engine.step import SEND_DEPTH
from runner.errors import FatalError
from runner.spec import CursorSpec
from runner.state.base import BatchCommit, StateStore
from tests.support.doubles import World
from tests.unit.test_engine import make_job, make_step, row, run

WAIT = 5.0


class TwoAtOnce:
    """Holds the writes before the ``together``-th until it has arrived (or WAIT passed), and
    counts the writes in progress at once."""

    def __init__(self, world: World, fail_first: bool = False, wait: float = WAIT,
                 together: int = 2) -> None:
        self.dest = world.sink("store")
        self.original = self.dest.write
        self.lock = threading.Lock()
        self.second_arrived = threading.Event()
        self.in_progress = 0
        self.most = 0
        self.calls = 0
        self.fail_first = fail_first
        self.wait = wait
        self.together = together
        self.dest.write = self.write  # type: ignore[method-assign]

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        with self.lock:
            self.calls += 1
            call = self.calls
            self.in_progress += 1
            self.most = max(self.most, self.in_progress)
        try:
            if call < self.together:
                self.second_arrived.wait(self.wait)
                if self.fail_first and call == 1:
                    raise FatalError("memory destination: 403 Forbidden")
            elif call == self.together:
                self.second_arrived.set()
            with self.lock:
                return self.original(ops)
        finally:
            with self.lock:
                self.in_progress -= 1


def committed_batches(state: StateStore) -> list[list[tuple[str, ...]]]:
    """The keys of each batch commit, in the order the store received them."""
    order: list[list[tuple[str, ...]]] = []
    original = state.commit_batch

    def recording(commit: BatchCommit) -> None:
        original(commit)
        if commit.hashes:
            order.append(sorted(commit.hashes))

    state.commit_batch = recording  # type: ignore[method-assign]
    return order


def test_a_concurrent_sink_has_two_batches_at_once_and_they_commit_in_read_order(
        world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(6)]
    world.sink("store").concurrent_writes = True
    sink = TwoAtOnce(world)
    order = committed_batches(state)
    result = run(make_job(make_step()), state)
    assert result.status == "succeeded"
    assert 2 <= sink.most <= SEND_DEPTH  # the first was held until the second arrived
    assert order == [[("A0",), ("A1",)], [("A2",), ("A3",)], [("A4",), ("A5",)]]
    assert sorted(world.sink("store").records) == [(f"A{i}",) for i in range(6)]


def test_a_sink_that_does_not_say_so_has_one_batch_at_a_time(
        world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(6)]
    sink = TwoAtOnce(world, wait=0.3)  # the second cannot arrive: the first goes on alone
    result = run(make_job(make_step()), state)
    assert result.status == "succeeded"
    assert sink.most == 1


def test_a_failed_batch_fails_the_run_and_what_was_acknowledged_is_not_written_again(
        world: World, state: StateStore) -> None:
    # Batches of two: the first, then the SEND_DEPTH - 1 sent while it is held, then one more.
    world.rows["erp"] = [row(i) for i in range(2 * (SEND_DEPTH + 1))]
    world.sink("store").concurrent_writes = True
    TwoAtOnce(world, fail_first=True)
    job = make_job(make_step(mode="incremental", cursor=CursorSpec("modified_at")))
    failed = run(job, state)
    assert failed.status == "failed" and "403" in (failed.error or "")
    # Those sent with the first were acknowledged: committed. The first was not; the last was
    # not sent.
    keys: list[Any] = [(f"A{i}",) for i in range(2 * (SEND_DEPTH + 1))]
    acknowledged = keys[2 : 2 * SEND_DEPTH]
    assert sorted(state.get_hashes("inventory", "products", keys)) == acknowledged
    assert state.get_cursor("inventory", "products") is None
    dest = world.sink("store")
    assert sorted(dest.records) == acknowledged

    dest.write = dest.__class__.write.__get__(dest)  # type: ignore[method-assign]
    dest.writes.clear()
    again = run(job, state)
    assert again.status == "succeeded"
    assert sorted(op.key for op in dest.ops) == [k for k in keys if k not in acknowledged]


def test_a_stop_finishes_the_batches_in_flight_and_sends_no_more(
        world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(2 * (SEND_DEPTH + 1))]
    world.sink("store").concurrent_writes = True
    stop = threading.Event()
    sink = TwoAtOnce(world, together=SEND_DEPTH)
    held = sink.write

    def stop_on_the_last_in_flight(ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        if sink.calls == SEND_DEPTH - 1:
            stop.set()  # a signal arrives while SEND_DEPTH batches are on their way
        return held(ops)

    world.sink("store").write = stop_on_the_last_in_flight  # type: ignore[method-assign]
    result = run(make_job(make_step()), state, stop=stop)
    assert result.status == "interrupted"
    assert sink.most == SEND_DEPTH
    written = [(f"A{i}",) for i in range(2 * SEND_DEPTH)]
    assert sorted(world.sink("store").records) == written
    assert sorted(state.get_hashes("inventory", "products", written)) == written


def test_light_items_weigh_a_twentieth_and_a_batch_still_closes_at_its_size() -> None:
    from runner.engine.overlap import LIGHT_PER_ITEM, Stages, overlap

    batches: list[list[str]] = []
    # 100 light items around three heavy ones, then heavy ones only: batches of 2 heavy, or of
    # 40 light (20 x 2), or a mix weighing as much.
    items = ["h0", *[f"l{i}" for i in range(50)], "h1", *[f"l{i}" for i in range(50, 100)],
             "h2", "h3", "h4", "h5", "h6"]
    left = overlap(items, Stages(list, list, batches.append), batch_size=2, depth=1,
                   stopping=lambda: False, light=lambda item: item.startswith("l"))
    assert LIGHT_PER_ITEM == 20
    assert [len(b) for b in batches] == [21, 31, 40, 12, 2]
    assert [b[-1] for b in batches] == ["l19", "h1", "l89", "h3", "h5"]
    assert left == ["h6"]
    assert [i for b in batches for i in b] + left == items  # in read order, each once


def test_an_item_holding_a_run_of_light_records_weighs_them_all() -> None:
    from runner.engine.overlap import Stages, overlap

    batches: list[list[Any]] = []
    # Lists stand for a changes run's runs of unchanged records: 20 + 30 of 40 closes the
    # first batch after the run; 20 + 10 + 10 the second; the last heavy item is left over.
    items: list[Any] = ["h0", ["l"] * 30, "h1", ["l"] * 10, ["l"] * 10, "h2"]
    left = overlap(items, Stages(list, list, batches.append), batch_size=2, depth=1,
                   stopping=lambda: False,
                   light=lambda item: len(item) if isinstance(item, list) else 0)
    assert [len(b) for b in batches] == [2, 3]
    assert left == ["h2"]


def test_a_changes_run_sends_its_few_changes_in_full_batches(world: World,
                                                             state: StateStore) -> None:
    # 1 record in 10 changed: at batch_size 2 each request had carried one record; now two.
    world.rows["erp"] = [row(i) for i in range(40)]
    job = make_job(make_step())
    run(job, state)
    for i in range(0, 40, 10):
        world.rows["erp"][i] = row(i, name="renamed")
    dest = world.sink("store")
    dest.writes.clear()
    second = run(job, state).steps[0]
    assert (second.updated, second.unchanged) == (4, 36)
    assert [len(w) for w in dest.writes] == [2, 2]


def test_the_last_batch_goes_through_the_stages_and_meanwhile_runs_while_it_is_on_its_way(
) -> None:
    import threading

    from runner.engine.overlap import Stages, overlap

    committed: list[list[int]] = []
    released = threading.Event()
    order: list[str] = []

    def deliver(batch: list[int]) -> list[int]:
        if batch == [4]:  # the last batch is held at the destination until meanwhile ran
            assert released.wait(5), "meanwhile did not run while the last batch was on its way"
        return batch

    def meanwhile() -> None:
        order.append(f"meanwhile after {len(committed)} commits")
        released.set()

    left = overlap(range(5), Stages(list, deliver, committed.append), batch_size=2, depth=2,
                   stopping=lambda: False, last=lambda batch: bool(batch),
                   meanwhile=meanwhile)
    assert left == []
    assert committed == [[0, 1], [2, 3], [4]]  # in read order, the last one too
    assert len(order) == 1


def test_a_stop_before_the_last_batch_returns_it_unsent_and_skips_meanwhile() -> None:
    from runner.engine.overlap import Stages, overlap

    committed: list[list[int]] = []
    ran: list[str] = []
    stop = False

    def deliver(batch: list[int]) -> list[int]:
        nonlocal stop
        stop = True  # a signal arrives while the first batch is on its way
        return batch

    left = overlap(range(3), Stages(list, deliver, committed.append), batch_size=2, depth=1,
                   stopping=lambda: stop, last=lambda batch: True,
                   meanwhile=lambda: ran.append("meanwhile"))
    assert committed == [[0, 1]]
    assert left == [2]
    assert ran == []
