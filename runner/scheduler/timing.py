"""What is due at ``now``: cron slots as aware UTC datetimes, computed without any clock.

Cron expressions are evaluated on the job's local wall clock (``Schedule.timezone``) and every
slot is then mapped to one UTC instant. The DST policy, pinned by the unit tests:

* **Every wall-clock slot runs exactly once.** croniter on its own (given an aware start)
  runs an hourly job twice in the repeated hour of a fall-back day (01:00 EDT and 01:00 EST)
  and a 15-minute job eight times there; we iterate naive local times instead, so 01:00
  exists once and maps to its *first* occurrence (``fold=0``, the daylight-time instant).
* **A slot in the skipped hour runs once, at the first valid instant after it.** On a
  spring-forward day (America/New_York 2026-03-08 02:00-03:00 does not exist) a daily 02:30
  job runs at 03:00 EDT; an hourly job's 02:00 and its 03:00 both map to 03:00 EDT and are
  deduplicated into one run, as are the four 15-minute slots of the missing hour.

A six-field expression carries seconds as the sixth field (croniter's convention), which is
how the tests and small demos get runs every few seconds.

Missed runs after downtime (``Schedule.missed``): the newest slot that is at most ``grace``
old is on time and runs under either policy; older slots are missed. ``skip`` drops them and
waits for the next future slot; ``run_once`` runs one catch-up run for all of them together.

>>> import datetime as dt
>>> from runner.spec import Schedule
>>> s = Schedule(cron="*/15 * * * *")
>>> next_slot(s, dt.datetime(2026, 1, 1, 10, 7, tzinfo=dt.UTC)).isoformat()
'2026-01-01T10:15:00+00:00'
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter

from runner.errors import ConfigError
from runner.spec import Schedule

__all__ = [
    "DEFAULT_GRACE_S",
    "DueDecision",
    "decide",
    "dependency_order",
    "in_window",
    "latest_slot",
    "next_slot",
    "slots_between",
    "to_local",
]

DEFAULT_GRACE_S = 60.0
# Enumerating slots is bounded: a seconds-level cron after a month of downtime would otherwise
# walk millions of instants just to count what was missed.
_MAX_ENUMERATE = 10_000


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"unknown timezone {name!r}; use an IANA name such as 'America/New_York'"
        ) from exc


def _require_aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("scheduler times must be timezone-aware (UTC)")
    return moment.astimezone(dt.UTC)


def to_local(moment: dt.datetime, timezone: str) -> dt.datetime:
    """``moment`` on the wall clock of ``timezone`` (aware)."""
    return _require_aware(moment).astimezone(_zone(timezone))


def _naive_local(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _wall_to_utc(wall: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Map a naive wall-clock time to one UTC instant (see the module's DST policy)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
    if _naive_local(first, tz) == wall:
        return first  # exists (an ambiguous time resolves to its first occurrence)
    # ``wall`` falls in a gap. Local time is monotonic over [fold=1 instant, fold=0 instant]
    # and jumps over ``wall`` once, so bisect for the first instant whose local time >= wall.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(dt.UTC)
    hi = first
    if lo > hi:
        lo, hi = hi, lo
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp()) + 1
    while lo_s < hi_s:
        mid = (lo_s + hi_s) // 2
        if _naive_local(dt.datetime.fromtimestamp(mid, dt.UTC), tz) >= wall:
            hi_s = mid
        else:
            lo_s = mid + 1
    return dt.datetime.fromtimestamp(lo_s, dt.UTC)


def _iter(cron: str, start_wall: dt.datetime, *, forward: bool) -> Iterator[dt.datetime]:
    try:
        it = croniter(cron, start_wall)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"invalid cron expression {cron!r}: {exc}") from exc
    while True:
        yield it.get_next(dt.datetime) if forward else it.get_prev(dt.datetime)


def _wall_start(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The newest wall time whose slot can be at or before ``moment``.

    Wall times map monotonically onto instants, with one exception: during the second pass of a
    repeated hour, wall times later than now's (01:45 while it is 01:10 EST) map to their first
    pass, which is already past; widen by the fold's offset to include them.
    """
    local = moment.astimezone(tz)
    wall = local.replace(tzinfo=None)
    if local.fold == 1:
        first = local.replace(fold=0).utcoffset()
        second = local.utcoffset()
        if first is not None and second is not None and first > second:
            wall += first - second
    return wall


def slots_between(
    schedule: Schedule, after: dt.datetime, until: dt.datetime
) -> Iterator[dt.datetime]:
    """Slots ``s`` with ``after < s <= until``, ascending, deduplicated, as UTC instants.

    Bounded to the first 10 000 so that counting missed runs stays cheap.
    """
    if schedule.cron is None:
        return
    tz = _zone(schedule.timezone)
    after, until = _require_aware(after), _require_aware(until)
    last: dt.datetime | None = None
    count = 0
    # A wall time at or before ``after``'s maps at or before ``after``: start there.
    for wall in _iter(schedule.cron, _naive_local(after, tz), forward=True):
        slot = _wall_to_utc(wall, tz)
        if slot > until:
            return  # the mapping is monotonic: nothing later can be in range
        if slot <= after or slot == last:
            continue
        last = slot
        yield slot
        count += 1
        if count >= _MAX_ENUMERATE:
            return


def next_slot(schedule: Schedule, after: dt.datetime) -> dt.datetime | None:
    """The first slot strictly after ``after`` (None for an on-demand job)."""
    if schedule.cron is None:
        return None
    tz = _zone(schedule.timezone)
    after = _require_aware(after)
    for wall in _iter(schedule.cron, _naive_local(after, tz), forward=True):
        slot = _wall_to_utc(wall, tz)
        if slot > after:
            return slot
    return None  # pragma: no cover - croniter iterates forever


def latest_slot(schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
    """The newest slot at or before ``now`` (None for an on-demand job)."""
    if schedule.cron is None:
        return None
    tz = _zone(schedule.timezone)
    now = _require_aware(now)
    # croniter's get_prev is exclusive of its start: start one second later to include ``now``.
    start = _wall_start(now, tz) + dt.timedelta(seconds=1)
    for wall in _iter(schedule.cron, start, forward=False):
        slot = _wall_to_utc(wall, tz)
        if slot <= now:
            return slot
    return None  # pragma: no cover


def in_window(schedule: Schedule, moment: dt.datetime) -> bool:
    """Whether ``moment`` lies in the job's allowed time-of-day window (always, if none)."""
    if schedule.window is None:
        return True
    local = to_local(moment, schedule.timezone)
    return schedule.window.contains(local.time().replace(tzinfo=None))


@dataclass(frozen=True)
class DueDecision:
    """The outcome of asking "is this job due at ``now``?".

    ``slot``: the slot to run now (None: nothing to run). ``missed``: slots that will not run
    (counted up to the enumeration bound). ``catch_up``: ``slot`` is late and runs under the
    ``run_once`` policy. ``seen``: the newest slot considered, the caller's new baseline.
    ``next_run``: the next future slot.
    """

    slot: dt.datetime | None
    missed: int
    catch_up: bool
    seen: dt.datetime | None
    next_run: dt.datetime | None


def decide(
    schedule: Schedule,
    last: dt.datetime | None,
    now: dt.datetime,
    *,
    grace_s: float = DEFAULT_GRACE_S,
) -> DueDecision:
    """Which slot (if any) is due at ``now``, given the last slot already handled.

    ``last`` is the newest slot already started or deliberately passed over (from state, or the
    moment the scheduler first saw the job, so that a new job does not catch up on its past).
    """
    now = _require_aware(now)
    nxt = next_slot(schedule, now)
    newest = latest_slot(schedule, now)
    if newest is None or (last is not None and newest <= _require_aware(last)):
        return DueDecision(None, 0, False, last, nxt)
    older = 0
    if last is not None:
        older = sum(1 for s in slots_between(schedule, last, newest) if s < newest)
    # A slot stays on time for ``grace_s``, but never past half-way to the next one, so that a
    # seconds-level schedule does not treat a stale slot as current.
    grace = dt.timedelta(seconds=grace_s)
    if nxt is not None:
        grace = min(grace, (nxt - newest) / 2)
    on_time = now - newest <= grace
    if on_time:
        return DueDecision(newest, older, False, newest, nxt)
    if schedule.missed == "run_once":
        return DueDecision(newest, older, True, newest, nxt)
    return DueDecision(None, older + 1, False, newest, nxt)


def dependency_order(
    names: Iterable[str], depends_on: Mapping[str, Sequence[str]]
) -> list[str]:
    """``names`` ordered so that a job comes after the jobs it depends on (stable otherwise).

    Only dependencies among ``names`` matter; a cycle (rejected at load time) falls back to the
    given order for the jobs involved instead of looping.
    """
    pending = list(dict.fromkeys(names))
    wanted = set(pending)
    placed: list[str] = []
    done: set[str] = set()
    while pending:
        progress = False
        for name in list(pending):
            deps = [d for d in depends_on.get(name, ()) if d in wanted]
            if all(d in done for d in deps):
                placed.append(name)
                done.add(name)
                pending.remove(name)
                progress = True
        if not progress:
            placed.extend(pending)
            break
    return placed
