"""Pure timing: slots, DST policy, missed-run policy, windows, dependency order."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from runner.errors import ConfigError
from runner.scheduler.timing import (
    decide,
    dependency_order,
    in_window,
    latest_slot,
    next_slot,
    slots_between,
)
from runner.spec import Schedule, Window

UTC = dt.UTC
NY = "America/New_York"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def hhmm(slots: list[dt.datetime]) -> list[str]:
    return [s.strftime("%H:%M") for s in slots]


def test_fifteen_minute_job_over_a_day_has_96_slots() -> None:
    s = Schedule(cron="*/15 * * * *")
    slots = list(slots_between(s, utc(2026, 1, 1), utc(2026, 1, 2)))
    assert len(slots) == 96
    assert slots[0] == utc(2026, 1, 1, 0, 15)
    assert slots[-1] == utc(2026, 1, 2)
    assert all(b - a == dt.timedelta(minutes=15) for a, b in itertools.pairwise(slots))


def test_slots_are_in_the_jobs_timezone() -> None:
    s = Schedule(cron="0 9 * * *", timezone="America/Chicago")
    assert next_slot(s, utc(2026, 1, 5)) == utc(2026, 1, 5, 15)  # 09:00 CST
    assert next_slot(s, utc(2026, 7, 5)) == utc(2026, 7, 5, 14)  # 09:00 CDT


# --- DST: spring forward, America/New_York 2026-03-08 02:00 -> 03:00 -------------------------

def test_spring_daily_slot_in_the_skipped_hour_runs_once_at_the_first_valid_instant() -> None:
    s = Schedule(cron="30 2 * * *", timezone=NY)
    slots = list(slots_between(s, utc(2026, 3, 7), utc(2026, 3, 10)))
    # 07:30 UTC is 02:30 EST; on the 8th 02:30 does not exist -> 03:00 EDT = 07:00 UTC.
    assert slots == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]


def test_spring_hourly_job_runs_once_for_the_missing_hour() -> None:
    s = Schedule(cron="0 * * * *", timezone=NY)
    slots = list(slots_between(s, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9)))
    # 01:00 EST (06:00Z), then 02:00 (missing) and 03:00 EDT both map to 07:00Z: one run.
    assert slots == [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), utc(2026, 3, 8, 9)]


def test_spring_fifteen_minute_job_collapses_the_missing_hour() -> None:
    s = Schedule(cron="*/15 * * * *", timezone=NY)
    day = list(slots_between(s, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)))
    assert len(day) == len(set(day)) == 23 * 4  # a 23-hour local day
    around = [x for x in day if utc(2026, 3, 8, 6, 30) <= x <= utc(2026, 3, 8, 7, 15)]
    assert hhmm(around) == ["06:30", "06:45", "07:00", "07:15"]


# --- DST: fall back, America/New_York 2026-11-01 01:00-02:00 happens twice ---------------------

def test_autumn_daily_slot_in_the_repeated_hour_runs_once() -> None:
    s = Schedule(cron="30 1 * * *", timezone=NY)
    slots = list(slots_between(s, utc(2026, 10, 31), utc(2026, 11, 3)))
    # 01:30 EDT (05:30Z) on the 1st, not also 01:30 EST (06:30Z).
    assert slots == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_autumn_daily_0230_job() -> None:
    s = Schedule(cron="30 2 * * *", timezone=NY)
    assert list(slots_between(s, utc(2026, 11, 1), utc(2026, 11, 2))) == [utc(2026, 11, 1, 7, 30)]


def test_autumn_hourly_job_does_not_run_twice_at_0100() -> None:
    s = Schedule(cron="0 * * * *", timezone=NY)
    slots = list(slots_between(s, utc(2026, 11, 1, 3), utc(2026, 11, 1, 8)))
    # 00:00 EDT=04Z, 01:00 EDT=05Z, (01:00 EST=06Z is not a second slot), 02:00 EST=07Z, 03:00=08Z
    assert slots == [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 7),
                     utc(2026, 11, 1, 8)]


def test_autumn_fifteen_minute_job_covers_the_local_day_once() -> None:
    s = Schedule(cron="*/15 * * * *", timezone=NY)
    day = list(slots_between(s, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)))
    assert len(day) == len(set(day)) == 24 * 4  # every wall-clock quarter once


def test_latest_slot_during_the_second_pass_of_the_repeated_hour() -> None:
    s = Schedule(cron="*/15 * * * *", timezone=NY)
    # 06:10Z is 01:10 EST; the newest slot already past is 01:45 EDT (05:45Z), not 01:00.
    assert latest_slot(s, utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 1, 5, 45)
    assert next_slot(s, utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 1, 7)


def test_decide_on_the_spring_day_runs_the_0230_job_at_0300_edt() -> None:
    s = Schedule(cron="30 2 * * *", timezone=NY)
    last = utc(2026, 3, 7, 7, 30)
    assert decide(s, last, utc(2026, 3, 8, 6, 59)).slot is None
    got = decide(s, last, utc(2026, 3, 8, 7, 0, 1))
    assert got.slot == utc(2026, 3, 8, 7) and not got.catch_up
    assert decide(s, got.seen, utc(2026, 3, 8, 7, 30)).slot is None


# --- missed runs ---------------------------------------------------------------------------

def test_on_time_slot_runs_under_both_policies() -> None:
    for missed in ("skip", "run_once"):
        s = Schedule(cron="*/15 * * * *", missed=missed)  # type: ignore[arg-type]
        got = decide(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 15, 3))
        assert got.slot == utc(2026, 1, 1, 10, 15) and got.missed == 0 and not got.catch_up
        assert got.next_run == utc(2026, 1, 1, 10, 30)


def test_downtime_with_skip_runs_nothing_until_the_next_slot() -> None:
    s = Schedule(cron="*/15 * * * *", missed="skip")
    got = decide(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 12, 7))
    assert got.slot is None
    assert got.missed == 8  # 10:15 ... 12:00
    assert got.seen == utc(2026, 1, 1, 12)
    assert got.next_run == utc(2026, 1, 1, 12, 15)
    assert decide(s, got.seen, utc(2026, 1, 1, 12, 15)).slot == utc(2026, 1, 1, 12, 15)


def test_downtime_with_run_once_runs_one_catch_up() -> None:
    s = Schedule(cron="*/15 * * * *", missed="run_once")
    got = decide(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 12, 7))
    assert got.slot == utc(2026, 1, 1, 12) and got.catch_up and got.missed == 7
    assert decide(s, got.seen, utc(2026, 1, 1, 12, 8)).slot is None  # only once


def test_downtime_with_an_on_time_slot_after_it() -> None:
    s = Schedule(cron="*/15 * * * *", missed="skip")
    got = decide(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 12, 0, 20))
    assert got.slot == utc(2026, 1, 1, 12) and got.missed == 7 and not got.catch_up


def test_grace_never_reaches_half_way_to_the_next_slot() -> None:
    s = Schedule(cron="* * * * * */10", missed="skip")  # every 10 seconds
    assert decide(s, utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 14)).slot == utc(
        2026, 1, 1, 0, 0, 10
    )
    assert decide(s, utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 16)).slot is None


def test_on_demand_job_is_never_due() -> None:
    s = Schedule(cron=None)
    got = decide(s, None, utc(2026, 1, 1))
    assert got.slot is None and got.next_run is None
    assert list(slots_between(s, utc(2026, 1, 1), utc(2026, 2, 1))) == []


def test_bad_timezone_and_cron_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="timezone"):
        next_slot(Schedule(cron="* * * * *", timezone="Mars/Olympus"), utc(2026, 1, 1))
    with pytest.raises(ConfigError, match="cron"):
        next_slot(Schedule(cron="61 * * * *"), utc(2026, 1, 1))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(Schedule(cron="* * * * *"), dt.datetime(2026, 1, 1))


# --- windows -------------------------------------------------------------------------------

def test_window_wrapping_midnight_in_the_jobs_timezone() -> None:
    s = Schedule(cron="0 * * * *", timezone=NY, window=Window(dt.time(22), dt.time(6)))
    inside = [h for h in range(24) if in_window(s, utc(2026, 1, 10, h))]
    # 22:00-06:00 EST is 03:00-11:00 UTC
    assert inside == [3, 4, 5, 6, 7, 8, 9, 10]
    assert in_window(Schedule(cron="0 * * * *"), utc(2026, 1, 1, 12))


# --- depends_on ----------------------------------------------------------------------------

def test_dependency_order_puts_dependencies_first_and_keeps_the_rest_stable() -> None:
    deps = {"orders": ["customers", "products"], "products": ["dims"], "stock": []}
    got = dependency_order(["orders", "stock", "products", "customers", "dims"], deps)
    assert got.index("dims") < got.index("products") < got.index("orders")
    assert got.index("customers") < got.index("orders")
    assert got[0] == "stock"


def test_dependency_order_ignores_jobs_not_due_and_survives_a_cycle() -> None:
    assert dependency_order(["b"], {"b": ["a"]}) == ["b"]
    assert sorted(dependency_order(["a", "b"], {"a": ["b"], "b": ["a"]})) == ["a", "b"]
