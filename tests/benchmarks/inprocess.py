"""In-process CPU of the parts of a complete sync, best of N (issue 16): on a shared machine the
CPU seconds of one part, measured in one process, move less than a whole run's wall time.

    .venv/bin/python -m runner demo-data --products 200000 --db /tmp/erp.db
    .venv/bin/python tests/benchmarks/inprocess.py /tmp/erp.db [--repeat 5]

Prints, for the products step of tests/benchmarks/pipelines/inventory.yaml:
- read: the step's query read through the sql source, its filter pushed down (rows -> dicts);
- table: ``table: products`` read whole (a NUMERIC column, typed by the source);
- nest+map: the rows read above, nested and mapped by the compiled step.
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The least CPU seconds of ``repeat`` calls, and the last call's result."""
    least, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = fn()
        least = min(least, time.process_time() - started)
    return least, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("erp", type=Path, help="a demo ERP (runner demo-data)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(ERP_DATABASE_URL=f"sqlite:///{args.erp}",
                      COMMERCE_URL="http://127.0.0.1:9", COMMERCE_API_KEY="unused")

    from connectors.api import ConnectorContext, ReadRequest
    from connectors.sql import SqlConnector
    from runner.engine.reading import default_context, load_lookups
    from runner.project import load_project
    from runner.transforms import compile_step

    pipeline = ROOT / "tests" / "benchmarks" / "pipelines" / "inventory.yaml"
    step = load_project([str(pipeline)]).job("bench-inventory").steps[0]
    assert step.filter is not None
    ctx = ConnectorContext(job="bench", step=step.name)
    source = SqlConnector().open_source(step.source.options, ctx)
    table = SqlConnector().open_source({"url": f"sqlite:///{args.erp}", "table": "products"},
                                       ctx)
    try:
        residual = source.pushdown(step.filter)
        seconds, rows = best(lambda: list(source.read(ReadRequest(filter=step.filter))),
                             args.repeat)
        print(f"read      {len(rows):>9,} rows     {seconds:6.3f} s CPU")
        seconds, count = best(lambda: sum(1 for _ in table.read(ReadRequest())), args.repeat)
        print(f"table     {count:>9,} rows     {seconds:6.3f} s CPU")
        lookups = load_lookups(step, job="bench", context=default_context, sleep=time.sleep)
        compiled = compile_step(step, lookups=lookups, keymap=None, residual_filter=residual)
        # As a run's stream does (runner.engine.heap): the rows read are out of the collector's
        # reach, and the records are dropped as they come, not held (holding 300,000 of them
        # tripled this figure with full collections a run does not make).
        gc.collect()
        gc.freeze()
        count = sum(1 for _ in compiled.apply(iter(rows)))
        seconds, _ = best(lambda: deque(compiled.apply(iter(rows)), maxlen=0), args.repeat)
        print(f"nest+map  {count:>9,} records  {seconds:6.3f} s CPU")
    finally:
        source.close()
        table.close()


if __name__ == "__main__":
    main()
