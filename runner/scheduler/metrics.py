"""Prometheus metrics of the serve loop, on their own registry, served on loopback only.

``/metrics`` is the Prometheus text format; ``/healthz`` answers 200 ``ok`` while the loop has
ticked recently, 503 otherwise (a wedged loop is what a supervisor wants to restart).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runner.errors import StateError
from runner.spec import Job
from runner.state.base import StateStore

__all__ = ["MetricsServer", "SchedulerMetrics"]

log = logging.getLogger(__name__)

_ROW_KINDS = ("read", "written", "unchanged", "quarantined")
_DRIFT_KINDS = ("missing", "unselected", "stale_child", "differs", "duplicate", "kept")


class SchedulerMetrics:
    """Counters and gauges the scheduler updates; implements ``RunObserver``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "commerce_sync_runs", "Runs finished, by job and outcome", ["job", "outcome"],
            registry=r,
        )
        self.rows = Counter(
            "commerce_sync_rows", "Rows handled, by job, step and kind", ["job", "step", "kind"],
            registry=r,
        )
        self.duration = Histogram(
            "commerce_sync_run_duration_seconds", "Duration of runs", ["job"], registry=r,
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
        )
        self.last_success = Gauge(
            "commerce_sync_last_success_timestamp_seconds",
            "Unix time of the last successful run", ["job"], registry=r,
        )
        self.stale = Gauge(
            "commerce_sync_freshness_breached",
            "1 while the job's newest synced data is older than its freshness objective",
            ["job"], registry=r,
        )
        self.quarantine = Gauge(
            "commerce_sync_quarantine_size", "Records waiting in quarantine", ["job"], registry=r,
        )
        self.last_quarantined = Gauge(
            "commerce_sync_last_run_quarantined",
            "Records the job's last finished run set aside (its outcome is then 'partial')",
            ["job"], registry=r,
        )
        self.drift = Gauge(
            "commerce_sync_drift_records",
            "Records the last audit found drifted (or, for kind kept, differing where the "
            "destination wins), by job, step and kind", ["job", "step", "kind"], registry=r,
        )
        self._breached: set[str] = set()
        self._never_run: set[str] = set()
        self._started: dt.datetime | None = None  # the first check: when serving began

    def run_finished(self, job: str, status: str, duration_s: float, result: Any) -> None:
        for audit in getattr(result, "audits", None) or ():
            for kind in _DRIFT_KINDS:
                self.drift.labels(audit.job, audit.step, kind).set(audit.counts.get(kind, 0))
        self.runs.labels(job, status).inc()
        self.duration.labels(job).observe(duration_s)
        if status in ("succeeded", "partial"):
            self.last_success.labels(job).set(dt.datetime.now(dt.UTC).timestamp())
        if status != "interrupted":
            self.last_quarantined.labels(job).set(getattr(result, "quarantined", 0) or 0)
        for step in getattr(result, "steps", None) or ():
            for kind in _ROW_KINDS:
                value = getattr(step, kind, 0) or 0
                if value:
                    self.rows.labels(job, getattr(step, "step", ""), kind).inc(value)

    def check_freshness(
        self, jobs: Mapping[str, Job], state: StateStore, now: dt.datetime
    ) -> list[str]:
        """Update freshness and quarantine gauges; log ``job.stale`` once per breach.

        Returns the jobs newly in breach.
        """
        try:
            entries = state.schedule_entries()
        except StateError as exc:
            log.warning("freshness.unavailable", extra={"error": str(exc)})
            return []
        newly: list[str] = []
        try:
            # One count for all jobs first: usually nothing is in quarantine, and a query per
            # job every few seconds was most of an idle serve's CPU.
            any_quarantined: bool | None = state.quarantine_count() > 0
        except StateError as exc:  # the gauges keep their last values
            log.warning("quarantine.count_failed", extra={"job": "", "error": str(exc)})
            any_quarantined = None
        if self._started is None:
            self._started = now
        for name, job in jobs.items():
            entry = entries.get(name)
            success = entry.last_success_at if entry is not None else None
            if success is not None:
                self.last_success.labels(name).set(success.timestamp())
            try:
                if any_quarantined is not None:
                    count = state.quarantine_count(name) if any_quarantined else 0
                    self.quarantine.labels(name).set(count)
            except StateError as exc:
                log.warning("quarantine.count_failed", extra={"job": name, "error": str(exc)})
            if job.max_age_s is not None:
                never_run = entry is None or entry.last_finished_at is None
                if self._freshness(name, job.max_age_s, success, never_run, now):
                    newly.append(name)
        return newly

    def _freshness(self, name: str, max_age_s: float, success: dt.datetime | None,
                   never_run: bool, now: dt.datetime) -> bool:
        """Set the job's gauge and log a change; True when the job newly breached."""
        fields: dict[str, Any] = {"job": name, "max_age_s": max_age_s}
        if never_run and success is None:
            # Not a breach until the job had its chance: a fresh start is not an outage.
            assert self._started is not None
            waited = (now - self._started).total_seconds()
            breached = waited > max_age_s
            fields.update(never_run=True, waited_s=round(waited, 1))
            if not breached and name not in self._never_run:
                self._never_run.add(name)
                log.info("job.never_run", extra=fields)
        else:
            age = (now - success).total_seconds() if success is not None else None
            breached = age is None or age > max_age_s
            fields["age_s"] = None if age is None else round(age, 1)
            if age is None:
                fields["last_success"] = "never"
        self.stale.labels(name).set(1 if breached else 0)
        if breached and name not in self._breached:
            self._breached.add(name)
            log.error("job.stale", extra=fields)
            return True
        if not breached and name in self._breached:
            self._breached.discard(name)
            log.info("job.fresh", extra=fields)
        return False


class MetricsServer:
    """``/metrics`` and ``/healthz`` on 127.0.0.1:``port`` in a daemon thread."""

    def __init__(
        self, metrics: SchedulerMetrics, port: int, healthy: Callable[[], bool]
    ) -> None:
        registry = metrics.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    ok = healthy()
                    body = b"ok\n" if ok else b"loop stalled\n"
                    self._send(200 if ok else 503, body, "text/plain; charset=utf-8")
                elif self.path.split("?")[0] == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                else:
                    self._send(404, b"not found\n", "text/plain; charset=utf-8")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # request lines are noise in the job log

        # Loopback only: metrics name jobs and sizes, not for the open network.
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True,
            kwargs={"poll_interval": 0.5},
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics.listening", extra={"url": f"http://127.0.0.1:{self.port}/metrics"})
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
