"""Reloading pipeline files while ``serve`` runs: by polling mtimes, or on SIGHUP.

A file that no longer loads is reported (``reload.invalid`` with its located problems) and the
last valid version of its jobs keeps running; a removed file stops its jobs; a new file starts
its jobs. Polling (every few seconds, a ``stat`` per file) keeps this dependency-free and works
on every filesystem, network mounts included.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.spec import Job

__all__ = ["ProjectWatcher", "merge_reload", "snapshot"]

log = logging.getLogger(__name__)

_SUFFIXES = (".yaml", ".yml")


def snapshot(paths: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``{file: (mtime_ns, size)}`` of every pipeline file under ``paths``."""
    found: dict[str, tuple[int, int]] = {}
    for root in paths:
        p = Path(root)
        # Files directly inside a folder, as ``load_project`` reads them.
        files = [p] if p.is_file() else sorted(p.iterdir()) if p.is_dir() else []
        for f in files:
            if f.suffix in _SUFFIXES and f.is_file():
                try:
                    st = f.stat()
                except OSError:
                    continue  # removed between listing and stat: the next poll sees it
                found[str(f)] = (st.st_mtime_ns, st.st_size)
    return found


def _problem_files(project: Any) -> set[str]:
    problems = list(getattr(project, "errors", None) or [])
    return {os.path.normpath(p.file) for p in problems if getattr(p, "file", "")}


def merge_reload(old: Mapping[str, Job], project: Any) -> tuple[dict[str, Job], list[Any]]:
    """The jobs to run after a reload, and the error problems of the new load.

    Jobs from files that failed to load keep their last valid version; everything else comes
    from the new load, so a removed file's jobs are gone and a new file's jobs appear.
    """
    problems = [p for p in (getattr(project, "errors", None) or [])]
    broken = _problem_files(project)
    merged: dict[str, Job] = dict(project.jobs)
    for name, job in old.items():
        kept = name not in merged and os.path.normpath(job.source_file) in broken
        if kept and os.path.exists(job.source_file):
            merged[name] = job
    return merged, problems


class ProjectWatcher:
    """Polls ``paths`` and reloads through ``load`` when a file changed or on :meth:`request`.

    ``load(paths)`` returns a project (``.jobs``, ``.errors``), or raises ``ConfigError``;
    ``apply(project)`` receives the new project whose ``jobs`` include the kept ones.
    """

    def __init__(
        self,
        paths: Sequence[str],
        load: Callable[[Sequence[str]], Any],
        apply: Callable[[Any], None],
        current: Mapping[str, Job],
        *,
        interval_s: float = 3.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._paths = list(paths)
        self._load = load
        self._apply = apply
        self._current: dict[str, Job] = dict(current)
        self._interval = interval_s
        self._monotonic = monotonic
        self._seen = snapshot(self._paths)
        self._next = monotonic() + interval_s
        self._requested = threading.Event()

    def request(self) -> None:
        """Ask for a reload at the next :meth:`poll` (the SIGHUP handler calls this)."""
        self._requested.set()

    def poll(self) -> bool:
        """Reload if due and something changed (or was requested); True if reloaded."""
        forced = self._requested.is_set()
        if not forced and self._monotonic() < self._next:
            return False
        self._next = self._monotonic() + self._interval
        seen = snapshot(self._paths)
        if not forced and seen == self._seen:
            return False
        self._requested.clear()
        self._seen = seen
        return self.reload()

    def reload(self) -> bool:
        try:
            project = self._load(self._paths)
        except ConfigError as exc:
            log.error(
                "reload.invalid",
                extra={"problems": [str(p) for p in exc.problems], "kept": len(self._current)},
            )
            return False
        merged, problems = merge_reload(self._current, project)
        if problems:
            log.error(
                "reload.invalid",
                extra={"problems": [str(p) for p in problems],
                       "kept": sorted(set(merged) - set(project.jobs))},
            )
        self._current = merged
        if merged != project.jobs:
            # The engine reads composites' member jobs from the project: hand it the merge.
            project = dataclasses.replace(project, jobs=merged)
        self._apply(project)
        log.info("reload.done", extra={"jobs": sorted(merged)})
        return True
