"""``serve`` (the long-lived scheduler), ``trigger`` (ask it to run a job) and ``status``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import orjson

from runner.errors import ConfigError

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
    serve.add_argument("--owner", default=None,
                       help="this runner's name in claims (default: host:pid)")
    serve.add_argument("--lease", type=float, default=60.0, metavar="SECONDS",
                       help="a claimed run's lease; another runner takes it over once expired")
    serve.add_argument("--max-workers", type=int, default=4,
                       help="jobs running at the same time (default 4)")
    serve.add_argument("--reload-interval", type=float, default=3.0, metavar="SECONDS",
                       help="how often pipeline files are checked for changes (default 3)")
    serve.set_defaults(func=cmd_serve)

    trig = sub.add_parser("trigger", help="ask a running `serve` to run a job now")
    trig.add_argument("job")
    trig.add_argument("--state", default=None, help="state store path or URL")
    trig.add_argument("--force", action="store_true",
                      help="run even outside the job's allowed window")
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
    from runner.scheduler.service import Scheduler
    from runner.state import open_state

    paths = _paths(args)
    project = _load_serving(paths)
    if project.errors and not project.jobs:
        raise ConfigError(project.errors)
    for problem in project.errors:
        # Serve what is valid; the broken files are reported and picked up once fixed.
        log.error("pipeline.invalid", extra={"problem": str(problem)})
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
    fresh_next = [0.0]

    def on_idle() -> None:
        watcher.poll()
        if time.monotonic() >= fresh_next[0]:
            fresh_next[0] = time.monotonic() + 10.0
            metrics.check_freshness(scheduler.project.jobs, state, _utcnow())

    try:
        scheduler.serve_forever(stop, on_idle=on_idle)
    finally:
        if server is not None:
            server.close()
        state.close()
    return EXIT_OK


def cmd_trigger(args: argparse.Namespace) -> int:
    from runner.scheduler.service import trigger_token
    from runner.state import open_state

    state = open_state(args.state)
    try:
        by = f"{os.environ.get('USER', 'cli')}@{socket.gethostname()}"
        state.request_trigger(trigger_token(args.job, args.force), by)
    finally:
        state.close()
    forced = " (outside its window if need be)" if args.force else ""
    print(f"triggered {args.job}{forced}: a running `commerce-sync serve` starts it within "
          "about a second")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from runner.scheduler.status import job_statuses, render_text
    from runner.state import open_state

    project = _load(_paths(args))
    for problem in project.errors:
        print(f"warning: {problem}", file=sys.stderr)
    state = open_state(args.state)
    try:
        statuses = job_statuses(project.jobs, state, _utcnow())
    finally:
        state.close()
    if args.format == "json":
        print(orjson.dumps([s.as_dict() for s in statuses], option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_text(statuses))
    return EXIT_FAILED if any(s.stale for s in statuses) else EXIT_OK
