"""The shipped online-orders job's echo guards, on the reference ERP and the sandbox store
over loopback: an order the ERP cancelled reaches the store and is not written back to the
ERP when the store reports it cancelled; a cancellation made in the store reaches the ERP and
is not sent back to the store. What is checked is read with plain SQL from the ERP (its row's
modified_at and a count of updates kept by a trigger of the test's own) and over HTTP from the
store, and plan is asked before each run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engine import JobResult, run_job
from runner.scheduler.status import job_statuses, render_text
from tests.integration.jobs_harness import JobsWorld, jobs_world, step


@pytest.fixture
def world(tmp_path: Path) -> Iterator[JobsWorld]:
    with jobs_world(tmp_path, products=60) as w:
        w.run("delivery-and-stores")
        w.run("inventory")
        # Every update of a sales order, counted by the ERP itself.
        w.erp("CREATE TABLE order_updates (store_order_id TEXT, status TEXT)")
        w.erp("CREATE TRIGGER count_order_updates AFTER UPDATE OF status, store_id, "
              "store_order_number, total ON sales_orders FOR EACH ROW BEGIN "
              "INSERT INTO order_updates VALUES (NEW.store_order_id, NEW.status); END")
        yield w


def planned_then_run(world: JobsWorld, *, but: tuple[str, ...] = ()
                     ) -> tuple[dict[str, tuple[int, int]], JobResult]:
    """Plan online-orders, run it, and check the plan's counts were the run's; returns
    ``{step: (written, echoed)}`` of the run. ``but``: steps whose source an earlier step of
    the run writes (a plan writes nothing, so it cannot read that)."""
    job = world.project.job("online-orders")
    plan = run_job(job, project=world.project, state=world.state, dry_run=True)
    assert plan.plan is not None and plan.status == "planned"
    result = world.run("online-orders")
    for p, s in zip(plan.plan, result.steps, strict=True):
        if p.step in but:
            continue
        assert (p.creates + p.updates + p.upserts, p.echoed, p.unchanged) == (
            s.written + s.ignored, s.echoed, s.unchanged), (p.step, p.as_dict(), s.summary())
    return {s.step: (s.written, s.echoed) for s in result.steps}, result


def updates(world: JobsWorld, order: str) -> list[str]:
    return [s for (s,) in world.erp("SELECT status FROM order_updates WHERE store_order_id = ?",
                                    order)]


def test_a_cancellation_travels_once_in_each_direction(world: JobsWorld) -> None:
    sku = next(iter(world.published()))
    by_erp = world.place_order([sku])["id"]
    by_shopper = world.place_order([sku])["id"]
    planned_then_run(world, but=("upload-shipments", "order-status"))
    assert world.order(by_erp)["status"] == world.order(by_shopper)["status"] == "accepted"

    # The ERP cancels an order: order-status sends it to the store.
    world.erp("UPDATE sales_orders SET status = 'cancelled' WHERE store_order_id = ?", by_erp)
    counts, _ = planned_then_run(world)
    assert counts["order-status"] == (1, 0)
    assert world.order(by_erp)["status"] == "cancelled"
    [(stamped,)] = world.erp("SELECT modified_at FROM sales_orders WHERE store_order_id = ?",
                             by_erp)
    assert updates(world, by_erp) == ["cancelled"]  # the ERP's own change

    # The store now reports it cancelled: the ERP's own write coming back, not written back.
    counts, result = planned_then_run(world)
    assert counts["download-cancellations"] == (0, 1)
    assert world.erp("SELECT status, modified_at FROM sales_orders WHERE store_order_id = ?",
                     by_erp) == [("cancelled", stamped)]
    assert updates(world, by_erp) == ["cancelled"]
    assert "echoed 1" in step(result, "download-cancellations").summary()
    [status] = job_statuses({"online-orders": world.project.job("online-orders")},
                            world.state, world.state.runs("online-orders")[0].started_at)
    assert status.echoed_last_run == 1 and "ECHOED" in render_text([status])

    # The shopper cancels the other order in the store: it reaches the ERP, and the ERP's
    # new status is not sent back to the store as a change.
    world.http.patch(f"/v1/orders/{by_shopper}", json={"status": "cancelled"}).raise_for_status()
    counts, _ = planned_then_run(world, but=("order-status",))
    assert counts["download-cancellations"] == (1, 0)
    assert counts["order-status"] == (0, 1)
    assert world.erp("SELECT status FROM sales_orders WHERE store_order_id = ?",
                     by_shopper) == [("cancelled",)]
    assert updates(world, by_shopper) == ["cancelled"]

    # Later runs (the incremental lookback re-reads both reports) change nothing anywhere.
    counts, _ = planned_then_run(world)
    assert counts["download-cancellations"] == counts["order-status"] == (0, 0)
    assert updates(world, by_erp) == updates(world, by_shopper) == ["cancelled"]
    assert world.state.echoes_get("online-orders", "order-status", [(by_erp,)], ["status"]) == {}
