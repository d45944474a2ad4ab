"""In-process CPU of a changes run (row hashes, no cursor) besides its read, best of N (issue 16).

    .venv/bin/python -m runner demo-data --products 200000 --db /tmp/erp.db
    .venv/bin/python tests/benchmarks/changes_stage.py /tmp/erp.db [--repeat 3]

For the products step of tests/benchmarks/pipelines/inventory-hash.yaml, on rows read once
through the sql source, as the blocks of tuples a run reads, against a state in a temporary
SQLite file:
- first: the transform with no stored hash (every record hashed, nested and mapped, as a
  complete run does);
- changes: the transform against a state holding the first's source hashes, 1% of the products
  changed (their price): what an incremental run spends per record besides reading it;
- look-ups: those source hashes asked for, 2,000 keys at a time in read order, as ``changes``
  asks for them.
Figures, not pass/fail.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.inprocess import best, erp_arguments  # noqa: E402

LOOKAHEAD = 2000  # runner.engine.step.LOOKAHEAD


def main() -> None:
    args = erp_arguments(__doc__, repeat=3)

    from connectors.api import ConnectorContext, ReadRequest, Rows
    from connectors.sql import SqlConnector
    from runner.engine.reading import default_context, load_lookups
    from runner.project import load_project
    from runner.state import open_state
    from runner.state.base import BatchCommit
    from runner.transforms import Transformed, Unchanged, compile_step, source_hasher

    pipeline = ROOT / "tests" / "benchmarks" / "pipelines" / "inventory-hash.yaml"
    job = "bench-inventory-hash"
    step = load_project([str(pipeline)]).job(job).steps[0]
    source = SqlConnector().open_source(step.source.options,
                                        ConnectorContext(job=job, step=step.name))
    try:
        assert step.filter is not None
        residual = source.pushdown(step.filter)
        lookups = load_lookups(step, job=job, context=default_context, sleep=time.sleep)
        compiled = compile_step(step, lookups=lookups, keymap=None, residual_filter=residual)
        fields = None if compiled.reads_all_fields else sorted(compiled.required_fields)
        rows = [r for r in source.read(ReadRequest(filter=step.filter, fields=fields))
                if isinstance(r, dict)]
    finally:
        source.close()
    hasher = source_hasher(step, lookups)
    assert hasher is not None, "the step must hash its source records"

    Lookup = Callable[[Sequence[tuple[str, ...]]], Mapping[tuple[str, ...], str]]

    def as_blocks() -> list[Rows]:
        # As a run reads this step: the source's blocks of tuples (the sql source's chunks).
        columns = tuple(rows[0])
        return [Rows(columns, [tuple(r.values()) for r in rows[i:i + 1000]])
                for i in range(0, len(rows), 1000)]

    blocks = as_blocks()
    assert compiled.takes_rows

    def changes(stored: Lookup) -> Iterator[Any]:
        return compiled.apply_changed_rows(iter(blocks), hasher, stored, lookahead=LOOKAHEAD)

    def transform(stored: Lookup) -> deque[Any]:
        return deque(changes(stored), maxlen=0)

    gc.collect()
    gc.freeze()  # as a run's stream does (runner.engine.heap)
    first = [i for i in changes(lambda keys: {}) if isinstance(i, Transformed)]
    seconds, _ = best(lambda: transform(lambda keys: {}), args.repeat)
    print(f"first     {len(first):>9,} records  {seconds:6.3f} s CPU")

    with tempfile.TemporaryDirectory(prefix="changes-stage-") as tmp:
        state = open_state(f"sqlite:///{Path(tmp) / 'state.db'}")
        run_id = state.begin_run(job, step.name, "changes")
        for start in range(0, len(first), 1000):
            part = first[start:start + 1000]
            state.commit_batch(BatchCommit(
                run_id=run_id, job=job, step=step.name, entity=step.entity_name,
                hashes={i.key: "h" for i in part},
                source_hashes={i.key: i.source_hash for i in part if i.source_hash}))
        del first
        # 1% of the products changed, as run.py changes them (every 100th product's price).
        products = sorted({r["item_id"] for r in rows})[::100]
        changed = set(products)
        for r in rows:
            if r["item_id"] in changed:
                r["list_price"] = (r["list_price"] or 0) + 1
        blocks = as_blocks()

        def stored(keys: Sequence[tuple[str, ...]]) -> Mapping[tuple[str, ...], str]:
            return state.get_source_hashes(job, step.name, keys)

        unchanged = sum(len(i.keys) for i in changes(stored) if isinstance(i, Unchanged))
        seconds, _ = best(lambda: transform(stored), args.repeat)
        print(f"changes   {unchanged:>9,} unchanged {seconds:6.3f} s CPU "
              f"({len(changed):,} products changed)")
        keys = [(str(r["item_id"]),) for r in rows]
        keys = list(dict.fromkeys(keys))
        seconds, found = best(lambda: sum(len(stored(keys[i:i + LOOKAHEAD]))
                                          for i in range(0, len(keys), LOOKAHEAD)), args.repeat)
        print(f"look-ups  {found:>9,} found     {seconds:6.3f} s CPU")
        state.close()


if __name__ == "__main__":
    main()
