"""tests/benchmarks/many_jobs.py makes copies of the project's pipelines that load as distinct,
valid jobs (the validate and serve-idle figures are only worth something if they do)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_many_jobs_copies_load_as_distinct_valid_jobs(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests/benchmarks"))
    try:
        import many_jobs
    finally:
        sys.path.remove(str(ROOT / "tests/benchmarks"))
    from runner.project import load_project

    paths = many_jobs.make_copies(tmp_path, 10, idle_cron=True)
    project = load_project(paths)
    assert project.errors == []
    assert len(project.jobs) == 10
    assert all(job.schedule is not None and job.schedule.cron == "0 3 29 2 *"
               for job in project.jobs.values())
