"""The benchmark command runs end to end at tiny sizes and prints every figure of issues #7
and #16 (the rate budgets included).

Marked benchmark and slow: outside the default run, in .ci/run's slow step (it starts
sandboxes and runner processes, ~20 s here and a minute or two under load).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]


@pytest.fixture(scope="module")
def bench(
        tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of the benchmark command at tiny sizes, and its work folder, for both tests."""
    work = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/benchmarks/run.py"), "--quick", "--products", "1500",
         "--small", "300", "--orders", "60", "--pairs", "2", "--workdir", str(work)],
        capture_output=True, text=True, cwd=ROOT, timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done, work


@pytest.mark.timeout(600)
def test_benchmark_command_prints_every_figure(
        bench: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, _ = bench
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    figures = [line.split("|")[1].strip() for line in table[1:]]
    expected = [
        "complete sync, 1,500 products",  # by cursor: median of 2 pairs
        "each pair's ratio, in the order run",
        "the first pair's runner, to the sequential hand-written loop",
        "complete sync, by row hash",
        "CPU seconds of the complete sync by cursor",
        "CPU seconds of the complete sync by row hash",
        "incremental, 1% changed",  # by cursor
        "the same, median of 2 runs / median of the 2 pairs' complete runs",
        "the same: the job as the runner reports it, and the process's start and exit",
        "the same in CPU seconds",
        "incremental, 1% changed",  # by row hash
        "the same in CPU seconds",
        "start-up: commerce-sync --help",
        "start-up: commerce-sync validate pipelines",
        "rate budget (sandbox store, commerce-sync run): fixed window, Retry-After only",
        "rate budget (sandbox store, commerce-sync run): leaky bucket, X-RateLimit-*",
        "rate budget (sandbox store, commerce-sync run): leaky bucket, Shopify's call limit",
        "rate budget (sandbox store, commerce-sync run): GraphQL cost points",
        "rate budget (test server, exact Retry-After): fixed rate, Retry-After only",
        "rate budget (test server, exact Retry-After): leaky bucket, X-RateLimit-*",
        "rate budget (test server, exact Retry-After): bucket level only (Shopify REST)",
        "rate budget (test server, exact Retry-After): GraphQL cost points",
        "peak RSS at 300 products",
        "peak RSS at 1,500 products / at 300",
        "orders import, 60 orders",
    ]
    assert len(figures) == len(expected), done.stdout
    for figure, start in zip(figures, expected, strict=True):
        assert figure.startswith(start), figure
    for line in table[1:]:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        runner, ratio = cells[1], cells[3]
        assert runner and runner[0].isdigit(), line
        if ratio:
            assert float(ratio) > 0, line
    assert "median of 2 pairs" in figures[0]
    assert "by cursor" in figures[6] and "by row hash" in figures[10]
    # The repeated incremental runs each sent what the first one did (run.py checks the
    # counts); their times are listed beside the median.
    assert table[8].split("|")[2].count(",") == 1, table[8]
    # The median run split into the job, as the runner times it, and the process around it.
    job, around = (float(part.split()[0]) for part in table[9].split("|")[2].split("+"))
    assert job > 0 and around > 0, table[9]
    # Each budget row says how much of the budget was used and how much was refused, from
    # counts of what the server accepted (the sandbox's runs each created 80 products: the
    # script checks the run's count and the store's).
    for line in table[15:23]:
        used, throttled = line.split("|")[2].split(",")
        assert used.strip().endswith("% used") and throttled.strip().endswith("% throttled"), line
        assert int(line.split("|")[3].split()[0]) > 0, line  # requests accepted


@pytest.mark.timeout(600)
def test_import_share_runs_on_a_benchmark_folder(
        bench: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, work = bench
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/benchmarks/import_share.py"), str(work),
         "--products", "1500", "--runs", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = {line.split(":")[0].strip(): float(line.split(":")[1].split()[0])
               for line in done.stdout.splitlines()[1:]}
    run, timed = figures["as `commerce-sync run`"], figures["SQLAlchemy imported first"]
    share, rest = figures["of which SQLAlchemy's import"], figures["the run without it"]
    assert run > 0 and 0 < share < timed
    assert rest == pytest.approx(timed - share, abs=0.002)

