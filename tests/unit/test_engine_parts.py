"""Engine pieces on their own: backoff, lookback, pushdown split, progress, quarantine retry."""

from __future__ import annotations

import io

import pytest

from runner.engine import (
    TerminalProgress,
    apply_lookback,
    backoff_delay,
    retry_quarantined,
    run_job,
)
from runner.engine.ops import pushed_part
from runner.spec import All, Compare, FieldMap, Job, RetryPolicy
from runner.state.base import StateStore
from tests.support.doubles import World
from tests.unit.test_engine import make_job, make_step, row


def test_backoff_grows_caps_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=10, backoff_s=1.0, max_backoff_s=8.0)
    highs = [backoff_delay(n, policy, rand=lambda: 1.0) for n in range(1, 7)]
    assert highs == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    lows = [backoff_delay(n, policy, rand=lambda: 0.0) for n in range(1, 4)]
    assert lows == [0.5, 1.0, 2.0]  # jitter keeps at least half
    assert backoff_delay(1, policy, retry_after=30.0) == 30.0


@pytest.mark.parametrize(
    ("since", "lookback", "expected"),
    [
        ("2024-03-01T00:00:30", 60, "2024-02-29T23:59:30"),
        ("2024-03-01 10:00:00", 90, "2024-03-01 09:58:30"),
        ("2024-03-01T10:00:00Z", 60, "2024-03-01T09:59:00Z"),
        ("2024-03-02", 3600, "2024-03-01"),
        (42, 60, 42),
        (None, 60, None),
        ("not a date", 60, "not a date"),
    ],
)
def test_lookback(since: object, lookback: float, expected: object) -> None:
    assert apply_lookback(since, lookback) == expected


def test_pushed_part_splits_a_conjunction() -> None:
    a, b = Compare("x", "equals", 1), Compare("y", "gt", 2)
    assert pushed_part(All((a, b)), b) == a
    assert pushed_part(All((a, b)), None) == All((a, b))
    assert pushed_part(a, a) is None
    assert pushed_part(None, None) is None


def test_terminal_progress_shows_rate_and_eta() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = TerminalProgress(out, clock=lambda: now[0], min_interval_s=0.0)
    bar.start("inventory", "products", 1000)
    now[0] = 2.0
    bar.advance(250)
    assert bar.line(2.0) == "inventory/products: 250 rows, 125 rows/s, 25% of 1000, ETA 6s"
    bar.finish()
    assert out.getvalue().endswith("\n") and "\r" in out.getvalue()


def test_quarantine_retry_releases_what_now_succeeds(world: World, state: StateStore) -> None:
    step = make_step(mappings=(FieldMap("sku", field="item_id"), FieldMap("title", field="name")))
    job = make_job(step)
    world.rows["erp"] = [row(1), row(2), row(3)]
    dest = world.sink("store")
    dest.reject = lambda op: "409 conflict" if op.key != ("A1",) else None
    run_job(job, project=None, state=state)
    assert {q.key for q in state.quarantine_list()} == {("A2",), ("A3",)}

    class Project:
        def job(self, name: str) -> Job:
            assert name == "inventory"
            return job

    dest.reject = lambda op: "409 conflict" if op.key == ("A3",) else None
    report = retry_quarantined(Project(), state, job="inventory", sleep=lambda _s: None)
    assert (report.released, report.failed) == (1, 1)
    assert dest.records[("A2",)] == {"sku": "A2", "title": "item 2"}
    left = state.quarantine_list()
    assert [(q.key, q.attempts) for q in left] == [(("A3",), 2)]
    # Released records are hashed: the next run does not send A2 again.
    dest.writes.clear()
    dest.reject = None
    run_job(job, project=None, state=state)
    assert [op.key for op in dest.ops] == [("A3",)]


def test_engine_imports_point_one_way() -> None:
    import ast
    from pathlib import Path

    import runner.engine

    package = Path(runner.engine.__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("runner.cli", "runner.scheduler")), (module, name)


def test_public_surface_is_pinned() -> None:
    import runner.engine

    assert sorted(runner.engine.__all__) == [
        "JobResult", "NullProgress", "PlanSample", "ProgressSink",
        "RetryReport", "StepPlan", "StepResult", "TerminalProgress", "apply_lookback",
        "backoff_delay", "call_with_retry", "default_owner", "idempotency_key",
        "install_after_write",
        "retry_quarantined", "run_job", "select_steps",
    ]
    assert all(hasattr(runner.engine, name) for name in runner.engine.__all__)
