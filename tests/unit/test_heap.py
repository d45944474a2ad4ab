"""frozen_heap: the objects alive at a stream's start are out of the collector's reach for the
stream's length, and given back at its end (a long-lived scheduler must still collect them)."""

from __future__ import annotations

import gc
import threading
import weakref

from runner.engine.heap import YOUNG_THRESHOLD, frozen_heap


def test_a_stream_freezes_the_heap_it_starts_with_and_gives_it_back() -> None:
    before = gc.get_freeze_count()
    with frozen_heap():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == 0


def test_a_cycle_that_dies_during_a_stream_is_collected_after_it() -> None:
    class Node:
        other: object

    gc.collect()
    a, b = Node(), Node()
    a.other, b.other = b, a
    with frozen_heap():
        del a, b  # garbage now, but frozen with the heap the stream started with
        assert gc.collect() == 0
    assert gc.collect() >= 2


def test_overlapping_streams_on_two_threads_unfreeze_only_when_both_end() -> None:
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with frozen_heap():
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(5)
    with frozen_heap():
        pass
    assert gc.get_freeze_count() > 0  # the other thread's stream is still running
    release.set()
    thread.join(5)
    assert gc.get_freeze_count() == 0


def test_a_later_holder_freezes_what_it_finds_and_the_first_keeps_it_until_it_leaves() -> None:
    class Node:
        other: object

    gc.collect()
    with frozen_heap():  # a run's command around its streams
        a, b = Node(), Node()  # loaded after the command froze, before a stream starts
        a.other, b.other = b, a
        with frozen_heap():
            del a, b
        assert gc.collect() == 0  # still frozen: the command holds it
    assert gc.collect() >= 2


def test_streams_collect_the_young_generation_less_often_and_restore_it() -> None:
    before = gc.get_threshold()
    with frozen_heap():
        assert gc.get_threshold()[0] == max(YOUNG_THRESHOLD, before[0])
        assert gc.get_threshold()[1:] == before[1:]
        with frozen_heap():
            pass
        assert gc.get_threshold()[0] == max(YOUNG_THRESHOLD, before[0])  # the outer holds
    assert gc.get_threshold() == before


def test_a_cycle_made_during_a_stream_is_still_collected_during_it() -> None:
    """The collector passes less often, not never: garbage cycles made per record are bounded
    by the young threshold, not by the stream's length."""

    class Node:
        other: object

    made = YOUNG_THRESHOLD * 3
    with frozen_heap():
        gc.collect()
        first, second = Node(), Node()
        first.other, second.other = second, first
        early = weakref.ref(first)
        del first, second  # garbage now, but only the collector can tell
        assert early() is not None
        for _ in range(made // 2):
            a, b = Node(), Node()
            a.other, b.other = b, a
        del a, b
        # At least two tracked objects a pair: the young generation filled up and was
        # collected several times; what is left is less than one threshold's worth.
        assert gc.get_count()[0] < YOUNG_THRESHOLD
        assert early() is None  # collected while the stream went on
