"""The long-lived scheduler: what to start at each tick, and the loop that ticks.

:meth:`Scheduler.tick` takes ``now`` as a parameter and does one round of decisions: take the
pending triggers, find the due cron slots (:mod:`runner.scheduler.timing`), apply the window,
overlap and depends_on rules, claim each run in the state store and start it. Runs execute in
worker threads (one per job at a time); ``spawn`` is injectable so unit tests can hold a run
"in flight" for as long as they like without sleeping.

Several ``serve`` processes may share one PostgreSQL state: each (job, slot) is started only by
the runner whose ``try_claim`` succeeded. Triggered runs are claimed too, under the moment the
trigger was taken as their slot. Every few seconds each runner asks the store for claims whose
lease expired unfinished (``expired_claims``: their runner died) and claims them again, so a
dead runner's cron or triggered run is completed by another (the engine's idempotent writes
make the re-run safe). A run that finds the job lock still held (its previous owner's process
still winding down, or a manual ``run``) waits for it up to a lease, and if it is still held
leaves its claim to expire so the run is retried, rather than recording the slot as failed.

Triggers travel through ``StateStore.request_trigger`` as a job name, or as ``JOB+force`` to
bypass the window (``+`` cannot appear in a job name); see :func:`trigger_token`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from runner.errors import LockedError
from runner.scheduler.timing import decide, dependency_order, in_window, next_slot
from runner.spec import Job
from runner.state.base import RunStatus, StateStore

__all__ = [
    "LISTENER_BEAT_S",
    "Due",
    "RunObserver",
    "Scheduler",
    "mark_listening",
    "parse_trigger_token",
    "scheduler_listening",
    "trigger_token",
]

log = logging.getLogger(__name__)

Reason = Literal["schedule", "catch_up", "trigger", "queued", "takeover"]
_FORCE_SUFFIX = "+force"


def trigger_token(job: str, force: bool = False) -> str:
    """What ``commerce-sync trigger`` stores: the job name, ``+force`` to bypass the window."""
    return f"{job}{_FORCE_SUFFIX}" if force else job


# A serving runner's sign of life, for `trigger`: a row of the shared schedule table under a
# name no job can have (job names start with a letter), whose last_scheduled_at every serving
# runner refreshes. Compared across machines on PostgreSQL: the window absorbs clock skew.
_LISTENER = "~serve"
LISTENER_BEAT_S = 5.0
_LISTENER_STALE_S = 30.0


def mark_listening(state: StateStore, now: dt.datetime | None, *, stopped: bool = False) -> None:
    """Refresh the heartbeat (``stopped``: withdraw it, as a runner shutting down does; another
    runner still serving puts it back within a beat)."""
    moment = now or dt.datetime.now(dt.UTC)
    if stopped:
        moment -= dt.timedelta(seconds=2 * _LISTENER_STALE_S)
    state.record_scheduled(_LISTENER, moment)


def scheduler_listening(state: StateStore, now: dt.datetime | None = None) -> bool:
    """True when some ``serve`` refreshed its heartbeat recently, so a trigger will be taken."""
    entry = state.schedule_entries().get(_LISTENER)
    if entry is None or entry.last_scheduled_at is None:
        return False
    age = ((now or dt.datetime.now(dt.UTC)) - entry.last_scheduled_at).total_seconds()
    return age <= _LISTENER_STALE_S


def parse_trigger_token(token: str) -> tuple[str, bool]:
    if token.endswith(_FORCE_SUFFIX):
        return token[: -len(_FORCE_SUFFIX)], True
    return token, False


class ProjectLike(Protocol):
    @property
    def jobs(self) -> Mapping[str, Job]: ...


class RunObserver(Protocol):
    """Told about every finished run (the metrics implement it)."""

    def run_finished(self, job: str, status: str, duration_s: float, result: Any) -> None: ...


@runtime_checkable
class ClaimScanner(Protocol):
    """The part of the state store that finds dead runners' claims."""

    def expired_claims(self) -> list[tuple[str, dt.datetime]]: ...


@dataclass(frozen=True)
class Due:
    """One run the scheduler wants to start. ``slot`` is the cron slot, or for a trigger the
    moment it was taken (never on a whole second, so it cannot collide with a cron slot)."""

    job: str
    slot: dt.datetime
    reason: Reason
    force: bool = False


@dataclass
class _Active:
    due: Due
    stop: threading.Event
    started: float
    done: threading.Event = field(default_factory=threading.Event)


def _spawn_thread(name: str, work: Callable[[], None]) -> None:
    threading.Thread(target=work, name=f"run-{name}", daemon=True).start()


class Scheduler:
    """Decides and starts runs. Thread-safe: runs finish on their own threads."""

    def __init__(
        self,
        project: ProjectLike,
        state: StateStore,
        *,
        clock: Callable[[], dt.datetime],
        runner: Callable[..., Any] | None = None,
        owner: str,
        lease_s: float = 60.0,
        max_workers: int = 4,
        grace_s: float = 60.0,
        poll_s: float = 1.0,
        spawn: Callable[[str, Callable[[], None]], None] = _spawn_thread,
        observer: RunObserver | None = None,
    ) -> None:
        if runner is None:
            from runner.engine import run_job  # the engine is heavy; import it only to run

            runner = run_job
        self._project = project
        self._state = state
        self._clock = clock
        self._runner = runner
        self._owner = owner
        self._lease_s = lease_s
        self._max_workers = max(1, max_workers)
        self._grace_s = grace_s
        self._poll_s = poll_s
        self._spawn = spawn
        self._observer = observer
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._baseline: dict[str, dt.datetime | None] = {}
        self._next_check: dict[str, dt.datetime] = {}
        self._running: dict[str, _Active] = {}
        self._pending: dict[str, Due] = {}
        self._waiting_logged: set[str] = set()
        # how often expired claims are looked for; a lease is renewed every lease_s / 3
        self._scan_every = dt.timedelta(seconds=min(max(lease_s / 3, 1.0), 30.0))
        self._next_scan: dt.datetime | None = None
        self._started_at: dt.datetime | None = None
        self.last_tick: float = 0.0

    # --- project -----------------------------------------------------------------------------
    @property
    def project(self) -> ProjectLike:
        return self._project

    def replace_project(self, project: ProjectLike) -> None:
        """Switch to a reloaded project. Removed jobs stop being scheduled (a run in flight
        finishes); new jobs start from now; changed schedules are re-evaluated."""
        with self._lock:
            old = self._project.jobs
            self._project = project
            for name in set(old) - set(project.jobs):
                self._pending.pop(name, None)
                self._baseline.pop(name, None)
                log.info("job.removed", extra={"job": name})
            for name, job in project.jobs.items():
                if name not in old:
                    log.info("job.added", extra={"job": name})
                elif old[name] != job:
                    log.info("job.changed", extra={"job": name})
                self._next_check.pop(name, None)
        self._wake.set()

    # --- introspection ------------------------------------------------------------------------
    def running(self) -> dict[str, Due]:
        with self._lock:
            return {name: active.due for name, active in self._running.items()}

    def pending(self) -> dict[str, Due]:
        with self._lock:
            return dict(self._pending)

    def next_run(self, job: str) -> dt.datetime | None:
        with self._lock:
            spec = self._project.jobs.get(job)
            if spec is None:
                return None
            return next_slot(spec.schedule, self._clock())

    # --- one round of decisions ---------------------------------------------------------------
    def tick(self, now: dt.datetime) -> list[Due]:
        """Start what is due at ``now``; return the runs started."""
        self.last_tick = time.monotonic()
        with self._lock:
            if self._started_at is None:
                self._started_at = now
                self._load_baselines(now)
            if self._stopping.is_set():
                return []
            wanted = self._take_triggers(now) + self._due_slots(now) + self._takeovers(now)
            ready: dict[str, Due] = {}
            for due in wanted:
                self._admit(due, now, ready)
            for name in list(self._pending):
                if name not in self._running and name not in ready:
                    ready[name] = self._pending.pop(name)
            return self._start_ready(ready, now)

    def _load_baselines(self, now: dt.datetime) -> None:
        entries = self._state.schedule_entries()
        for name in self._project.jobs:
            entry = entries.get(name)
            last = entry.last_scheduled_at if entry is not None else None
            # A job never scheduled before starts from now: no catch-up on its past.
            self._baseline[name] = last if last is not None else now

    def _take_triggers(self, now: dt.datetime) -> list[Due]:
        out: list[Due] = []
        for token in self._state.take_triggers():
            name, force = parse_trigger_token(token)
            if name not in self._project.jobs:
                log.warning("trigger.unknown_job", extra={"job": name})
                continue
            slot = now if now.microsecond else now + dt.timedelta(microseconds=1)
            log.info("trigger.received", extra={"job": name, "force": force})
            out.append(Due(name, slot, "trigger", force))
        return out

    def _due_slots(self, now: dt.datetime) -> list[Due]:
        out: list[Due] = []
        for name, job in self._project.jobs.items():
            if job.schedule.cron is None:
                continue
            check = self._next_check.get(name)
            if check is not None and now < check:
                continue
            if name not in self._baseline:
                self._baseline[name] = now  # a job added by a reload
            decision = decide(job.schedule, self._baseline[name], now, grace_s=self._grace_s)
            self._baseline[name] = decision.seen
            if decision.next_run is not None:
                self._next_check[name] = decision.next_run
            if decision.missed:
                log.warning(
                    "schedule.missed",
                    extra={"job": name, "missed": decision.missed, "policy": job.schedule.missed},
                )
            if decision.slot is not None:
                reason: Reason = "catch_up" if decision.catch_up else "schedule"
                out.append(Due(name, decision.slot, reason))
        return out

    def _takeovers(self, now: dt.datetime) -> list[Due]:
        if self._next_scan is not None and now < self._next_scan:
            return []
        self._next_scan = now + self._scan_every
        if not isinstance(self._state, ClaimScanner):
            return []
        newest: dict[str, dt.datetime] = {}
        for name, slot in self._state.expired_claims():
            if name in self._project.jobs and name not in self._running:
                newest[name] = max(slot, newest.get(name, slot))
        # The run was admitted when first claimed: no second window check (force).
        return [Due(name, slot, "takeover", force=True) for name, slot in newest.items()]

    def _admit(self, due: Due, now: dt.datetime, ready: dict[str, Due]) -> None:
        job = self._project.jobs[due.job]
        if not due.force and not in_window(job.schedule, now):
            log.info(
                "schedule.outside_window",
                extra={"job": due.job, "slot": due.slot.isoformat(), "reason": due.reason},
            )
            return
        if due.job in self._running or due.job in ready:
            if job.schedule.overlap == "queue" or due.reason == "trigger":
                if due.job in self._pending:
                    log.info("job.queue_full", extra={"job": due.job, "slot": due.slot.isoformat()})
                self._pending[due.job] = due
                log.info("job.queued", extra={"job": due.job, "slot": due.slot.isoformat()})
            elif due.reason != "takeover":
                log.warning(
                    "job.overlap_skipped", extra={"job": due.job, "slot": due.slot.isoformat()}
                )
            return
        ready[due.job] = due

    def _start_ready(self, ready: dict[str, Due], now: dt.datetime) -> list[Due]:
        started: list[Due] = []
        jobs = self._project.jobs
        order = dependency_order(ready, {n: jobs[n].depends_on for n in ready if n in jobs})
        for name in order:
            due = ready[name]
            blockers = [d for d in jobs[name].depends_on if d in self._running]
            if blockers or len(self._running) >= self._max_workers:
                if name not in self._waiting_logged:
                    log.info(
                        "job.waiting",
                        extra={"job": name, "for": ",".join(blockers) or "a free worker"},
                    )
                    self._waiting_logged.add(name)
                self._pending[name] = due
                continue
            self._waiting_logged.discard(name)
            if not self._state.try_claim(name, due.slot, self._owner, self._lease_s):
                # Held by a live runner; if it dies, expired_claims finds the slot again.
                log.debug("schedule.claimed_elsewhere", extra={"job": name})
                continue
            if due.reason not in ("trigger", "takeover"):
                self._state.record_scheduled(name, due.slot)
            self._launch(jobs[name], due)
            started.append(due)
        return started

    # --- running --------------------------------------------------------------------------------
    def _launch(self, job: Job, due: Due) -> None:
        active = _Active(due, threading.Event(), time.monotonic())
        self._running[job.name] = active
        log.info(
            "run.started",
            extra={"job": job.name, "slot": due.slot.isoformat(), "reason": due.reason},
        )
        self._spawn(job.name, lambda: self._execute(job, active))

    def _execute(self, job: Job, active: _Active) -> None:
        due = active.due
        beat_stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(due, active, beat_stop), daemon=True,
            name=f"lease-{job.name}",
        )
        beat.start()
        status: RunStatus = "failed"
        result: Any = None
        locked = False
        try:
            result = self._runner(
                job, project=self._project, state=self._state, stop=active.stop,
                owner=self._owner, wait_s=self._lease_s,
            )
            got = getattr(result, "status", "failed")
            if got == "succeeded":
                status = "succeeded"
            elif got == "partial":  # finished, with records set aside in quarantine
                status = "partial"
            elif got == "interrupted":
                status = "interrupted"
        except LockedError as exc:
            locked = True
            log.warning(
                "run.locked",
                extra={"job": job.name, "slot": due.slot.isoformat(), "error": str(exc)},
            )
        except Exception as exc:  # a crashed run must not take the scheduler down
            log.error(
                "run.crashed",
                extra={"job": job.name, "error": f"{type(exc).__name__}: {exc}"},
                exc_info=True,
            )
        finally:
            beat_stop.set()
            beat.join()
            duration = time.monotonic() - active.started
            try:
                # A locked run keeps its claim unreleased: the lease expires and the slot is
                # retried by whichever runner scans first, once the lock is free.
                if not locked:
                    self._state.release_claim(job.name, due.slot, self._owner, status)
            except Exception as exc:  # the lease expires on its own; log and go on
                log.error("claim.release_failed", extra={"job": job.name, "error": str(exc)})
            log_fn = log.info if status == "succeeded" else log.warning
            if not locked:  # a locked run did not happen: it is retried, not counted
                log_fn(
                    "run.finished",
                    extra={"job": job.name, "status": status, "duration_s": round(duration, 3)},
                )
            if self._observer is not None and not locked:
                try:
                    self._observer.run_finished(job.name, status, duration, result)
                except Exception:
                    log.exception("metrics.failed", extra={"job": job.name})
            with self._lock:
                self._running.pop(job.name, None)
            active.done.set()
            self._wake.set()

    def _heartbeat(self, due: Due, active: _Active, stop: threading.Event) -> None:
        interval = max(self._lease_s / 3, 0.2)
        while not stop.wait(interval):
            try:
                kept = self._state.renew_lease(due.job, due.slot, self._owner, self._lease_s)
            except Exception as exc:
                log.warning("lease.renew_failed", extra={"job": due.job, "error": str(exc)})
                continue
            if not kept:
                # Another runner may take the slot over: stop ours at the next batch boundary.
                log.error("lease.lost", extra={"job": due.job, "slot": due.slot.isoformat()})
                active.stop.set()
                return

    # --- the loop -------------------------------------------------------------------------------
    def seconds_until_next(self, now: dt.datetime) -> float:
        """How long the loop may sleep: until the next slot, at most ``poll_s`` (triggers)."""
        with self._lock:
            upcoming = [t for t in self._next_check.values() if t > now]
        wait = self._poll_s
        if upcoming:
            wait = min(wait, (min(upcoming) - now).total_seconds())
        return max(wait, 0.0)

    def serve_forever(
        self,
        stop: threading.Event,
        *,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """Tick until ``stop`` is set, then let runs in flight finish their batch and return.

        ``on_idle`` is called once per loop (reload checks, freshness): keep it cheap.
        """
        log.info("serve.started", extra={"owner": self._owner, "jobs": len(self._project.jobs)})
        while not stop.is_set():
            now = self._clock()
            try:
                self.tick(now)
            except Exception as exc:  # e.g. the state store briefly unreachable
                log.error("tick.failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            if on_idle is not None:
                on_idle()
            self._wake.clear()
            wait = self.seconds_until_next(self._clock())
            if wait > 0 and not stop.is_set():
                self._wake.wait(wait)
        self.shutdown()

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop starting runs; ask runs in flight to stop after their batch; wait for them."""
        self._stopping.set()
        with self._lock:
            actives = list(self._running.values())
            self._pending.clear()
        if actives:
            log.info("serve.stopping", extra={"running": ",".join(a.due.job for a in actives)})
        for active in actives:
            active.stop.set()
        for active in actives:
            active.done.wait(timeout)
        log.info("serve.stopped", extra={"owner": self._owner})
