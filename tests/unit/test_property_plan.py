"""Property: ``plan`` is the run without writes. For random data, prior state, sync modes,
delete policies and destination shapes, the per-step counts of a plan equal those of the run
that follows it, including a second step whose records carry the ids its first step creates
(a plan sees the placeholder ids of its own planned creates), and the plan changes nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.engine import run_job
from runner.spec import (
    Compare,
    ConnectorRef,
    CursorSpec,
    ErrorPolicy,
    FieldMap,
    Job,
    KeymapRef,
    Step,
)
from runner.state import open_state
from tests.support.doubles import register, unregister

SKUS = [f"S{i}" for i in range(6)]
SHAPES = [frozenset({"create", "update"}), frozenset({"upsert"}),
          frozenset({"create", "update", "upsert"})]

product = st.fixed_dictionaries({
    "sku": st.sampled_from(SKUS),
    "title": st.sampled_from(["a", "b", "c", ""]),
    "selected": st.booleans(),
    "modified": st.integers(0, 5),
})
catalogue = st.lists(product, max_size=8)


def make_job(mode: str, delete: str) -> Job:
    common: dict[str, Any] = {
        "source": ConnectorRef("memory", {"name": "erp"}),
        "mode": mode,
        "cursor": CursorSpec("modified") if mode == "incremental" else None,
        "filter": Compare("selected", "equals", True),
        "batch_size": 3,
        "errors": ErrorPolicy(max_bad_records=None),
    }
    products = Step(name="products", destination=ConnectorRef("memory", {"name": "store"}),
                    key=("sku",), delete=delete,
                    mappings=(FieldMap("sku", field="sku"),
                              FieldMap("title", field="title", required=True)),
                    **common)
    # The variant step writes with its product's destination id, which the first step creates
    # in the same run on a fresh destination.
    variants = Step(name="variants", destination=ConnectorRef("memory", {"name": "variants"}),
                    key=("vsku",),
                    mappings=(FieldMap("vsku", field="sku"),
                              FieldMap("product_id", keymap=KeymapRef("products", "sku"))),
                    **common)
    return Job(name="inventory", source_file="memory.yaml", steps=(products, variants))


COUNTS = ("read", "created", "updated", "upserted", "unchanged", "removed", "quarantined",
          "skipped", "duplicates")


def plan_counts(plan: Any) -> dict[str, int]:
    return {"read": plan.read, "created": plan.creates, "updated": plan.updates,
            "upserted": plan.upserts, "unchanged": plan.unchanged, "removed": plan.deletes,
            "quarantined": plan.quarantined, "skipped": plan.skipped,
            "duplicates": plan.duplicates}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=catalogue, after=catalogue, prior=st.booleans(),
       mode=st.sampled_from(["incremental", "changes", "full"]),
       delete=st.sampled_from(["ignore", "unpublish", "delete"]),
       shape=st.sampled_from(SHAPES), listable=st.booleans())
def test_plan_counts_equal_the_run(before: list[dict[str, Any]], after: list[dict[str, Any]],
                                   prior: bool, mode: str, delete: str,
                                   shape: frozenset[str], listable: bool) -> None:
    world = register()
    try:
        for name in ("store", "variants"):
            world.sink(name).actions = shape
            world.sink(name).listable = listable
        state = open_state("sqlite://")
        job = make_job(mode, delete)
        if prior:
            world.rows["erp"] = [dict(r) for r in before]
            run_job(job, project=None, state=state, mode="full", sleep=lambda _s: None)
        world.rows["erp"] = [dict(r) for r in after]
        writes_before = [len(world.sink(n).writes) for n in ("store", "variants")]
        runs_before = len(state.runs())

        planned = run_job(job, project=None, state=state, dry_run=True, sleep=lambda _s: None)
        assert [len(world.sink(n).writes) for n in ("store", "variants")] == writes_before
        assert len(state.runs()) == runs_before

        result = run_job(job, project=None, state=state, sleep=lambda _s: None)
        assert planned.plan is not None and result.status in ("succeeded", "partial")
        for plan, step in zip(planned.plan, result.steps, strict=True):
            assert plan_counts(plan) == {c: getattr(step, c) for c in COUNTS}, plan.step
    finally:
        unregister()
