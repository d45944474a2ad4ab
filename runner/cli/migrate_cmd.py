"""``commerce-sync migrate PATH [...] [--check]``: rewrite version 1 pipelines in version 2.

Prints each change (``file: old -> new``), writes the files and a ``project.yaml`` with the
connections they shared, then validates the result. ``--check`` writes nothing and exits 1
when a file would change (for CI: "are these pipelines in version 2?").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ORDER = 15
EXIT_OK, EXIT_CHANGES, EXIT_CONFIG = 0, 1, 2

__all__ = ["ORDER", "register"]


def run(args: argparse.Namespace) -> int:
    from runner.migrate import plan_migration  # ruamel.yaml loads only for this command

    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    if missing:
        for path in missing:
            print(f"{path}: no such file or folder", file=sys.stderr)
        return EXIT_CONFIG
    folders = {p if p.is_dir() else p.parent for p in paths}
    total: list[Path] = []
    for folder in sorted(folders):
        # One folder, one project.yaml: its files are migrated together.
        group = [p for p in paths if (p if p.is_dir() else p.parent) == folder]
        migration = plan_migration(group)
        for line in migration.report():
            print(line)
        changed = migration.changed()
        total += changed
        if not args.check:
            migration.write()
    if args.check:
        if total:
            print(f"{len(total)} file(s) would change; run `commerce-sync migrate "
                  f"{' '.join(args.paths)}`", file=sys.stderr)
            return EXIT_CHANGES
        print("every file is already in version 2", file=sys.stderr)
        return EXIT_OK
    print(f"{len(total)} file(s) written; check them with `commerce-sync validate "
          f"{' '.join(args.paths)}`" if total else "nothing to migrate", file=sys.stderr)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "migrate",
        help="rewrite version 1 pipeline files in version 2 (comments kept)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="pipeline files or folders (a folder's files share project.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a file would change")
    parser.set_defaults(func=run)
