"""Reload: a broken file keeps its last valid job, a removed file stops, a new file starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runner.project import load_project
from runner.scheduler.reload import ProjectWatcher

PIPE = """\
version: 1
name: {name}
schedule: {{cron: "{cron}"}}
steps:
  - name: items
    source: {{connector: jsonl, path: in.jsonl}}
    destination: {{connector: jsonl, path: out.jsonl}}
    key: sku
"""


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a visible change


def test_reload_keeps_the_last_valid_version_and_follows_added_and_removed_files(
    tmp_path: Path,
) -> None:
    a, b, c = tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "c.yaml"
    _write(a, PIPE.format(name="a", cron="*/15 * * * *"))
    _write(b, PIPE.format(name="b", cron="0 * * * *"))
    first = load_project([str(tmp_path)])
    assert sorted(first.jobs) == ["a", "b"]
    applied: list[Any] = []
    tick = Tick()
    watcher = ProjectWatcher([str(tmp_path)], load_project, applied.append, first.jobs,
                             interval_s=3, monotonic=tick)
    assert watcher.poll() is False  # nothing changed, not yet due

    _write(a, PIPE.format(name="a", cron="*/5 * * * *") + "  bogus: [\n")  # broken YAML
    b.unlink()
    _write(c, PIPE.format(name="c", cron="0 3 * * *"))
    assert watcher.poll() is False  # the poll interval has not passed
    tick.t = 3.5
    assert watcher.poll() is True
    jobs = applied[-1].jobs
    assert sorted(jobs) == ["a", "c"]
    assert jobs["a"].schedule.cron == "*/15 * * * *"  # the last valid version keeps running
    assert applied[-1].job("a") is jobs["a"]  # the engine's view includes it too

    _write(a, PIPE.format(name="a", cron="*/5 * * * *"))
    watcher.request()  # SIGHUP: reload now, whatever the interval
    assert watcher.poll() is True
    assert applied[-1].jobs["a"].schedule.cron == "*/5 * * * *"
