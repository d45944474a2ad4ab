"""The scheduler's decisions with a fake clock, a fake runner and an in-memory claim table.

Runs are "spawned" into a list the test controls, so a run stays in flight until the test
finishes it: overlap, queueing and depends_on are exercised without a single sleep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from runner.errors import LockedError
from runner.scheduler.service import Scheduler, trigger_token
from runner.spec import Job, Schedule, Window
from runner.state.base import ScheduleEntry

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class FakeState:
    """The scheduling part of the StateStore protocol, shared by several schedulers."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.claims: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
        self.scheduled: dict[str, dt.datetime] = {}
        self.triggers: list[str] = []

    def schedule_entries(self) -> dict[str, ScheduleEntry]:
        return {j: ScheduleEntry(j, s, None, None, None) for j, s in self.scheduled.items()}

    def record_scheduled(self, job: str, slot: dt.datetime) -> None:
        self.scheduled[job] = slot

    def try_claim(self, job: str, slot: dt.datetime, owner: str, lease_s: float) -> bool:
        now = self.clock()
        claim = self.claims.get((job, slot))
        if claim is not None and (claim["status"] != "running" or claim["expires"] >= now):
            return False
        self.claims[(job, slot)] = {
            "owner": owner, "expires": now + dt.timedelta(seconds=lease_s), "status": "running",
            "taken_over": claim is not None,
        }
        return True

    def renew_lease(self, job: str, slot: dt.datetime, owner: str, lease_s: float) -> bool:
        claim = self.claims[(job, slot)]
        if claim["owner"] != owner:
            return False
        claim["expires"] = self.clock() + dt.timedelta(seconds=lease_s)
        return True

    def release_claim(self, job: str, slot: dt.datetime, owner: str, status: str) -> None:
        self.claims[(job, slot)]["status"] = status

    def expired_claims(self) -> list[tuple[str, dt.datetime]]:
        now = self.clock()
        newest = {job: max(s for j, s in self.claims if j == job) for job, _ in self.claims}
        return sorted(
            (k for k, c in self.claims.items()
             if c["status"] == "running" and c["expires"] < now and newest[k[0]] == k[1]),
            key=lambda k: k[1],
        )

    def request_trigger(self, job: str, requested_by: str) -> None:
        self.triggers.append(job)

    def take_triggers(self) -> list[str]:
        out, self.triggers = self.triggers, []
        return out


@dataclass
class Manual:
    """Spawner and runner: started runs wait in ``inflight`` until ``finish``."""

    inflight: dict[str, Callable[[], None]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    status: str = "succeeded"

    def spawn(self, name: str, work: Callable[[], None]) -> None:
        assert name not in self.inflight, f"{name} started twice at once"
        self.inflight[name] = work

    def runner(self, job: Job, **kwargs: Any) -> Any:
        self.ran.append(job.name)
        return type("Result", (), {"status": self.status})()

    def finish(self, name: str) -> None:
        self.inflight.pop(name)()

    def finish_all(self) -> None:
        for name in list(self.inflight):
            self.finish(name)


@dataclass
class Project:
    jobs: dict[str, Job]


def job(name: str, cron: str | None = "*/15 * * * *", **kw: Any) -> Job:
    sched = {k: kw.pop(k) for k in ("timezone", "overlap", "missed", "window") if k in kw}
    return Job(name=name, source_file=f"pipelines/{name}.yaml",
               schedule=Schedule(cron=cron, **sched), **kw)


def make(jobs: list[Job], start: dt.datetime, *, state: FakeState | None = None,
         owner: str = "r1", **kw: Any) -> tuple[Scheduler, Clock, FakeState, Manual]:
    clock = state.clock if state is not None else Clock(start)
    state = state or FakeState(clock)
    manual = Manual()
    workers = kw.pop("max_workers", 4)
    sched = Scheduler(Project({j.name: j for j in jobs}), state,  # type: ignore[arg-type]
                      clock=clock, runner=manual.runner, owner=owner, lease_s=30,
                      max_workers=workers, spawn=manual.spawn, **kw)
    return sched, clock, state, manual


def advance(sched: Scheduler, clock: Clock, until: dt.datetime, step_s: float,
            manual: Manual, *, finish: bool = True) -> list[str]:
    started: list[str] = []
    while clock.now < until:
        clock.now += dt.timedelta(seconds=step_s)
        started += [d.job for d in sched.tick(clock.now)]
        if finish:
            manual.finish_all()
    return started


def test_a_simulated_day_of_a_fifteen_minute_job_is_96_runs() -> None:
    sched, clock, state, manual = make([job("stock")], utc(2026, 1, 1))
    sched.tick(clock.now)
    started = advance(sched, clock, utc(2026, 1, 2), 7, manual)
    assert started == ["stock"] * 96
    assert manual.ran == ["stock"] * 96
    assert len(state.claims) == 96
    assert all(c["status"] == "succeeded" for c in state.claims.values())
    assert state.scheduled["stock"] == utc(2026, 1, 2)


def test_spring_forward_day_runs_the_0230_job_once_at_0300_edt() -> None:
    j = job("nightly", cron="30 2 * * *", timezone="America/New_York")
    sched, clock, state, manual = make([j], utc(2026, 3, 7, 12))
    sched.tick(clock.now)
    advance(sched, clock, utc(2026, 3, 9, 12), 60, manual)
    assert sorted(s for (_, s) in state.claims) == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]


def test_fall_back_day_hourly_and_quarter_hourly_jobs_run_each_wall_slot_once() -> None:
    jobs = [job("hourly", cron="0 * * * *", timezone="America/New_York"),
            job("quarter", cron="*/15 * * * *", timezone="America/New_York")]
    sched, clock, state, manual = make(jobs, utc(2026, 11, 1, 4))  # 00:00 EDT
    sched.tick(clock.now)
    started = advance(sched, clock, utc(2026, 11, 2, 5), 30, manual)  # to 00:00 EST next day
    assert started.count("hourly") == 24
    assert started.count("quarter") == 96
    hourly = sorted(s for (j, s) in state.claims if j == "hourly")
    assert utc(2026, 11, 1, 6) not in hourly  # 01:00 EST: the repeated 01:00 is not run again


def test_downtime_skip_versus_run_once_from_the_state_baseline() -> None:
    for policy, expected in (("skip", 0), ("run_once", 1)):
        clock = Clock(utc(2026, 1, 1, 12, 7))
        state = FakeState(clock)
        state.scheduled["stock"] = utc(2026, 1, 1, 10)  # the last run before the downtime
        sched, _, _, manual = make([job("stock", missed=policy)], clock.now, state=state)
        assert len(sched.tick(clock.now)) == expected
        manual.finish_all()
        clock.now = utc(2026, 1, 1, 12, 10)
        assert sched.tick(clock.now) == []
        clock.now = utc(2026, 1, 1, 12, 15)
        assert [d.slot for d in sched.tick(clock.now)] == [utc(2026, 1, 1, 12, 15)]


def test_a_new_job_does_not_catch_up_on_its_past() -> None:
    sched, clock, _, _ = make([job("stock", missed="run_once")], utc(2026, 1, 1, 12, 7))
    assert sched.tick(clock.now) == []


def test_overlap_skip_drops_the_slot_while_the_job_runs() -> None:
    sched, clock, _state, manual = make([job("slow", overlap="skip")], utc(2026, 1, 1))
    sched.tick(clock.now)
    started = advance(sched, clock, utc(2026, 1, 1, 1), 60, manual, finish=False)
    assert started == ["slow"]  # 00:15 started; 00:30, 00:45, 01:00 were skipped
    manual.finish("slow")
    assert advance(sched, clock, utc(2026, 1, 1, 1, 15), 60, manual) == ["slow"]


def test_overlap_queue_keeps_at_most_one_pending_run() -> None:
    sched, clock, _state, manual = make([job("slow", overlap="queue")], utc(2026, 1, 1))
    sched.tick(clock.now)
    started = advance(sched, clock, utc(2026, 1, 1, 1), 60, manual, finish=False)
    assert started == ["slow"]
    assert sched.pending()["slow"].slot == utc(2026, 1, 1, 1)  # the newest one replaced older
    manual.finish("slow")
    clock.now += dt.timedelta(seconds=1)
    assert [d.slot for d in sched.tick(clock.now)] == [utc(2026, 1, 1, 1)]
    manual.finish("slow")
    clock.now += dt.timedelta(seconds=1)
    assert sched.tick(clock.now) == []


def test_window_wrapping_midnight_skips_daytime_slots_unless_forced() -> None:
    j = job("complete", cron="0 * * * *", window=Window(dt.time(22), dt.time(6)))
    sched, clock, state, manual = make([j], utc(2026, 1, 1, 12, 30))
    sched.tick(clock.now)
    started = advance(sched, clock, utc(2026, 1, 2, 12, 30), 60, manual)
    hours = sorted(s.hour for (_, s) in state.claims)
    assert hours == [0, 1, 2, 3, 4, 5, 22, 23]
    assert len(started) == 8
    state.request_trigger(trigger_token("complete"), "test")
    assert sched.tick(clock.now) == []  # outside the window
    state.request_trigger(trigger_token("complete", force=True), "test")
    assert [d.reason for d in sched.tick(clock.now)] == ["trigger"]


def test_depends_on_orders_same_tick_runs_and_waits_for_a_running_dependency() -> None:
    jobs = [job("orders", depends_on=("customers",)), job("customers")]
    sched, clock, _state, manual = make(jobs, utc(2026, 1, 1))
    sched.tick(clock.now)
    clock.now = utc(2026, 1, 1, 0, 15)
    assert [d.job for d in sched.tick(clock.now)] == ["customers"]
    assert "orders" in sched.pending()  # waits rather than overlapping its dependency
    clock.now += dt.timedelta(seconds=1)
    assert sched.tick(clock.now) == []
    manual.finish("customers")
    clock.now += dt.timedelta(seconds=1)
    assert [(d.job, d.slot) for d in sched.tick(clock.now)] == [("orders", utc(2026, 1, 1, 0, 15))]
    manual.finish_all()
    assert manual.ran == ["customers", "orders"]


def test_on_demand_job_runs_only_when_triggered() -> None:
    sched, clock, state, manual = make([job("complete", cron=None)], utc(2026, 1, 1))
    assert advance(sched, clock, utc(2026, 1, 2), 600, manual) == []
    state.request_trigger("complete", "cli")
    state.request_trigger("nosuchjob", "cli")
    got = sched.tick(clock.now)
    assert [(d.job, d.reason) for d in got] == [("complete", "trigger")]
    manual.finish_all()
    assert manual.ran == ["complete"]


def test_max_workers_holds_runs_until_a_worker_is_free() -> None:
    jobs = [job(f"j{i}") for i in range(3)]
    sched, clock, _, manual = make(jobs, utc(2026, 1, 1), max_workers=2)
    sched.tick(clock.now)
    clock.now = utc(2026, 1, 1, 0, 15)
    assert len(sched.tick(clock.now)) == 2
    manual.finish_all()
    clock.now += dt.timedelta(seconds=1)
    assert len(sched.tick(clock.now)) == 1


def test_two_runners_share_slots_and_a_dead_runners_slot_is_taken_over() -> None:
    clock = Clock(utc(2026, 1, 1))
    state = FakeState(clock)
    a, _, _, run_a = make([job("stock")], clock.now, state=state, owner="a")
    b, _, _, run_b = make([job("stock")], clock.now, state=state, owner="b")
    a.tick(clock.now)
    b.tick(clock.now)
    clock.now = utc(2026, 1, 1, 0, 15)
    assert len(a.tick(clock.now)) == 1
    assert b.tick(clock.now) == []  # claimed by a
    # a "dies": its run never finishes and its lease (30 s) is never renewed.
    run_a.inflight.clear()
    clock.now += dt.timedelta(seconds=20)
    assert b.tick(clock.now) == []  # lease still valid
    clock.now += dt.timedelta(seconds=20)
    got = b.tick(clock.now)
    assert [(d.reason, d.slot) for d in got] == [("takeover", utc(2026, 1, 1, 0, 15))]
    run_b.finish_all()
    assert state.claims[("stock", utc(2026, 1, 1, 0, 15))]["owner"] == "b"
    assert run_b.ran == ["stock"] and run_a.ran == []


def test_a_triggered_run_whose_runner_died_is_taken_over() -> None:
    clock = Clock(utc(2026, 1, 1, 0, 0, 5))
    state = FakeState(clock)
    a, _, _, run_a = make([job("orders", cron=None)], clock.now, state=state, owner="a")
    b, _, _, run_b = make([job("orders", cron=None)], clock.now, state=state, owner="b")
    state.request_trigger(trigger_token("orders"), "test")
    assert [d.reason for d in a.tick(clock.now)] == ["trigger"]
    assert b.tick(clock.now) == []  # the trigger was consumed by a
    run_a.inflight.clear()  # a dies mid-run
    clock.now += dt.timedelta(seconds=25)
    assert b.tick(clock.now) == []  # lease (30 s) still valid
    clock.now += dt.timedelta(seconds=10)
    got = b.tick(clock.now)
    assert [d.reason for d in got] == ["takeover"]
    assert got[0].slot.microsecond  # the trigger's own slot, not a cron one
    run_b.finish_all()
    assert [c["owner"] for c in state.claims.values()] == ["b"]
    assert [c["status"] for c in state.claims.values()] == ["succeeded"]
    assert b.tick(clock.now + dt.timedelta(minutes=5)) == []  # done: never again


def test_a_locked_run_keeps_its_claim_unreleased_and_is_retried() -> None:
    sched, clock, state, manual = make([job("stock")], utc(2026, 1, 1))
    waits: list[float] = []

    def locked(job: Job, **kwargs: Any) -> Any:
        waits.append(kwargs["wait_s"])
        raise LockedError("job 'stock' is already running")

    sched._runner = locked
    sched.tick(clock.now)
    clock.now = utc(2026, 1, 1, 0, 15)
    assert len(sched.tick(clock.now)) == 1
    manual.finish_all()
    slot = utc(2026, 1, 1, 0, 15)
    assert waits == [30] and state.claims[("stock", slot)]["status"] == "running"
    sched._runner = manual.runner
    clock.now += dt.timedelta(seconds=31)
    got = sched.tick(clock.now)
    assert [(d.reason, d.slot) for d in got] == [("takeover", slot)]
    manual.finish_all()
    assert state.claims[("stock", slot)]["status"] == "succeeded"


def test_reload_removes_adds_and_changes_jobs() -> None:
    sched, clock, _state, manual = make([job("a"), job("b")], utc(2026, 1, 1))
    sched.tick(clock.now)
    new = Project({"b": job("b", cron="*/5 * * * *"), "c": job("c")})
    sched.replace_project(new)
    started = advance(sched, clock, utc(2026, 1, 1, 0, 15), 60, manual)
    assert sorted(started) == ["b", "b", "b", "c"]


def test_a_failing_or_crashing_run_is_released_with_its_outcome() -> None:
    sched, clock, state, manual = make([job("stock")], utc(2026, 1, 1))
    manual.status = "failed"
    sched.tick(clock.now)
    advance(sched, clock, utc(2026, 1, 1, 0, 15), 60, manual)

    def boom(job: Job, **kwargs: Any) -> Any:
        raise RuntimeError("connector exploded")

    sched._runner = boom
    advance(sched, clock, utc(2026, 1, 1, 0, 30), 60, manual)
    assert [c["status"] for c in state.claims.values()] == ["failed", "failed"]
    assert sched.running() == {}


def test_seconds_until_next_is_bounded_by_the_poll_interval() -> None:
    sched, clock, _, _ = make([job("stock")], utc(2026, 1, 1, 0, 14, 59, 500000), poll_s=1.0)
    sched.tick(clock.now)
    assert sched.seconds_until_next(clock.now) == 0.5
    clock.now = utc(2026, 1, 1, 0, 10)
    sched2, clock2, _, _ = make([replace(job("stock"), name="s2")], utc(2026, 1, 1, 0, 10))
    sched2.tick(clock2.now)
    assert sched2.seconds_until_next(clock2.now) == 1.0
