"""Freshness and quarantine gauges of the serve loop, against a counting fake store."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from runner.errors import StateError
from runner.scheduler.metrics import SchedulerMetrics
from runner.spec import Job, Schedule
from runner.state.base import ScheduleEntry

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


class CountingState:
    def __init__(self, quarantined: dict[str, int], fail: bool = False) -> None:
        self.quarantined = quarantined
        self.fail = fail
        self.calls: list[str | None] = []

    def schedule_entries(self) -> dict[str, ScheduleEntry]:
        return {"a": ScheduleEntry("a", None, None, "succeeded", NOW - dt.timedelta(hours=2))}

    def quarantine_count(self, job: str | None = None) -> int:
        self.calls.append(job)
        if self.fail:
            raise StateError("the state store is down")
        if job is None:
            return sum(self.quarantined.values())
        return self.quarantined.get(job, 0)


def jobs(n: int) -> dict[str, Job]:
    names = ["a"] + [f"j{i}" for i in range(n - 1)]
    return {
        name: Job(name=name, source_file=f"{name}.yaml", schedule=Schedule(cron="0 3 * * *"),
                  max_age_s=3600.0 if name == "a" else None)
        for name in names
    }


def gauge(metrics: SchedulerMetrics, name: str, job: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"job": job})


def test_nothing_quarantined_costs_one_count_not_one_per_job() -> None:
    metrics, state = SchedulerMetrics(), CountingState({})
    assert metrics.check_freshness(jobs(100), state, NOW) == ["a"]  # 2 h old, max 1 h
    assert state.calls == [None]
    assert gauge(metrics, "commerce_sync_quarantine_size", "j5") == 0
    assert gauge(metrics, "commerce_sync_freshness_breached", "a") == 1


def test_quarantined_records_are_counted_per_job() -> None:
    metrics, state = SchedulerMetrics(), CountingState({"j1": 3})
    metrics.check_freshness(jobs(3), state, NOW)
    assert state.calls == [None, "a", "j0", "j1"]
    assert gauge(metrics, "commerce_sync_quarantine_size", "j1") == 3
    assert gauge(metrics, "commerce_sync_quarantine_size", "j0") == 0


def test_a_failing_count_keeps_the_last_gauge_values() -> None:
    metrics, state = SchedulerMetrics(), CountingState({"j1": 3})
    metrics.check_freshness(jobs(3), state, NOW)
    state.fail = True
    metrics.check_freshness(jobs(3), state, NOW)
    assert gauge(metrics, "commerce_sync_quarantine_size", "j1") == 3


def _never_run_job() -> dict[str, Job]:
    return {"b": Job(name="b", source_file="b.yaml", schedule=Schedule(cron="*/15 * * * *"),
                     max_age_s=3600.0)}


class NeverRun(CountingState):
    def schedule_entries(self) -> dict[str, ScheduleEntry]:
        return {}


def test_a_job_never_run_is_not_an_error_at_a_fresh_start(caplog: Any) -> None:
    """Issue 11, item 7: ``serve`` logged ``ERROR job.stale age_s=None`` for every job at
    start, before any run could have happened."""
    metrics, state = SchedulerMetrics(), NeverRun({})
    with caplog.at_level(logging.INFO, logger="runner.scheduler.metrics"):
        assert metrics.check_freshness(_never_run_job(), state, NOW) == []
        metrics.check_freshness(_never_run_job(), state, NOW + dt.timedelta(minutes=30))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("INFO", "job.never_run")]
    assert gauge(metrics, "commerce_sync_freshness_breached", "b") == 0


def test_a_job_still_never_run_past_its_objective_is_stale(caplog: Any) -> None:
    metrics, state = SchedulerMetrics(), NeverRun({})
    metrics.check_freshness(_never_run_job(), state, NOW)
    with caplog.at_level(logging.INFO, logger="runner.scheduler.metrics"):
        later = NOW + dt.timedelta(hours=1, minutes=1)
        assert metrics.check_freshness(_never_run_job(), state, later) == ["b"]
    stale = [r for r in caplog.records if r.getMessage() == "job.stale"]
    assert len(stale) == 1 and stale[0].levelname == "ERROR"
    assert stale[0].__dict__["never_run"] is True and stale[0].__dict__["waited_s"] == 3660.0
    assert "age_s" not in stale[0].__dict__
    assert gauge(metrics, "commerce_sync_freshness_breached", "b") == 1


class _Result:
    def __init__(self, quarantined: int) -> None:
        self.quarantined = quarantined
        self.steps: list[Any] = []


def test_a_partial_run_is_counted_under_its_own_outcome_with_its_quarantined_records() -> None:
    """Issue 11, item 6: metrics said ``succeeded`` for a run that quarantined records."""
    metrics = SchedulerMetrics()
    metrics.run_finished("inventory", "partial", 1.0, _Result(quarantined=7))
    sample = metrics.registry.get_sample_value
    assert sample("commerce_sync_runs_total", {"job": "inventory", "outcome": "partial"}) == 1
    assert gauge(metrics, "commerce_sync_last_run_quarantined", "inventory") == 7
    metrics.run_finished("inventory", "succeeded", 1.0, _Result(quarantined=0))
    assert gauge(metrics, "commerce_sync_last_run_quarantined", "inventory") == 0
