"""``commerce-sync ARGS`` in this process, and the CPU seconds each of its threads used.

    .venv/bin/python tests/benchmarks/thread_cpu.py run bench-inventory --force \\
        --pipelines tests/benchmarks/pipelines/inventory.yaml --state /tmp/state.db

Prints one line to stderr at exit: the threads by name (a pool's threads summed under its
prefix, e.g. ``http-sink x2``), each with its own CPU time (``time.thread_time``, which a
thread waiting for the GIL does not add to), then the process's and its children's (the
SQLite reader child) user + system time. On two cores, where py-spy's ``--gil`` samples
charge the operating system's preemption to whichever line holds the GIL, this says which
stage a run's CPU went to (issue 16).
"""

from __future__ import annotations

import atexit
import collections
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

_spent: collections.Counter[str] = collections.Counter()
_count: collections.Counter[str] = collections.Counter()
_run = threading.Thread.run


def _counted_run(self: threading.Thread) -> None:
    try:
        _run(self)
    finally:
        name = self.name.rstrip("0123456789_")  # a pool's threads under their prefix
        _spent[name] += time.thread_time()
        _count[name] += 1


def _report() -> None:
    _spent["MainThread"] += time.thread_time()
    _count["MainThread"] += 1
    used = os.times()
    threads = ", ".join(f"{name} x{_count[name]} {seconds:.2f} s"
                        for name, seconds in _spent.most_common())
    print(f"thread CPU: {threads} | process {used.user + used.system:.2f} s, children "
          f"{used.children_user + used.children_system:.2f} s", file=sys.stderr)


def main() -> int:
    threading.Thread.run = _counted_run  # type: ignore[method-assign]
    atexit.register(_report)
    from runner.cli.main import main as cli

    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
