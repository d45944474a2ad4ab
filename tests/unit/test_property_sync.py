"""Property: whatever inserts, updates, deletes and (de)selections happen between runs, any
sequence of incremental/changes runs followed by a full run leaves the destination exactly as
a single full run from scratch would, and no run writes a key twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.engine import run_job
from runner.spec import Compare, ConnectorRef, CursorSpec, ErrorPolicy, FieldMap, Job, Step
from runner.state import open_state
from tests.support.doubles import MemoryDestination, register, unregister

SKUS = [f"S{i}" for i in range(8)]

op = st.one_of(
    st.tuples(st.just("upsert"), st.sampled_from(SKUS), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(SKUS), st.just(0)),
    st.tuples(st.just("select"), st.sampled_from(SKUS), st.booleans().map(int)),
)
rounds = st.lists(
    st.tuples(st.lists(op, max_size=6), st.sampled_from(["incremental", "changes"])),
    max_size=5,
)


def job(delete: str) -> Job:
    step = Step(
        name="products",
        source=ConnectorRef("memory", {"name": "erp"}),
        destination=ConnectorRef("memory", {"name": "store"}),
        key=("sku",),
        mode="incremental",
        cursor=CursorSpec("modified", lookback_s=0),
        filter=Compare("selected", "equals", True),
        mappings=(FieldMap("sku", field="sku"), FieldMap("title", field="title")),
        delete=delete,  # type: ignore[arg-type]
        batch_size=3,
        errors=ErrorPolicy(max_bad_records=None),
    )
    return Job(name="inventory", source_file="memory.yaml", steps=(step,))


def writes_per_run(dest: MemoryDestination, start: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(o.key) for batch in dest.writes[start:] for o in batch)


def run(the_job: Job, state: Any, dest: MemoryDestination, mode: Any) -> None:
    start = len(dest.writes)
    result = run_job(the_job, project=None, state=state, mode=mode, sleep=lambda _s: None)
    assert result.status == "succeeded", result.error
    repeated = [k for k, n in writes_per_run(dest, start).items() if n > 1]
    assert repeated == [], f"keys written twice in one {mode} run: {repeated}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=rounds, delete=st.sampled_from(["delete", "unpublish"]))
def test_runs_then_full_equal_one_full_run_from_scratch(
    history: list[tuple[list[tuple[str, str, int]], str]], delete: str
) -> None:
    try:
        check_history(history, delete)
    finally:
        unregister()


def check_history(history: list[tuple[list[tuple[str, str, int]], str]], delete: str) -> None:
    world = register()
    state = open_state("sqlite://")
    the_job = job(delete)
    rows: dict[str, dict[str, Any]] = {}
    clock = 0
    dest = world.sink("store")
    for ops, mode in history:
        for kind, sku, value in ops:
            clock += 1
            if kind == "upsert":
                selected = rows.get(sku, {}).get("selected", True)
                rows[sku] = {"sku": sku, "title": f"{sku} v{value}", "selected": selected,
                             "modified": clock}
            elif kind == "delete":
                rows.pop(sku, None)
            elif sku in rows:
                rows[sku] = {**rows[sku], "selected": bool(value), "modified": clock}
        world.rows["erp"] = list(rows.values())
        run(the_job, state, dest, mode)
    run(the_job, state, dest, "full")
    state.close()

    # The reference: the same final source, synced once, from nothing.
    fresh_world = register()
    fresh_world.rows["erp"] = list(rows.values())
    fresh_state = open_state("sqlite://")
    fresh = fresh_world.sink("store")
    run(the_job, fresh_state, fresh, "full")
    fresh_state.close()

    assert dest.visible() == fresh.visible()
    expected = {(s,): {"sku": s, "title": r["title"]} for s, r in rows.items() if r["selected"]}
    assert fresh.visible() == expected
