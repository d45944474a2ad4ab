"""``commerce-sync run JOB`` and ``commerce-sync plan JOB``.

Also holds the small helpers the history and quarantine commands share (loading the project,
opening the state store), so every command resolves ``--pipelines`` and ``--state`` the same way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigError, LockedError, redact

# The engine, the state store and the loader pull in SQLAlchemy and the transforms: imported
# when a command runs, so that `commerce-sync --help` and other commands stay quick.
if TYPE_CHECKING:
    from runner.engine import JobResult, StepPlan
    from runner.project import Project
    from runner.spec import Job
    from runner.state.base import StateStore

ORDER = 20
PIPELINES_ENV = "COMMERCE_SYNC_PIPELINES"
EXIT_OK, EXIT_FAILED, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 3, 130


def add_pipelines_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pipelines",
        default=os.environ.get(PIPELINES_ENV, "pipelines"),
        metavar="DIR",
        help=f"pipeline files or folder (default: ${PIPELINES_ENV} or ./pipelines)",
    )


def add_state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        default=None,
        metavar="URL_OR_PATH",
        help="state store: a SQLite path or a database URL "
        "(default: $COMMERCE_SYNC_STATE or var/state.db)",
    )


def load_pipelines(location: str) -> Project:
    from runner.project import load_project

    return load_project([location], strict_env=True)


def find_job(project: Project, name: str) -> Job:
    """The job, or every configuration error when it did not load (exit code 2)."""
    try:
        return project.job(name)
    except ConfigError:
        if project.errors:
            raise ConfigError(project.errors) from None
        raise


@contextmanager
def state_store(location: str | None) -> Iterator[StateStore]:
    from runner.state import open_state

    store = open_state(location)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """First SIGINT/SIGTERM: set the event (the engine finishes the batches in flight, commits
    and returns); a second one stops at once with KeyboardInterrupt."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print(
            f"{signal.Signals(signum).name}: stopping after the batches in flight "
            "(send it again to stop at once)",
            file=sys.stderr,
        )

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", help="the job to run (its `name:`)")
    parser.add_argument("--full", action="store_true",
                        help="force a complete sync: rewrite everything, remove what is deselected")
    parser.add_argument("--step", action="append", dest="steps", metavar="NAME",
                        help="only this step (repeatable)")
    add_pipelines_option(parser)
    add_state_option(parser)


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run a job now",
                         description="Run a job's steps now and print a summary per step.")
    _common(run)
    run.add_argument("--force", action="store_true",
                     help="run even outside the job's schedule window")
    run.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                     help="wait this long for another run of the job to finish (default 0)")
    run.set_defaults(func=cmd_run)

    plan = sub.add_parser("plan", help="show what a run would change, without writing",
                          description="Dry run: read and transform, compare with the state "
                          "and the destination, write nothing.")
    _common(plan)
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.set_defaults(func=cmd_plan)


def _window_text(job: Job) -> str:
    window = job.schedule.window
    assert window is not None
    return (f"{window.start.strftime('%H:%M')}-{window.end.strftime('%H:%M')} "
            f"{job.schedule.timezone}")


def _in_window(job: Job) -> bool:
    # Only for a job with a window: the scheduler package (croniter, the service) costs a
    # run without one ~0.04 s of start-up.
    from runner.scheduler.timing import in_window

    return in_window(job.schedule, dt.datetime.now(dt.UTC))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The garbage collector paused while the engine and the pipelines load: they allocate
    ~250,000 objects (SQLAlchemy, the transforms, the loaded jobs) that live as long as the
    process, and the collections they set off, one of them full, took ~35 ms of every run's
    start."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cmd_run(args: argparse.Namespace) -> int:
    with _collector_paused():
        from runner.engine.heap import frozen_heap  # loads the engine too

        project = load_pipelines(args.pipelines)
        job = find_job(project, args.job)
    # What loading left stays out of the collector's reach until the command ends (the
    # steps' streams inside hold the same counted freeze), and is given back then.
    with frozen_heap():
        return _run(args, job, project)


def _run(args: argparse.Namespace, job: Job, project: Project) -> int:
    from runner.engine import TerminalProgress, run_job

    if not args.force and job.schedule.window is not None and not _in_window(job):
        print(
            f"error: job {job.name!r} may only run within {_window_text(job)}; "
            "use --force to run it now",
            file=sys.stderr,
        )
        return EXIT_FAILED
    progress = TerminalProgress() if sys.stderr.isatty() else None
    with state_store(args.state) as state, graceful_stop() as stop:
        try:
            result = run_job(job, project=project, state=state,
                             mode="full" if args.full else None, steps=args.steps, stop=stop,
                             progress=progress, wait_s=args.wait)
        except LockedError as exc:
            print(
                f"error: {redact(str(exc))}; wait for that run to finish, or pass "
                "--wait SECONDS to queue behind it",
                file=sys.stderr,
            )
            return EXIT_FAILED
    return print_result(result)


def print_result(result: JobResult) -> int:
    for step in result.steps:
        print(redact(step.summary()))
    line = f"{result.job}: {result.status} in {result.duration_s:.2f}s"
    if result.error:
        line = f"{line}: {result.error}"
    if result.status == "partial":
        records = "record" if result.quarantined == 1 else "records"
        line = (f"{line}: {result.quarantined} {records} quarantined; see `commerce-sync "
                f"quarantine list --job {result.job}`")
    ok = result.status in ("succeeded", "partial")
    print(redact(line), file=sys.stdout if ok else sys.stderr)
    if result.status == "succeeded":
        return EXIT_OK
    if result.status == "partial":
        return EXIT_PARTIAL
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_FAILED


def cmd_plan(args: argparse.Namespace) -> int:
    from runner.engine import run_job

    project = load_pipelines(args.pipelines)
    job = find_job(project, args.job)
    with state_store(args.state) as state:
        result = run_job(job, project=project, state=state, mode="full" if args.full else None,
                         steps=args.steps, dry_run=True)
    plans = result.plan or []
    if args.format == "json":
        doc = {"job": job.name, "steps": [p.as_dict() for p in plans]}
        print(redact(json.dumps(doc, indent=2, default=str)))
    else:
        print(redact(render_plan(job.name, plans)))
    return EXIT_FAILED if result.status == "failed" else EXIT_OK


def render_plan(job: str, plans: list[StepPlan]) -> str:
    lines = [f"plan for {job} (dry run: nothing was written)"]
    for p in plans:
        removal = p.delete_action if p.delete_action != "ignore" else "remove"
        counts = [f"{p.creates} to create", f"{p.updates} to update"]
        if p.upserts:
            counts.append(f"{p.upserts} to upsert")
        counts += [f"{p.deletes} to {removal}", f"{p.unchanged} unchanged",
                   f"{p.quarantined} to quarantine", f"{p.duplicates} duplicates"]
        if p.skipped:
            counts.append(f"{p.skipped} held back")
        if p.echoed:
            counts.append(f"{p.echoed} echoed (not sent back)")
        full = " (a full run rewrites unchanged records)" if p.rewrites_unchanged else ""
        lines.append(f"{p.job}/{p.step} [{p.mode}]: read {p.read}: {', '.join(counts)}{full}")
        if p.error:
            lines.append(f"  failed: {p.error}")
        for kind in ("create", "update", "upsert", "delete", "quarantine"):
            label = removal if kind == "delete" else kind
            for sample in p.samples.get(kind, []):
                key = "/".join(sample.key) if sample.key is not None else "-"
                detail = sample.reason if kind == "quarantine" else (
                    json.dumps(sample.record, default=str) if sample.record else "")
                lines.append(f"  {label:<10} {key} {detail}".rstrip())
    return "\n".join(lines)
