"""In-process CPU of a first sync's state commits (issue 16), best of N.

    .venv/bin/python tests/benchmarks/state_commit.py [--records 300000] [--batch 1000]

Commits ``--records`` row hashes and destination ids in batches of ``--batch`` (one
``commit_batch`` per batch, as a complete sync of the 1,000,000-product benchmark makes: 300
of 1,000) to a fresh SQLite state file, and prints the CPU seconds, the wall time and the
file's size. Keys are one-field text keys in read order, hashes 32 hex digits. Figures, not
pass/fail.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from runner.state import BatchCommit, RunCounts, open_state

    batches = []
    for start in range(0, args.records, args.batch):
        keys = [(f"I{n:07d}",) for n in range(start, min(start + args.batch, args.records))]
        batches.append(({k: os.urandom(16).hex() for k in keys},
                        {k: f"prd_{i}" for i, k in enumerate(keys, start)}))
    best: tuple[float, float, int] | None = None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "state.db"
            state = open_state(str(path))
            try:
                run = state.begin_run("bench", "products", "full")
                cpu, wall = time.process_time(), time.perf_counter()
                for hashes, ids in batches:
                    state.commit_batch(BatchCommit(
                        run_id=run, job="bench", step="products", entity="products",
                        hashes=hashes, keymap=ids,
                        counts=RunCounts(read=len(hashes), written=len(hashes))))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            finally:
                state.close()
            with closing(sqlite3.connect(path)) as db:  # every commit landed, once
                counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                          for t in ("row_hashes", "keymap")]
            assert counts == [args.records] * 2, counts
            size = sum(p.stat().st_size for p in Path(folder).iterdir())
            if best is None or cpu < best[0]:
                best = (cpu, wall, size)
    assert best is not None
    print(f"commit_batch x{len(batches)} ({args.records:,} hashes and ids): {best[0]:.3f} s CPU, "
          f"{best[1]:.3f} s wall, state file {best[2] / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
