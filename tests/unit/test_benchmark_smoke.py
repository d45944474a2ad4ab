"""The benchmark command runs end to end at tiny sizes and prints every figure of issue #7.

Marked benchmark (outside the default run): it starts sandboxes and runner processes, and
under load takes a minute or two.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.benchmark


@pytest.mark.timeout(600)
def test_benchmark_command_prints_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/benchmarks/run.py"), "--quick", "--products", "1500",
         "--small", "300", "--orders", "60", "--workdir", str(tmp_path / "bench")],
        capture_output=True, text=True, cwd=ROOT, timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    figures = [line.split("|")[1].strip() for line in table[1:]]
    expected = [
        "complete sync, 1,500 products",
        "the same, to the sequential hand-written loop",
        "complete sync, by row hash",
        "CPU seconds of the complete sync by cursor",
        "incremental, 1% changed",
        "incremental, 1% changed",
        "start-up: commerce-sync --help",
        "start-up: commerce-sync validate pipelines",
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
    assert "by cursor" in figures[4] and "by row hash" in figures[5]

