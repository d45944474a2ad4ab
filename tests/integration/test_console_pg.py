"""Two runners share a PostgreSQL state: each one's console shows the other's runs and leases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from runner.console import ConsoleOptions, ConsoleSource, create_app
from runner.project import load_project
from runner.state import open_state
from runner.state.base import BatchCommit, RunCounts, StateStore
from runner.state.schema import metadata
from tests.support.loopback import serve_app

pytestmark = pytest.mark.postgres

PIPELINE = """\
version: 1
name: {name}
schedule: {{cron: "*/5 * * * *"}}
steps:
  - name: items
    source: {{connector: jsonl, path: {src}}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
"""


@pytest.fixture()
def stores(pg_url: str) -> Iterator[tuple[StateStore, StateStore]]:
    a, b = open_state(pg_url), open_state(pg_url)
    tables = ", ".join(t.name for t in metadata.sorted_tables if t.name != "schema_version")
    with sa.create_engine(pg_url).begin() as conn:  # the session's database: start empty
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")
    yield a, b
    a.close()
    b.close()


def test_each_console_shows_every_runners_runs_and_leases(
    stores: tuple[StateStore, StateStore], tmp_path: Path
) -> None:
    runner_a, runner_b = stores
    pipes = tmp_path / "pipelines"
    pipes.mkdir()
    for name in ("orders", "prices"):
        (pipes / f"{name}.yaml").write_text(
            PIPELINE.format(name=name, src=tmp_path / "in.jsonl", dst=tmp_path / "out.jsonl"))
    project = load_project([str(pipes)])
    assert not project.errors
    slot = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    # runner A finished a run of orders; runner B holds prices' lease right now.
    run = runner_a.begin_run("orders", "", "incremental")
    step = runner_a.begin_run("orders", "items", "incremental")
    runner_a.commit_batch(BatchCommit(run_id=step, job="orders", step="items", entity="items",
                                      hashes={("A",): "h", ("B",): "h"},
                                      counts=RunCounts(read=3, written=2)))
    runner_a.finish_run(step, "succeeded")
    runner_a.finish_run(run, "succeeded")
    assert runner_b.try_claim("prices", slot, "runner-b@host-2", 600.0)

    for store in (runner_a, runner_b):
        source = ConsoleSource(project=lambda: project, state=store,
                               clock=lambda: dt.datetime.now(dt.UTC))
        with serve_app(create_app(source, ConsoleOptions())) as url:
            overview = httpx.get(url + "/").text
            history = httpx.get(url + "/jobs/orders").text
        orders_row = overview.split('data-job="orders"')[1].split("</tr>")[0]
        prices_row = overview.split('data-job="prices"')[1].split("</tr>")[0]
        assert 'class="badge succeeded"' in orders_row
        assert "runner-b@host-2" in prices_row and "runner-b" not in orders_row
        assert f"Run {run}" in history
        assert "<td>3</td><td>2</td>" in history  # read 3, written 2 by runner A
