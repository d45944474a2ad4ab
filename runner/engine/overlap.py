"""Batches in three overlapping stages: read and prepared on the calling thread, delivered to
the destination by writer threads, committed by one committer thread, in read order.

The calling thread reads, transforms and prepares a batch while writers deliver the ones
before it and the committer commits, one at a time and in order, those the destination has
acknowledged. A sink that takes concurrent writes gets ``depth`` batches at once, so that the
destination has the next requests waiting while the runner reads the answers to the last ones
(with one, at 1,000,000 products, the reading thread waited 11 s of a 22 s run for the writer,
and the store idled meanwhile). Every commit started is waited for before returning, on every
path, so a failed commit is never hidden.

The last, partial batch goes through the same stages when ``last(batch)`` says so, and
``meanwhile()`` runs on the calling thread once every batch is on its way, while the last
ones are delivered and committed: an incremental run reads what its filter deselected there
(at 1,000,000 products with 1% changed, the last two batches took ~90 ms at the store and the
deselected read ~60 ms, one after the other until then).

A *light* record (one with nothing to write: a changes run's unchanged record; one item may
hold a run of them) counts for 1/``LIGHT_PER_ITEM`` of one: with 1% of a catalogue changed
and spread through it, batches of 1,000 records sent ten records a request and made a state
commit per ten (300 of each at 300,000 products); a batch now closes at ``batch_size``
records to write, or at ``LIGHT_PER_ITEM`` times as many light ones, which bounds what a
batch holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["LIGHT_PER_ITEM", "Stages", "overlap"]

LIGHT_PER_ITEM = 20

Item = TypeVar("Item")
Ready = TypeVar("Ready")  # a prepared batch
Done = TypeVar("Done")  # what its delivery acknowledged


@dataclass(frozen=True)
class Stages(Generic[Item, Ready, Done]):
    """``prepare(batch)`` on the calling thread, in read order; ``deliver(ready)`` on a writer
    thread; ``commit(done)`` on the committer thread, in read order."""

    prepare: Callable[[list[Item]], Ready]
    deliver: Callable[[Ready], Done]
    commit: Callable[[Done], None]


def overlap(items: Iterable[Item], stages: Stages[Item, Ready, Done], *, batch_size: int,
            depth: int, stopping: Callable[[], bool],
            light: Callable[[Item], int] | None = None,
            last: Callable[[list[Item]], bool] | None = None,
            meanwhile: Callable[[], None] | None = None) -> list[Item]:
    """Run every full batch of ``items`` through ``stages``; return what is left over (the
    last, partial batch unless ``last(batch)`` sent it, or the batch read when ``stopping()``
    turned true: a stop finishes the batches on their way only). ``light(item)``: how many
    light records the item holds, each weighing 1/LIGHT_PER_ITEM (0: it is one record to
    write). ``meanwhile()``: run once all items are read and sent, before the last batches
    are waited for (not after a stop)."""
    pending: list[Item] = []
    full = batch_size * LIGHT_PER_ITEM
    heavy = LIGHT_PER_ITEM
    weight = 0
    deliveries: deque[Future[Done]] = deque()
    commits: deque[Future[None]] = deque()

    def commit_delivered(delivering: Future[Done]) -> None:
        stages.commit(delivering.result())

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as committer, \
            ThreadPoolExecutor(max_workers=depth, thread_name_prefix="write") as writer:

        def settle(room: int) -> None:
            # Wait until at most ``room`` batches are on their way to the destination, and
            # every acknowledged one but the newest committed (errors surface here).
            while len(deliveries) > room:
                deliveries.popleft().result()
            while len(commits) > len(deliveries) + 1:
                commits.popleft().result()

        def send(batch: list[Item]) -> None:
            delivering = writer.submit(stages.deliver, stages.prepare(batch))
            deliveries.append(delivering)
            commits.append(committer.submit(commit_delivered, delivering))

        try:
            read_all = True
            for item in items:
                pending.append(item)
                weight += (light(item) if light is not None else 0) or heavy
                if weight >= full:
                    settle(depth - 1)
                    if stopping():
                        read_all = False
                        break
                    send(pending)
                    pending = []
                    weight = 0
            if read_all and last is not None and last(pending):
                settle(depth - 1)
                if stopping():
                    read_all = False
                else:
                    send(pending)
                    pending = []
            if read_all and meanwhile is not None:
                meanwhile()
            settle(0)
        except BaseException:
            wait(commits)  # the first failure is on its way up; theirs would hide it
            raise
        while commits:
            commits.popleft().result()
    return pending
