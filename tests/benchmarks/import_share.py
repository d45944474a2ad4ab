"""What SQLAlchemy's import costs the 1% incremental run by cursor (issue 16's missed figure).

Needs the work folder of a ``run.py --pairs 2 (or more) --workdir DIR`` run: its large ERP
(with 1% changed; give ``--products`` if it was not 1,000,000), and the state and store the
incremental runs started from (``state-inc0.db``, ``store-inc0.db``). Runs the incremental job
``--runs`` times each way, alternately, each from a copy of that snapshot into a sandbox of its
own: as ``commerce-sync run`` does, and with SQLAlchemy imported first and timed in the same
process (the garbage collector paused, as ``run`` pauses it while the engine loads). Prints
the medians, and the second kind's run minus its SQLAlchemy import: what the run would take if
the state store and the SQLite source did not need SQLAlchemy.

    python tests/benchmarks/import_share.py /tmp/bench --runs 9
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.run import HERE, KEY, ROOT, _copy_db, remove_db, sandbox

# Imports SQLAlchemy (what the state store and the sql source load), times it, then runs the
# CLI in the same process with the arguments given.
TIMED_FIRST = """
import gc, runpy, sys, time
gc.disable()
started = time.perf_counter()
import sqlalchemy, sqlalchemy.dialects.sqlite, sqlalchemy.pool
sys.stderr.write(f"SQLALCHEMY_IMPORT {time.perf_counter() - started:.4f}\\n")
gc.enable()
sys.argv = ["commerce-sync", *sys.argv[1:]]
runpy.run_module("runner", run_name="__main__", alter_sys=True)
"""


def one_run(work: Path, erp: Path, timed_first: bool) -> tuple[float, float | None, str]:
    state, store = work / "state-share.db", work / "store-share.db"
    _copy_db(work / "state-inc0.db", state)
    _copy_db(work / "store-inc0.db", store)
    try:
        with sandbox(store, work / "bench.log") as url:
            env = {**os.environ, "ERP_DATABASE_URL": f"sqlite:///{erp}",
                   "COMMERCE_URL": url, "COMMERCE_API_KEY": KEY}  # fmt: skip
            head = ["-c", TIMED_FIRST] if timed_first else ["-m", "runner"]
            cmd = [sys.executable, *head, "run", "bench-inventory", "--force", "--pipelines",
                   str(HERE / "pipelines/inventory.yaml"), "--state", str(state)]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            seconds = time.perf_counter() - started
    finally:
        remove_db(state)
        remove_db(store)
    if done.returncode != 0:
        raise SystemExit(f"the run failed: {done.stderr[-2000:]}")
    found = re.search(r"SQLALCHEMY_IMPORT ([0-9.]+)", done.stderr)
    return seconds, float(found.group(1)) if found else None, done.stdout


def written(stdout: str) -> str:
    """The records a run wrote, from its step summary line."""
    found = re.search(r"written (\d+)", stdout)
    if not found:
        raise SystemExit(f"no step summary in the runner's output: {stdout!r}")
    return found.group(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="a `run.py --pairs 2 --workdir` folder")
    parser.add_argument("--runs", type=int, default=7, help="runs of each kind (default 7)")
    parser.add_argument("--products", type=int, default=1_000_000,
                        help="the --products that run.py was given (default 1,000,000)")
    args = parser.parse_args()
    work = args.workdir.resolve()
    erp = work / f"erp-{args.products}.db"
    for name in (erp.name, "state-inc0.db", "store-inc0.db"):
        if not (work / name).exists():
            parser.error(f"{work / name} is missing: run run.py --pairs 2 --workdir {work}")
    plain: list[float] = []
    timed: list[float] = []
    imports: list[float] = []
    sent: set[str] = set()
    for _ in range(args.runs):
        seconds, _, out = one_run(work, erp, timed_first=False)
        plain.append(seconds)
        sent.add(written(out))
        seconds, share, out = one_run(work, erp, timed_first=True)
        if share is None:
            raise SystemExit("the timed run did not report SQLAlchemy's import")
        timed.append(seconds)
        imports.append(share)
        sent.add(written(out))
    if len(sent) != 1:
        raise SystemExit(f"the runs wrote different record counts: {sorted(sent)}")

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"

    print(f"incremental run by cursor, {args.runs} of each, alternately "
          f"({sent.pop()} records written each)")
    print(f"  as `commerce-sync run`:                 {spread(plain)}")
    print(f"  SQLAlchemy imported first:              {spread(timed)}")
    print(f"    of which SQLAlchemy's import:         {spread(imports)}")
    print(f"    the run without it:                   "
          f"{spread([t - i for t, i in zip(timed, imports, strict=True)])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
