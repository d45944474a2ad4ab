"""In-process CPU of the parts of a complete sync, best of N (issue 16): on a shared machine the
CPU seconds of one part, measured in one process, move less than a whole run's wall time.

    .venv/bin/python -m runner demo-data --products 200000 --db /tmp/erp.db
    .venv/bin/python tests/benchmarks/inprocess.py /tmp/erp.db [--repeat 5]

Prints, for the products step of tests/benchmarks/pipelines/inventory.yaml:
- read: the step's query read through the sql source, its filter pushed down (rows -> dicts);
- read rows: the same as blocks of tuples (``read_rows``), as a run of this step reads it;
- table: ``table: products`` read whole (a NUMERIC column, typed by the source);
- nest+map: the rows read above, nested and mapped by the compiled step, from the dicts and
  from the tuples (the run's path);
- decide+commit: those records through a first complete sync's batch path after the mapping
  (``BatchWriter``: decisions, write ops, accounting, ``commit_batch`` to a fresh SQLite state),
  to a sink that acknowledges every op with an id at no cost of its own; row hashes are made
  before timing.
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
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


def erp_arguments(doc: str | None, repeat: int) -> argparse.Namespace:
    """An in-process benchmark's arguments (the demo ERP, --repeat), and the environment its
    pipeline reads: the ERP's URL, and a store nothing is sent to."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("erp", type=Path, help="a demo ERP (runner demo-data)")
    parser.add_argument("--repeat", type=int, default=repeat)
    args = parser.parse_args()
    os.environ.update(ERP_DATABASE_URL=f"sqlite:///{args.erp}",
                      COMMERCE_URL="http://127.0.0.1:9", COMMERCE_API_KEY="unused")
    return args


def main() -> None:
    args = erp_arguments(__doc__, repeat=5)

    from connectors.api import ConnectorContext, ReadRequest
    from connectors.sql import SqlConnector
    from runner.engine.reading import default_context, load_lookups
    from runner.project import load_project
    from runner.transforms import Transformed, compile_step
    from runner.transforms.hashing import row_hash

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
        seconds, blocks = best(lambda: list(source.read_rows(ReadRequest(filter=step.filter))),
                               args.repeat)
        print(f"read rows {sum(len(b.values) for b in blocks):>9,} rows     {seconds:6.3f} s CPU")
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
        print(f"nest+map  {count:>9,} records  {seconds:6.3f} s CPU (dicts)")
        assert compiled.takes_rows
        seconds, _ = best(lambda: deque(compiled.apply_rows(iter(blocks)), maxlen=0),
                          args.repeat)
        print(f"nest+map  {count:>9,} records  {seconds:6.3f} s CPU (tuples)")
        records = [r for r in compiled.apply(iter(rows)) if type(r) is Transformed]
        hashed = [(r.key, r, row_hash(r.record)) for r in records]
        seconds = min(_decide_commit(step, hashed) for _ in range(args.repeat))
        print(f"decide+commit {len(hashed):>5,} records  {seconds:6.3f} s CPU")
    finally:
        source.close()
        table.close()


class _Acknowledging:
    """A sink that acknowledges every op with an id, the ids made before it is asked."""

    actions = frozenset({"upsert"})

    def __init__(self, count: int) -> None:
        from connectors.api import WriteOutcome

        self._outcomes = iter([WriteOutcome(ok=True, dest_id=f"id-{i}") for i in range(count)])

    def write(self, ops: Sequence[Any]) -> list[Any]:
        return [next(self._outcomes) for _ in ops]

    def close(self) -> None:
        pass


def _decide_commit(step: Any, hashed: list[Any]) -> float:
    """CPU seconds of ``hashed`` (key, record, row hash) decided, written and committed in
    batches of the step's batch_size, to a fresh state."""
    from runner.engine.batch import BatchWriter, Sent
    from runner.engine.retry import Retrier
    from runner.state import open_state

    with tempfile.TemporaryDirectory() as folder:
        state = open_state(str(Path(folder) / "state.db"))
        try:
            run_id = state.begin_run("bench", step.name, "full")
            writer = BatchWriter(step, job="bench", state=state, sink=_Acknowledging(len(hashed)),
                                 run_id=run_id, retrier=Retrier(step.errors.retry, time.sleep))
            writer.fresh_step, writer.keymap_has_ids = True, False  # as a first sync's run
            size = step.batch_size
            started = time.process_time()
            for start in range(0, len(hashed), size):
                fresh = hashed[start:start + size]
                sent = Sent(read_total=start + len(fresh))
                decisions = writer.decisions(fresh, sent, rewrite_all=True)
                writer.write(decisions, sent, lambda d: d.item.source)
                writer.commit(sent, len(fresh))
            return time.process_time() - started
        finally:
            state.close()


if __name__ == "__main__":
    main()
