"""The dry run: what a run would do, and proof that it did nothing."""

from __future__ import annotations

import json

from runner.cli.run_cmd import render_plan
from runner.engine import run_job
from runner.errors import register_secret
from runner.spec import Compare, FieldMap
from runner.state.base import StateStore
from tests.support.doubles import World
from tests.unit.test_engine import make_job, make_step, row


def test_plan_counts_and_samples_without_writing(world: World, state: StateStore) -> None:
    step = make_step(filter=Compare("sell_online", "equals", True), delete="unpublish")
    job = make_job(step)
    world.rows["erp"] = [row(i) for i in range(8)]
    run_job(job, project=None, state=state)
    dest = world.sink("store")
    dest.writes.clear()
    runs_before = len(state.runs())

    world.rows["erp"][0] = row(0, name="renamed")
    world.rows["erp"][1]["sell_online"] = False
    world.rows["erp"] += [row(i) for i in range(10, 17)]
    result = run_job(job, project=None, state=state, mode="full", dry_run=True)

    assert result.status == "planned" and result.plan is not None
    plan = result.plan[0]
    # A full run rewrites the unchanged records too (it repairs a destination that lost data).
    assert (plan.creates, plan.updates, plan.deletes, plan.unchanged) == (7, 7, 1, 0)
    assert plan.rewrites_unchanged and plan.delete_action == "unpublish"
    assert len(plan.samples["create"]) == 5  # the first five only
    assert plan.samples["update"][0].record == {"sku": "A0", "title": "renamed", "price": "0.50"}
    assert [s.key for s in plan.samples["delete"]] == [("A1",)]
    # Nothing was written, committed or recorded.
    assert dest.writes == []
    assert len(state.runs()) == runs_before
    assert ("A10",) not in state.get_hashes("inventory", "products", [("A10",)])
    doc = json.dumps(plan.as_dict())
    assert json.loads(doc)["samples"]["delete"][0]["key"] == ["A1"]


def test_plan_in_changes_mode_predicts_the_run_listing_or_not(
    world: World, state: StateStore
) -> None:
    """A changes run does not read the listing, so its plan does not either: both create A1
    (a destination that should be asked first declares ``match: {when: always}``)."""
    dest = world.sink("store")
    dest.listable = True
    dest.records[("A1",)] = {"sku": "A1"}
    dest.ids[("A1",)] = "id-7"
    world.rows["erp"] = [row(1), row(2)]
    job = make_job(make_step(delete="delete"))
    plan = run_job(job, project=None, state=state, dry_run=True).plan
    assert plan is not None
    result = run_job(job, project=None, state=state)
    assert (plan[0].creates, plan[0].updates, plan[0].deletes) == (2, 0, 0)
    step = result.steps[0]
    assert (step.created, step.updated, step.removed) == (2, 0, 0)
    assert not plan[0].destination_listed


def test_plan_masks_secrets_in_text_output(world: World, state: StateStore) -> None:
    register_secret("hunter2-secret")
    world.rows["erp"] = [row(1, name="hunter2-secret")]
    step = make_step(mappings=(FieldMap("sku", field="item_id"), FieldMap("title", field="name")))
    plan = run_job(make_job(step), project=None, state=state, dry_run=True).plan
    assert plan is not None
    text = render_plan("inventory", plan)
    assert "hunter2-secret" not in text and "***" in text
    assert "1 to create" in text
