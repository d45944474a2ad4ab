"""Echo guards on two-way fields: a step that reads the other side does not send back what
another step just wrote there, a genuine change passes, and plan predicts the run.

The two steps of a job write each other's ``status``: ``push`` sends the ERP's to the store,
``pull`` brings the store's into the ERP (the shipped online-orders job, in memory; the same
story against the real ERP and sandbox store is tests/integration/test_echo_orders.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.echo import attach_echo_fields
from runner.engine import JobResult, run_job
from runner.spec import ConnectorRef, EchoGuard, ErrorPolicy, FieldMap, Job, Step
from runner.state import SqlStateStore, open_state
from tests.support.doubles import Crash, World, register, unregister


def two_way(*, pull_mode: str = "changes") -> Job:
    def step(name: str, source: str, sink: str, guard: EchoGuard | None = None) -> Step:
        return Step(name=name, source=ConnectorRef("memory", {"name": source}),
                    destination=ConnectorRef("memory", {"name": sink}), key=("id",),
                    mode=pull_mode if name == "pull" else "changes",  # type: ignore[arg-type]
                    mappings=(FieldMap("id", field="id"), FieldMap("status", field="status")),
                    errors=ErrorPolicy(max_bad_records=None), batch_size=2, echo_guard=guard)

    job = Job(name="orders", source_file="memory.yaml", steps=(
        step("push", "erp", "store"),
        step("pull", "shop", "erp_out", EchoGuard("push", ("status",))),
    ))
    return attach_echo_fields({"orders": job})["orders"]


def registered() -> World:
    world = register()
    # The ERP side takes upserts by key, as the SQL destination of the shipped job does.
    world.sink("erp_out").actions = frozenset({"upsert"})
    return world


@pytest.fixture
def world() -> Iterator[World]:
    yield registered()
    unregister()


@pytest.fixture
def state() -> Iterator[SqlStateStore]:
    store = open_state("sqlite://")
    yield store
    store.close()


def run(job: Job, state: SqlStateStore, **kw: Any) -> JobResult:
    result = run_job(job, project=None, state=state, sleep=lambda _s: None, **kw)
    assert result.status in ("succeeded", "planned"), [s.summary() for s in result.steps]
    return result


def counts(result: JobResult, name: str) -> tuple[int, int, int]:
    """(written, echoed, unchanged) of one step of a run."""
    [found] = [s for s in result.steps if s.step == name]
    return found.written, found.echoed, found.unchanged


def test_the_project_tells_the_writer_what_to_remember() -> None:
    job = two_way()
    assert job.steps[0].echo_fields == ("status",)
    assert job.steps[1].echo_fields == ()
    assert job.steps[1].echo_guard == EchoGuard("push", ("status",), ("id",))  # its key


def test_an_echo_is_not_sent_back_and_a_store_change_is(world: World,
                                                        state: SqlStateStore) -> None:
    job = two_way()
    world.rows["erp"] = [{"id": 1, "status": "cancelled"}, {"id": 2, "status": "accepted"}]
    assert counts(run(job, state), "push") == (2, 0, 0)
    # The store reports order 1 as the ERP cancelled it; its shopper cancelled order 2.
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}, {"id": 2, "status": "cancelled"}]

    assert counts(run(job, state), "pull") == (1, 1, 0)
    assert world.sink("erp_out").records == {("2",): {"id": 2, "status": "cancelled"}}
    # A re-read of the same reports (an incremental lookback) sends nothing either.
    assert counts(run(job, state), "pull") == (0, 0, 2)
    assert len(world.sink("erp_out").ops) == 1
    assert state.runs("orders", limit=20)[0].counts.echoed == 0
    pulls = [r for r in state.runs("orders", limit=20) if r.step == "pull"]
    assert [r.counts.echoed for r in pulls] == [0, 1, 0]


def test_the_other_side_echoes_once(world: World, state: SqlStateStore) -> None:
    job = two_way()
    world.rows["erp"] = [{"id": 1, "status": "cancelled"}]
    run(job, state)
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}]
    assert counts(run(job, state), "pull") == (0, 1, 0)
    assert state.echoes_get("orders", "push", [("1",)], ["status"]) == {}  # used up

    # The ERP reopens the order (push sends it), then the store cancels it again: the same
    # value pull recorded at the echo, but a genuine change now, so it passes.
    world.rows["erp"] = [{"id": 1, "status": "accepted"}]
    world.rows["shop"] = []
    assert counts(run(job, state), "push") == (1, 0, 0)
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}]
    assert counts(run(job, state), "pull") == (1, 0, 0)
    assert world.sink("erp_out").records == {("1",): {"id": 1, "status": "cancelled"}}


def test_a_value_that_differs_clears_the_memory(world: World, state: SqlStateStore) -> None:
    job = two_way()
    world.rows["erp"] = [{"id": 1, "status": "accepted"}]
    run(job, state)
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}]
    assert counts(run(job, state), "pull") == (1, 0, 0)
    assert state.echoes_get("orders", "push", [("1",)], ["status"]) == {}


def test_a_write_the_destination_ignored_is_not_remembered(world: World,
                                                            state: SqlStateStore) -> None:
    job = two_way()
    world.sink("store").ignore = lambda op: True  # e.g. a 409 the rules ignore
    world.rows["erp"] = [{"id": 1, "status": "cancelled"}]
    run(job, state)
    assert state.echoes_get("orders", "push", [("1",)], ["status"]) == {}
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}]
    assert counts(run(job, state), "pull") == (1, 0, 0)


def test_memory_lands_with_the_acknowledged_batch_only(world: World,
                                                      state: SqlStateStore) -> None:
    job = two_way()
    world.rows["erp"] = [{"id": 1, "status": "cancelled"}]
    world.sink("store").crash_after_write = 1  # acknowledged, then the process dies
    with pytest.raises(Crash):
        run(job, state)
    assert state.echoes_get("orders", "push", [("1",)], ["status"]) == {}
    world.sink("store").crash_after_write = 0
    run(job, state)  # the batch is replayed, and remembered with its commit
    assert state.echoes_get("orders", "push", [("1",)], ["status"]) != {}

    # The reader dies after writing and before committing: the memory it would have used
    # up is still there, so the replay judges the same way.
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}, {"id": 3, "status": "cancelled"}]
    world.sink("erp_out").crash_after_write = 1
    with pytest.raises(Crash):
        run(job, state)
    assert state.echoes_get("orders", "push", [("1",)], ["status"]) != {}
    world.sink("erp_out").crash_after_write = 0
    assert counts(run(job, state), "pull") == (1, 1, 0)


def test_a_plan_predicts_the_echoes_and_uses_nothing_up(world: World,
                                                         state: SqlStateStore) -> None:
    job = two_way()
    world.rows["erp"] = [{"id": 1, "status": "cancelled"}, {"id": 2, "status": "accepted"}]
    run(job, state)
    world.rows["shop"] = [{"id": 1, "status": "cancelled"}, {"id": 2, "status": "cancelled"}]
    planned = run(job, state, dry_run=True)
    assert planned.plan is not None
    [pull] = [p for p in planned.plan if p.step == "pull"]
    assert (pull.echoed, pull.upserts) == (1, 1)
    assert pull.as_dict()["echoed"] == 1
    assert counts(run(job, state), "pull") == (1, 1, 0)  # the plan used nothing up


STATUSES = ["accepted", "cancelled", "delivered"]
rows = st.lists(st.fixed_dictionaries({"id": st.integers(0, 5),
                                       "status": st.sampled_from(STATUSES)}), max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(erp=rows, shop=rows, later_erp=rows, later_shop=rows,
       mode=st.sampled_from(["changes", "full"]))
def test_plan_counts_equal_the_run_with_echoes(erp: list[dict[str, Any]],
                                               shop: list[dict[str, Any]],
                                               later_erp: list[dict[str, Any]],
                                               later_shop: list[dict[str, Any]],
                                               mode: str) -> None:
    world = registered()
    state = open_state("sqlite://")
    try:
        job = two_way(pull_mode=mode)
        for erp_rows, shop_rows in ((erp, shop), (later_erp, later_shop)):
            world.rows["erp"], world.rows["shop"] = erp_rows, shop_rows
            writes = len(world.sink("erp_out").ops)
            planned = run_job(job, project=None, state=state, dry_run=True,
                              sleep=lambda _s: None)
            assert len(world.sink("erp_out").ops) == writes
            result = run_job(job, project=None, state=state, sleep=lambda _s: None)
            assert planned.plan is not None
            for plan, step in zip(planned.plan, result.steps, strict=True):
                assert (plan.echoed, plan.creates, plan.updates, plan.upserts,
                        plan.unchanged) == (step.echoed, step.created, step.updated,
                                            step.upserted, step.unchanged), plan.step
    finally:
        state.close()
        unregister()
