"""Audits on a schedule: ``audit: {cron, repair, max_drift}`` runs under the scheduler like a
job, records the last audit in the state (``status``), sets the drift gauge, and fails past
``max_drift``. In-memory connector doubles, a real SQLite state store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from connectors.api import register_connector, unregister_connector
from runner.engine import run_job
from runner.project import Project
from runner.scheduler.audits import audit_runner, with_audits
from runner.scheduler.metrics import SchedulerMetrics
from runner.scheduler.service import Scheduler
from runner.scheduler.status import job_statuses, render_text
from runner.spec import AuditPolicy, ConnectorRef, FieldMap, Job, Schedule, Step
from runner.state.base import StateStore
from tests.support.doubles import World
from tests.unit.test_audit import RecordsConnector, RecordsSink

START = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture()
def listed(world: World) -> Iterator[World]:
    register_connector(RecordsConnector)
    RecordsSink.extra = []
    yield world
    unregister_connector(RecordsConnector.name)


def _job(max_drift: int) -> Job:
    step = Step(name="products", source=ConnectorRef("memory", {"name": "erp"}),
                destination=ConnectorRef("memory-records", {"name": "store"}), key=("sku",),
                mappings=(FieldMap("sku", field="sku"), FieldMap("title", field="title")))
    return Job(name="shop", source_file="shop.yaml", steps=(step,),
               schedule=Schedule(cron="*/15 * * * *"),
               audit=AuditPolicy(cron="0 3 * * *", max_drift=max_drift))


class _Now:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


def test_a_scheduled_audit_runs_like_a_job_and_alerts_past_max_drift(
        listed: World, state: StateStore) -> None:
    listed.rows["erp"] = [{"sku": f"S{i}", "title": f"Item {i}"} for i in range(5)]
    job = _job(max_drift=1)
    assert run_job(job, project=None, state=state).status == "succeeded"
    for key in (("S1",), ("S2",)):
        del listed.sink("store").records[key]

    project = with_audits(Project({job.name: job}))
    assert sorted(project.jobs) == ["shop", "shop.audit"]
    assert project.jobs["shop.audit"].schedule.cron == "0 3 * * *"
    ran: list[str] = []

    def run(job: Job, **options: Any) -> Any:
        ran.append(job.name)  # the sync itself: not what this test is about
        return run_job(job, **{k: v for k, v in options.items() if k != "stop"})

    metrics = SchedulerMetrics()
    clock = _Now()
    sched = Scheduler(project, state, clock=clock, runner=audit_runner(run), owner="t",
                      spawn=lambda name, work: work(), observer=metrics)
    sched.tick(clock.now)  # the first tick only sets the baselines
    clock.now = START + dt.timedelta(hours=1, minutes=0, seconds=1)  # 03:00 UTC has passed
    started = sorted(d.job for d in sched.tick(clock.now))
    assert started == ["shop", "shop.audit"] and ran == ["shop"]

    scraped = generate_latest(metrics.registry).decode()
    # The incremental run does not re-send the two records the store lost (their hashes are
    # stored): only the audit sees them, and two is more than max_drift.
    assert ('commerce_sync_drift_records{job="shop",kind="missing",step="products"} 2.0'
            in scraped)
    assert 'commerce_sync_runs_total{job="shop.audit",outcome="failed"} 1.0' in scraped
    [status] = [s for s in job_statuses({"shop": job}, state, clock.now) if s.job == "shop"]
    assert status.audit_drift == 2 and status.audit_at is not None
    assert "DRIFT" in render_text([status]) and " 2 at " in render_text([status])


def test_without_a_cron_no_audit_entry_is_added(listed: World) -> None:
    job = Job(name="shop", source_file="shop.yaml", audit=AuditPolicy(max_drift=3))
    assert list(with_audits(Project({"shop": job})).jobs) == ["shop"]
