"""``serve`` (the long-lived scheduler), ``trigger`` (ask it to run a job) and ``status``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from runner.errors import ConfigError, ConfigProblem, StateError

ORDER = 40

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def _paths(args: argparse.Namespace) -> list[str]:
    return list(args.paths) or [os.environ.get("COMMERCE_SYNC_PIPELINES", "pipelines")]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run pipelines on their schedules until stopped")
    serve.add_argument("paths", nargs="*", metavar="PATH",
                       help="pipeline files or folders (default: env COMMERCE_SYNC_PIPELINES "
                            "or ./pipelines)")
    serve.add_argument("--state", default=None,
                       help="state store path or URL (default: env COMMERCE_SYNC_STATE or "
                            "var/state.db); share a PostgreSQL URL between several runners")
    serve.add_argument("--metrics-port", type=int, default=0,
                       help="serve /metrics and /healthz on 127.0.0.1:N (0: off)")
    serve.add_argument("--console-port", type=int, default=0, metavar="N",
                       help="serve the operations console on --console-host:N (0: off, the "
                            "default)")
    serve.add_argument("--console-host", default="127.0.0.1",
                       help="the console's address (default 127.0.0.1); any other address "
                            "needs COMMERCE_SYNC_CONSOLE_TOKEN in the environment")
    serve.add_argument("--console-read-only", action="store_true",
                       help="the console shows state but has no run/retry/drop buttons")
    serve.add_argument("--owner", default=None,
                       help="this runner's name in claims (default: host:pid)")
    serve.add_argument("--lease", type=float, default=60.0, metavar="SECONDS",
                       help="a claimed run's lease; another runner takes it over once expired")
    serve.add_argument("--max-workers", type=int, default=4,
                       help="jobs running at the same time (default 4)")
    serve.add_argument("--reload-interval", type=float, default=3.0, metavar="SECONDS",
                       help="how often pipeline files are checked for changes (default 3)")
    serve.set_defaults(func=cmd_serve)

    trig = sub.add_parser(
        "trigger", help="ask a running `serve` to run a job now",
        description="Ask a running `commerce-sync serve` to run a job now. Exit 1 when no "
                    "scheduler is listening (nothing is queued), unless --run runs it here.")
    trig.add_argument("job")
    trig.add_argument("--state", default=None, help="state store path or URL")
    trig.add_argument("--force", action="store_true",
                      help="run even outside the job's allowed window")
    trig.add_argument("--run", action="store_true",
                      help="with no scheduler listening, run the job in this process instead")
    trig.add_argument("--pipelines", default=os.environ.get("COMMERCE_SYNC_PIPELINES",
                                                            "pipelines"), metavar="DIR",
                      help="pipeline files or folder, for --run (default ./pipelines)")
    trig.set_defaults(func=cmd_trigger)

    status = sub.add_parser("status", help="last run, next run and freshness of every job")
    status.add_argument("paths", nargs="*", metavar="PATH", help="pipeline files or folders")
    status.add_argument("--state", default=None, help="state store path or URL")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(func=cmd_status)


def _load(paths: Sequence[str]) -> Any:
    from runner.project import load_project

    return load_project(list(paths))


def _load_serving(paths: Sequence[str]) -> Any:
    from runner.scheduler.audits import with_audits

    return with_audits(_load(paths))


def cmd_serve(args: argparse.Namespace) -> int:
    from runner.engine import run_job
    from runner.scheduler.audits import audit_runner
    from runner.scheduler.metrics import MetricsServer, SchedulerMetrics
    from runner.scheduler.reload import ProjectWatcher
    from runner.scheduler.service import LISTENER_BEAT_S, Scheduler, mark_listening
    from runner.state import open_state

    console_token = os.environ.get("COMMERCE_SYNC_CONSOLE_TOKEN") or None
    if args.console_port:
        from runner.console import check_bind

        check_bind(args.console_host, console_token)  # before anything starts
    paths = _paths(args)
    project = _load_serving(paths)
    if project.errors and not project.jobs:
        raise ConfigError(project.errors)
    for problem in project.errors:
        # Serve what is valid; the broken files are reported and picked up once fixed.
        log.error("pipeline.invalid", extra={"problem": str(problem)})
    import socket  # here: every start (`--help` too) builds this parser

    owner = args.owner or f"{socket.gethostname()}:{os.getpid()}"
    state = open_state(args.state)
    metrics = SchedulerMetrics()
    scheduler = Scheduler(
        project, state, clock=_utcnow, owner=owner, lease_s=args.lease,
        max_workers=args.max_workers, observer=metrics, runner=audit_runner(run_job),
    )
    watcher = ProjectWatcher(paths, _load_serving, scheduler.replace_project, project.jobs,
                             interval_s=args.reload_interval)
    stop = threading.Event()
    signals = {"count": 0}

    def on_stop(signum: int, frame: FrameType | None) -> None:
        signals["count"] += 1
        if signals["count"] >= 2:
            # State stays consistent: the engine commits only what the destination acknowledged.
            log.warning("serve.killed", extra={"signal": signal.Signals(signum).name})
            logging.shutdown()
            os._exit(EXIT_INTERRUPTED)
        log.info("serve.stopping_on_signal", extra={"signal": signal.Signals(signum).name})
        stop.set()
        scheduler.wake()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        watcher.request()
        scheduler.wake()

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGHUP, on_hup)

    server: MetricsServer | None = None
    if args.metrics_port:
        server = MetricsServer(
            metrics, args.metrics_port,
            healthy=lambda: time.monotonic() - scheduler.last_tick < 10.0,
        ).start()
    console = _console(args, scheduler, state, owner, console_token)
    fresh_next = [0.0]
    beat_next = [time.monotonic() + LISTENER_BEAT_S]
    mark_listening(state, _utcnow())  # before the first tick: /healthz ok means triggers work

    def on_idle() -> None:
        watcher.poll()
        if time.monotonic() >= beat_next[0]:
            beat_next[0] = time.monotonic() + LISTENER_BEAT_S
            try:
                mark_listening(state, _utcnow())
            except StateError as exc:  # missed beats only matter after several
                log.warning("serve.heartbeat_failed", extra={"error": str(exc)})
        if time.monotonic() >= fresh_next[0]:
            fresh_next[0] = time.monotonic() + 10.0
            metrics.check_freshness(scheduler.project.jobs, state, _utcnow())

    try:
        scheduler.serve_forever(stop, on_idle=on_idle)
    finally:
        if server is not None:
            server.close()
        try:
            mark_listening(state, _utcnow(), stopped=True)
        except StateError as exc:  # the heartbeat goes stale on its own
            log.warning("serve.heartbeat_failed", extra={"error": str(exc)})
        if console is not None:
            console.close()
        state.close()
    return EXIT_OK


def _console(
    args: argparse.Namespace, scheduler: Any, state: Any, owner: str, token: str | None
) -> Any:
    """The console's server, started; None when ``--console-port`` is 0."""
    if not args.console_port:
        return None
    from runner.console import ConsoleOptions, ConsoleServer, ConsoleSource, create_app
    from runner.errors import register_secret

    register_secret(token)  # a token in an error text is masked like any secret
    source = ConsoleSource(
        project=lambda: scheduler.project, state=state, clock=_utcnow,
        running=scheduler.running, wake=scheduler.wake, owner=owner,
    )
    app = create_app(source, ConsoleOptions(read_only=args.console_read_only, token=token))
    return ConsoleServer(app, args.console_host, args.console_port).start()


def cmd_trigger(args: argparse.Namespace) -> int:
    from runner.scheduler.service import scheduler_listening, trigger_token
    from runner.state import open_state

    state = open_state(args.state)
    try:
        listening = scheduler_listening(state)
        if listening:
            import socket

            by = f"{os.environ.get('USER', 'cli')}@{socket.gethostname()}"
            state.request_trigger(trigger_token(args.job, args.force), by)
    finally:
        state.close()
    if not listening:
        if args.run:
            return _run_here(args)
        # Queuing it anyway would start it whenever a scheduler next comes up: a surprise.
        print(f"error: no scheduler is listening on the state store {state.location}, so "
              f"nothing would run {args.job!r}; start one with `commerce-sync serve`, or pass "
              "--run to run it in this process now", file=sys.stderr)
        return EXIT_FAILED
    forced = " (outside its window if need be)" if args.force else ""
    print(f"triggered {args.job}{forced}: a running `commerce-sync serve` starts it within "
          "about a second")
    return EXIT_OK


def _run_here(args: argparse.Namespace) -> int:
    from runner.cli.run_cmd import cmd_run

    print(f"no scheduler is listening: running {args.job} in this process", file=sys.stderr)
    return cmd_run(argparse.Namespace(
        pipelines=args.pipelines, job=args.job, force=args.force, full=False, steps=None,
        state=args.state, wait=0.0,
    ))


def cmd_status(args: argparse.Namespace) -> int:
    from runner.scheduler.status import job_statuses, render_text
    from runner.state import open_state

    paths = _paths(args)
    project = _load(paths)
    if not project.jobs:
        # Nothing to report on: an empty table would look like a healthy, idle project.
        where = ", ".join(str(Path(p).resolve()) for p in paths)
        raise ConfigError([*project.errors, ConfigProblem(
            "", 0, 0, "", f"no job to report on: looked for pipeline files in {where}; run "
            "this from the project's folder, or name it: commerce-sync status PATH")])
    for problem in project.errors:
        print(f"warning: {problem}", file=sys.stderr)
    state = open_state(args.state)
    try:
        statuses = job_statuses(project.jobs, state, _utcnow())
    finally:
        state.close()
    if args.format == "json":
        import orjson

        print(orjson.dumps([s.as_dict() for s in statuses], option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_text(statuses))
    return EXIT_FAILED if any(s.stale for s in statuses) else EXIT_OK
