"""What the schema passes of ``validate`` cost per file, in CPU time (not wall: the machine is
shared, and a busy neighbour inflates wall time, not the work done).

    python tests/benchmarks/validate_schemas.py [--rounds 20] [FOLDER...]

For each pipeline file of the folders (default: pipelines/ and pipelines/medusa/), the
version 2 schema on the file as written (what ``validate`` runs), the version 1 schema on the
form runner.lang_v2 reads it into (the pass ``validate`` ran before, and still runs where
project.yaml has errors of its own), and the project schema on each project.yaml. Each pass
runs ``--rounds`` times on a fresh copy of the document; the median round is printed.

Figures only; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from runner.config import Document, load_file
from runner.lang_v2 import PROJECT_FILE, read_project, to_v1
from runner.schema_check import schema_problems

ROOT = Path(__file__).resolve().parents[2]


def _cpu(rounds: int, make: Callable[[], Document], schema: str) -> float:
    """Median CPU seconds of one schema pass over a fresh copy of the document."""
    schema_problems(make(), schema)  # the validator compiles its references on first use
    times = []
    for _ in range(rounds):
        doc = make()
        started = time.process_time()
        fits = schema_problems(doc, schema)
        times.append(time.process_time() - started)
        assert fits, doc.problems
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path,
                        default=[ROOT / "pipelines", ROOT / "pipelines" / "medusa"])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    total_v2 = total_v1 = total_project = 0.0
    files = 0
    for folder in args.folders:
        project_doc = load_file(folder / PROJECT_FILE, env={})
        project = read_project(copy.deepcopy(project_doc))
        total_project += _cpu(args.rounds, lambda d=project_doc: copy.deepcopy(d), "project")
        for path in sorted(folder.glob("*.yaml")):
            if path.name == PROJECT_FILE:
                continue
            doc = load_file(path, env={})
            translated, _ = to_v1(copy.deepcopy(doc), project)
            v2 = _cpu(args.rounds, lambda d=doc: copy.deepcopy(d), "pipeline")
            v1 = _cpu(args.rounds, lambda d=translated: copy.deepcopy(d), "pipeline-v1")
            print(f"{path.relative_to(ROOT)}: v2 schema {v2 * 1000:.1f} ms, "
                  f"v1 schema on the translated form {v1 * 1000:.1f} ms")
            total_v2, total_v1, files = total_v2 + v2, total_v1 + v1, files + 1
    print(f"{files} files: v2 schema {total_v2 * 1000:.1f} ms in all (validate now); v1 schema "
          f"on the translated form {total_v1 * 1000:.1f} ms (validate before; both passes "
          f"together {(total_v1 + total_v2) * 1000:.1f} ms); project schema "
          f"{total_project * 1000:.1f} ms for {len(args.folders)} project.yaml; CPU time, "
          f"median of {args.rounds} rounds")


if __name__ == "__main__":
    main()
