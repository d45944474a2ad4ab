"""The engine against in-memory connectors and a real (in-memory SQLite) state store."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from connectors.api import BadRecord, WriteOp
from runner.engine import run_job
from runner.errors import LockedError
from runner.spec import (
    Compare,
    ConnectorRef,
    CursorSpec,
    ErrorPolicy,
    FieldMap,
    Job,
    RetryPolicy,
    Step,
)
from runner.state import open_state
from runner.state.base import StateStore
from tests.support.doubles import Crash, World


def make_step(**kw: Any) -> Step:
    base: dict[str, Any] = {
        "name": "products",
        "source": ConnectorRef("memory", {"name": "erp"}),
        "destination": ConnectorRef("memory", {"name": "store"}),
        "key": ("sku",),
        "mappings": (
            FieldMap("sku", field="item_id"),
            FieldMap("title", field="name"),
            FieldMap("price", field="price", type="decimal", scale=2),
        ),
        "batch_size": 2,
        "errors": ErrorPolicy(max_bad_records=10, retry=RetryPolicy(attempts=3, backoff_s=0.01)),
    }
    base.update(kw)
    return Step(**base)


def make_job(*steps: Step, name: str = "inventory") -> Job:
    return Job(name=name, source_file="memory.yaml", steps=steps)


def row(i: int, name: str | None = None, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    data = {"item_id": f"A{i}", "name": name or f"item {i}", "price": Decimal(i) + Decimal("0.5"),
            "modified_at": ts or f"2024-01-01T00:00:{i:02d}", "sell_online": True}
    data.update(extra)
    return data


def run(job: Job, state: StateStore, **kw: Any) -> Any:
    sleeps: list[float] = kw.pop("sleeps", [])
    return run_job(job, project=None, state=state, sleep=sleeps.append, **kw)


def test_changes_mode_writes_only_new_and_changed(world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(5)]
    job = make_job(make_step())
    first = run(job, state)
    assert first.status == "succeeded"
    dest = world.sink("store")
    assert sorted(dest.records) == [(f"A{i}",) for i in range(5)]
    assert dest.records[("A3",)] == {"sku": "A3", "title": "item 3", "price": Decimal("3.50")}
    assert first.steps[0].created == 5 and first.steps[0].batches == 3
    assert {op.action for op in dest.ops} == {"create"}

    world.rows["erp"][2] = row(2, name="renamed")
    world.rows["erp"].append(row(9))
    dest.writes.clear()
    second = run(job, state)
    assert [op.key for op in dest.ops] == [("A2",), ("A9",)]
    assert [op.action for op in dest.ops] == ["update", "create"]
    assert dest.ops[0].dest_id == dest.ids[("A2",)]
    s = second.steps[0]
    assert (s.read, s.written, s.unchanged, s.updated, s.created) == (6, 2, 4, 1, 1)
    assert "source:erp" in world.closed and "sink:store" in world.closed


def test_an_update_records_a_new_destination_id_and_leaves_a_known_one_alone(
        world: World, state: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    world.rows["erp"] = [row(i) for i in range(4)]
    job = make_job(make_step())
    run(job, state)
    dest = world.sink("store")
    old = dict(dest.ids)
    dest.ids[("A2",)] = "id-recreated"  # the store answers this update with a new id
    world.rows["erp"][2] = row(2, name="renamed")
    world.rows["erp"][3] = row(3, name="renamed too")
    keymaps: list[dict[Any, str]] = []
    commit = state.commit_batch
    monkeypatch.setattr(state, "commit_batch",
                        lambda c: (keymaps.append(dict(c.keymap)), commit(c))[1])
    second = run(job, state)
    assert second.steps[0].updated == 2
    assert state.keymap_get("inventory", "products", [("A2",), ("A3",)]) == {
        ("A2",): "id-recreated", ("A3",): old[("A3",)]}
    # Only the changed id is written again: rewriting a known one costs a page per key.
    assert [k for k in keymaps if k] == [{("A2",): "id-recreated"}]


def test_incremental_reads_from_cursor_minus_lookback_without_rewrites(
    world: World, state: StateStore
) -> None:
    step = make_step(mode="incremental", cursor=CursorSpec("modified_at", lookback_s=5))
    job = make_job(step)
    world.rows["erp"] = [row(i) for i in range(10)]
    run(job, state)
    assert state.get_cursor("inventory", "products") == "2024-01-01T00:00:09"
    dest = world.sink("store")
    dest.writes.clear()
    world.rows["erp"].append(row(10, ts="2024-01-01T00:00:12"))
    result = run(job, state)
    # The window starts 5 s before the stored cursor; the overlap's rows are hashed, not sent.
    assert world.requests[-1].cursor is not None
    assert world.requests[-1].cursor.since == "2024-01-01T00:00:04"
    assert [op.key for op in dest.ops] == [("A10",)]
    assert result.steps[0].read == 7 and result.steps[0].unchanged == 6
    assert state.get_cursor("inventory", "products") == "2024-01-01T00:00:12"


def _synced_then_a3_deselected_and_a7_added(world: World, state: StateStore) -> Job:
    """An incremental job with a filter, run once over A0-A4; then A3 leaves the filter and
    A7 is added, both inside the next run's window."""
    step = make_step(mode="incremental", cursor=CursorSpec("modified_at"),
                     filter=Compare("sell_online", "equals", True), delete="unpublish")
    job = make_job(step)
    world.rows["erp"] = [row(i) for i in range(5)]
    run(job, state)
    world.sink("store").writes.clear()
    world.rows["erp"][3] = row(3, ts="2024-01-01T00:00:20", sell_online=False)
    world.rows["erp"].append(row(7, ts="2024-01-01T00:00:21"))
    return job


def test_an_incremental_run_reads_what_its_filter_deselected_once_and_unpublishes_it(
    world: World, state: StateStore
) -> None:
    # The deselected read runs while the last batches are on their way (overlap's meanwhile);
    # after them the step must use what it read, not read the window a third time.
    job = _synced_then_a3_deselected_and_a7_added(world, state)
    dest = world.sink("store")
    before = len(world.requests)
    result = run(job, state)
    reads = world.requests[before:]
    assert len(reads) == 2, reads  # the window, then its deselected rows: each once
    assert [(op.action, op.key) for op in dest.ops] == [("create", ("A7",)),
                                                         ("unpublish", ("A3",))]
    assert result.steps[0].removed == 1


def test_an_incremental_run_looks_its_deselected_keys_up_while_its_last_batch_is_delivered(
    world: World, state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Which deselected keys the destination holds is asked of the state beside the last
    # delivery, not after it: the committer never touches those keys (1M products, 1%
    # changed: ~50 ms less after the last commit).
    job = _synced_then_a3_deselected_and_a7_added(world, state)
    looked_up = threading.Event()
    get_hashes = state.get_hashes

    def watched(job: str, step: str, keys: Any) -> dict[Any, str]:
        keys = list(keys)
        if ("A3",) in keys:
            looked_up.set()
        return get_hashes(job, step, keys)

    monkeypatch.setattr(state, "get_hashes", watched)
    dest = world.sink("store")
    write = dest.write
    seen_during_delivery: list[bool] = []

    def slow_write(ops: Any) -> Any:
        if any(op.key == ("A7",) for op in ops):
            seen_during_delivery.append(looked_up.wait(timeout=5))
        return write(ops)

    monkeypatch.setattr(dest, "write", slow_write)
    result = run(job, state)
    assert seen_during_delivery == [True]
    assert [(op.action, op.key) for op in dest.ops] == [("create", ("A7",)),
                                                         ("unpublish", ("A3",))]
    assert result.steps[0].removed == 1


def test_incremental_tracks_max_cursor_of_unsorted_rows(world: World, state: StateStore) -> None:
    step = make_step(mode="incremental", cursor=CursorSpec("modified_at"))
    world.rows["erp"] = [row(5), row(9), row(1)]
    run(make_job(step), state)
    assert state.get_cursor("inventory", "products") == "2024-01-01T00:00:09"


def test_full_mode_rewrites_everything_and_unpublishes_deselected(
    world: World, state: StateStore
) -> None:
    step = make_step(filter=Compare("sell_online", "equals", True), delete="unpublish")
    job = make_job(step)
    world.rows["erp"] = [row(i) for i in range(4)]
    run(job, state)
    world.rows["erp"][1]["sell_online"] = False  # deselected
    dest = world.sink("store")
    dest.writes.clear()
    result = run(job, state, mode="full")
    assert result.steps[0].written == 3  # unchanged records rewritten: repairs a lost dest
    unpublish = [op for op in dest.ops if op.action == "unpublish"]
    assert [op.key for op in unpublish] == [("A1",)]
    assert unpublish[0].record == {"sku": "A1"} and unpublish[0].dest_id == dest.ids[("A1",)]
    assert sorted(dest.visible()) == [("A0",), ("A2",), ("A3",)]
    assert result.steps[0].removed == 1
    # Remembered as unpublished: the next complete run does not unpublish it again.
    dest.writes.clear()
    again = run(job, state, mode="full")
    assert [op for op in dest.ops if op.action == "unpublish"] == []
    assert again.steps[0].removed == 0
    # Selected again: the next changes run sends it (no record hashes to "unpublished").
    world.rows["erp"][1]["sell_online"] = True
    dest.writes.clear()
    run(job, state)
    assert [op.key for op in dest.ops] == [("A1",)]


def test_full_mode_delete_and_keymap_rebuild_from_listable_destination(
    world: World, state: StateStore
) -> None:
    dest = world.sink("store")
    dest.listable = True
    step = make_step(delete="delete")
    job = make_job(step)
    world.rows["erp"] = [row(i) for i in range(3)]
    run(job, state)
    ids = dict(dest.ids)
    lost = open_state("sqlite://")  # the state store was lost
    dest.records[("ZZ",)] = {"sku": "ZZ"}  # and the destination holds a stray record
    dest.ids[("ZZ",)] = "id-99"
    dest.writes.clear()
    result = run(job, lost, mode="full")
    writes = [op for op in dest.ops if op.action != "delete"]
    assert {op.action for op in writes} == {"update"}  # ids re-learnt from the listing
    assert {op.key: op.dest_id for op in writes} == {k: v for k, v in ids.items()}
    assert [op.key for op in dest.ops if op.action == "delete"] == [("ZZ",)]
    assert sorted(dest.records) == [("A0",), ("A1",), ("A2",)]
    assert result.steps[0].removed == 1
    # A deleted record's destination id is forgotten with it; the others keep theirs.
    assert lost.keymap_get("inventory", "products", [("ZZ",)]) == {}
    assert lost.keymap_get("inventory", "products", [("A0",)]) == {("A0",): ids[("A0",)]}
    lost.close()


def test_refused_and_rejected_records_are_quarantined_and_batch_goes_on(
    world: World, state: StateStore
) -> None:
    step = make_step(mappings=(
        FieldMap("sku", field="item_id"),
        FieldMap("price", field="price", type="decimal", scale=2, required=True),
    ))
    world.rows["erp"] = [row(0), row(1, price=None), BadRecord(b"\xff broken", "bad UTF-8"),
                         row(3), row(4)]
    dest = world.sink("store")
    dest.reject = lambda op: "422 price too high" if op.key == ("A3",) else None
    result = run(make_job(step), state)
    assert result.status == "partial"  # finished, with records set aside
    assert sorted(dest.records) == [("A0",), ("A4",)]
    quarantined = state.quarantine_list("inventory")
    reasons = {q.key: q.reason for q in quarantined}
    assert reasons[("A3",)] == "422 price too high"
    assert "price" in reasons[("A1",)]
    assert reasons[None] == "bad UTF-8"
    stored = next(q for q in quarantined if q.key == ("A3",))
    assert stored.record["item_id"] == "A3" and stored.record["price"] == "3.5"
    assert result.steps[0].quarantined == 3
    # Refused records are not hashed: the next run tries them again.
    dest.reject = None
    dest.writes.clear()
    run(make_job(step), state)
    assert [op.key for op in dest.ops] == [("A3",)]
    # Written and acknowledged this time: its quarantine entry went with the same commit.
    assert {q.key for q in state.quarantine_list()} == {("A1",), None}


def test_max_bad_records_fails_the_run_after_committing(world: World, state: StateStore) -> None:
    step = make_step(errors=ErrorPolicy(max_bad_records=1, retry=RetryPolicy(attempts=2)))
    world.rows["erp"] = [row(i) for i in range(6)]
    dest = world.sink("store")
    dest.reject = lambda op: "refused" if op.key in {("A2",), ("A3",)} else None
    result = run(make_job(step), state)
    assert result.status == "failed"
    assert "max_bad_records" in (result.error or "")
    assert sorted(dest.records) == [("A0",), ("A1",)]  # the third batch was never sent
    assert set(state.get_hashes("inventory", "products", [("A0",), ("A1",)])) == {
        ("A0",), ("A1",)}
    runs = {r.step: r for r in state.runs("inventory")}
    assert runs["products"].status == "failed" and runs[""].status == "failed"
    assert runs["products"].counts.quarantined == 2


def test_retryable_write_is_retried_with_backoff_then_succeeds(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    dest = world.sink("store")
    dest.fail_retryable = 2
    dest.retry_after = 0.5
    sleeps: list[float] = []
    result = run(make_job(make_step()), state, sleeps=sleeps)
    assert result.status == "succeeded"
    assert len(sleeps) == 2 and all(s >= 0.5 for s in sleeps)  # Retry-After is a floor
    assert sorted(dest.records) == [("A0",), ("A1",), ("A2",)]
    assert result.steps[0].retries == 2
    # The replayed batch carries the same idempotency keys as the first try would have.
    assert len({op.idempotency_key for op in dest.ops}) == 3


def test_retries_exhausted_fail_the_run_with_a_clear_message(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    world.sink("store").fail_retryable = 99
    sleeps: list[float] = []
    result = run(make_job(make_step()), state, sleeps=sleeps)
    assert result.status == "failed"
    assert "still failing after 3 attempts" in (result.error or "")
    assert len(sleeps) == 2
    assert state.get_hashes("inventory", "products", [("A0",)]) == {}


def test_read_failure_mid_stream_is_retried_without_skipping_or_repeating(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(5)]
    world.read_failures["erp"] = [3]
    result = run(make_job(make_step()), state)
    assert result.status == "succeeded" and result.steps[0].read == 5
    assert len(world.sink("store").ops) == 5


def test_fatal_error_fails_at_once_and_later_steps_do_not_run(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    world.sink("store").fail_fatal = True
    second = make_step(name="variants", destination=ConnectorRef("memory", {"name": "other"}))
    sleeps: list[float] = []
    result = run(make_job(make_step(), second), state, sleeps=sleeps)
    assert result.status == "failed" and "403" in (result.error or "")
    assert sleeps == [] and [s.step for s in result.steps] == ["products"]
    assert world.sink("other").ops == []


def test_stop_event_finishes_the_batch_in_flight_and_commits(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(6)]
    stop = threading.Event()
    dest = world.sink("store")
    original = dest.write

    def write_then_stop(ops: list[WriteOp]) -> Any:
        stop.set()  # a signal arrives while the first batch is being written
        return original(ops)

    dest.write = write_then_stop  # type: ignore[method-assign]
    result = run(make_job(make_step()), state, stop=stop)
    assert result.status == "interrupted"
    assert sorted(dest.records) == [("A0",), ("A1",)]
    assert set(state.get_hashes("inventory", "products", [("A0",), ("A1",)])) == {
        ("A0",), ("A1",)}
    assert state.runs("inventory")[0].status == "interrupted"


def test_duplicate_keys_are_written_once_per_run(world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(1, name="first"), row(1, name="second"), row(2), row(1, name="late")]
    result = run(make_job(make_step()), state)
    dest = world.sink("store")
    assert [op.key for op in dest.ops].count(("A1",)) == 1
    assert dest.records[("A1",)]["title"] == "second"  # last within its batch
    assert result.steps[0].duplicates == 2


def test_job_lock_refuses_a_second_run(world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(1)]
    with state.job_lock("inventory", "someone-else"), pytest.raises(LockedError):
        run(make_job(make_step()), state)


def test_pushdown_sends_the_filter_to_the_source(world: World, state: StateStore) -> None:
    world.push_equals = True
    world.rows["erp"] = [row(1), row(2, sell_online=False)]
    step = make_step(filter=Compare("sell_online", "equals", True))
    run(make_job(step), state)
    assert world.requests[-1].filter == Compare("sell_online", "equals", True)
    assert sorted(world.sink("store").records) == [("A1",)]


def test_composite_job_forces_its_mode_on_the_jobs_it_runs(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(1)]
    child = make_job(make_step(delete="delete"), name="inventory")
    complete = Job(name="complete", source_file="c.yaml", jobs=("inventory",), mode="full")

    class Project:
        jobs = {"inventory": child, "complete": complete}

        def job(self, name: str) -> Job:
            return self.jobs[name]

    run_job(child, project=None, state=state)
    world.rows["erp"] = [row(2)]
    result = run_job(complete, project=Project(), state=state)
    assert result.status == "succeeded"
    assert [s.mode for s in result.steps] == ["full"]
    assert sorted(world.sink("store").records) == [("A2",)]
    assert {r.job for r in state.runs()} == {"inventory", "complete"}


def test_crash_after_write_replays_the_batch_with_the_same_idempotency_keys(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(5)]
    dest = world.sink("store")
    dest.crash_after_write = 2
    with pytest.raises(Crash):
        run(make_job(make_step()), state)
    sent_before = {op.key: op.idempotency_key for op in dest.ops}
    assert len(dest.records) == 4  # two batches reached the destination, one was committed
    assert len(state.get_hashes("inventory", "products", list(dest.records))) == 2
    dest.crash_after_write = 0
    dest.writes.clear()
    result = run(make_job(make_step()), state)
    assert result.status == "succeeded"
    replayed = {op.key: op.idempotency_key for op in dest.ops}
    assert sorted(replayed) == [("A2",), ("A3",), ("A4",)]
    assert all(replayed[k] == sent_before[k] for k in (("A2",), ("A3",)))
    assert sorted(dest.records) == [(f"A{i}",) for i in range(5)]
    # The destination knew A2 and A3 already, but the state did not: they replay as creates,
    # which is why every sink must treat a create it has seen as an idempotent upsert.
    assert {op.action for op in dest.ops} == {"create"}


def test_job_level_run_record_holds_the_totals(world: World, state: StateStore) -> None:
    world.rows["erp"] = [row(i) for i in range(3)]
    run(make_job(make_step(), make_step(name="again", destination=ConnectorRef(
        "memory", {"name": "other"}))), state)
    job_run = next(r for r in state.runs("inventory") if r.step == "")
    assert (job_run.counts.read, job_run.counts.written) == (6, 6)


def test_answers_a_response_rule_ignores_are_counted_as_ignored(
    world: World, state: StateStore
) -> None:
    world.rows["erp"] = [row(i) for i in range(4)]
    world.sink("store").ignore = lambda op: op.key == ("A2",)
    step = run(make_job(make_step()), state).steps[0]
    assert (step.written, step.created, step.ignored) == (3, 3, 1)
    assert "ignored 1" in step.summary()
