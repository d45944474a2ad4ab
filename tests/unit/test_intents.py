"""Nothing written twice on a destination whose creates are not idempotent: write-ahead intents,
``match`` before re-sending, find-or-create, and duplicates found by a complete sync."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.api import register_connector, unregister_connector
from runner.engine import retry_quarantined, run_job
from runner.spec import ConnectorRef, Job
from runner.state.base import StateStore
from tests.support.appendonly import AppendOnlyConnector, Store
from tests.support.doubles import Crash, World
from tests.unit.test_engine import make_step, row


@pytest.fixture()
def store() -> Iterator[Store]:
    AppendOnlyConnector.stores = {"shop": Store()}
    register_connector(AppendOnlyConnector)
    yield AppendOnlyConnector.stores["shop"]
    unregister_connector("appendonly")


def job(**kw: Any) -> Job:
    step = make_step(destination=ConnectorRef("appendonly", {"name": "shop"}), **kw)
    return Job(name="inventory", source_file="memory.yaml", steps=(step,))


class Project:
    def __init__(self, j: Job) -> None:
        self._job = j

    def job(self, name: str) -> Job:
        return self._job


def crash_then_rerun(world: World, state: StateStore, store: Store, j: Job) -> Any:
    world.rows["erp"] = [row(i) for i in range(6)]  # batches of 2: three writes
    store.crash_after_write = 2
    with pytest.raises(Crash):
        run_job(j, project=None, state=state)
    store.crash_after_write = 0
    # The second batch was created at the store but its ids never reached the state.
    assert len(store.objects) == 4
    assert set(state.intents_pending("inventory", "products")) == {("A2",), ("A3",)}
    return run_job(j, project=None, state=state)


def test_a_crash_after_creates_is_matched_not_created_again(
    world: World, state: StateStore, store: Store
) -> None:
    store.matchable = True
    rerun = crash_then_rerun(world, state, store, job())
    assert rerun.status == "succeeded"
    assert store.matches[0] == [("A2",), ("A3",)]  # only the unresolved keys were asked for
    assert set(store.per_key().values()) == {1} and len(store.per_key()) == 6
    assert state.intents_pending("inventory", "products") == {}
    ids = state.keymap_get("inventory", "products", [("A2",)])
    assert store.keys[ids[("A2",)]] == ("A2",)
    # A third run writes nothing.
    assert run_job(job(), project=None, state=state).steps[0].written == 0


def test_without_match_the_unresolved_creates_are_held_not_resent(
    world: World, state: StateStore, store: Store
) -> None:
    rerun = crash_then_rerun(world, state, store, job())
    assert len(store.objects) == 6  # A4, A5 created; A2, A3 not sent again
    assert set(store.per_key().values()) == {1}
    held = state.quarantine_list("inventory")
    assert sorted(q.key for q in held if q.key is not None) == [("A2",), ("A3",)]
    assert "may have been created" in held[0].reason
    assert rerun.steps[0].skipped == 2
    # Still held on the next run: nothing is created behind the user's back.
    again = run_job(job(), project=None, state=state)
    assert again.steps[0].skipped == 2 and len(store.objects) == 6
    # The user checked the store (say A2 and A3 were never created there) and releases them.
    store.objects = {i: r for i, r in store.objects.items() if store.keys[i] not in
                     {("A2",), ("A3",)}}
    store.keys = {i: k for i, k in store.keys.items() if i in store.objects}
    report = retry_quarantined(Project(job()), state, job="inventory")
    assert report.released == 2
    assert set(store.per_key().values()) == {1} and len(store.per_key()) == 6
    assert state.intents_pending("inventory", "products") == {}


def test_find_or_create_adopts_objects_made_outside_the_runner(
    world: World, state: StateStore, store: Store
) -> None:
    store.matchable = store.match_always = True
    existing = {key: store.add((key,), {"sku": key}) for key in ("A1", "A3")}
    world.rows["erp"] = [row(i) for i in range(5)]
    result = run_job(job(), project=None, state=state)
    step = result.steps[0]
    assert (step.created, step.updated) == (3, 2)
    assert set(store.per_key().values()) == {1}
    assert state.keymap_get("inventory", "products", [("A1",)]) == {("A1",): existing["A1"]}


def test_a_complete_sync_reports_duplicates_and_never_removes_the_live_object(
    world: World, state: StateStore, store: Store
) -> None:
    store.listable = True
    world.rows["erp"] = [row(i) for i in range(3)]
    run_job(job(delete="unpublish"), project=None, state=state)
    live = state.keymap_get("inventory", "products", [("A1",)])[("A1",)]
    stray = store.add(("A1",), {"sku": "A1", "title": "made by hand"})  # a second A1
    result = run_job(job(delete="unpublish"), project=None, state=state, mode="full")
    assert result.steps[0].duplicate_keys == 1
    [report] = state.duplicates_list("inventory")
    assert report.key == ("A1",) and set(report.ids) == {live, stray} and report.kept == live
    # The key map kept the object it held (on_duplicate: report); nothing was unpublished.
    assert state.keymap_get("inventory", "products", [("A1",)])[("A1",)] == live
    assert all(store.published.values())
    assert store.objects[live]["title"] == "item 1"


@pytest.mark.parametrize(("policy", "kept"), [("keep_oldest", 0), ("keep_newest", 1)])
def test_on_duplicate_policies_choose_by_id_order(
    world: World, state: StateStore, store: Store, policy: str, kept: int
) -> None:
    store.listable = True
    ids = [store.add(("A0",), {"sku": "A0"}) for _ in range(2)]
    world.rows["erp"] = [row(0)]
    run_job(job(on_duplicate=policy), project=None, state=state, mode="full")
    assert state.keymap_get("inventory", "products", [("A0",)]) == {("A0",): ids[kept]}
    assert len(store.objects) == 2  # reported, not deleted


def test_duplicates_command_lists_every_id(
    world: World, store: Store, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.cli.main import main
    from runner.state import open_state

    path = tmp_path / "state.db"
    state = open_state(str(path))
    store.listable = True
    first, second = (store.add(("A0",), {"sku": "A0"}) for _ in range(2))
    world.rows["erp"] = [row(0)]
    run_job(job(), project=None, state=state, mode="full")
    state.close()
    assert main(["duplicates", "--state", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"inventory/products A0: kept {first}; also held as {second}" in out
    assert main(["duplicates", "--state", str(path), "--format", "json"]) == 0
    assert f'"{second}"' in capsys.readouterr().out
