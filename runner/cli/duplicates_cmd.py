"""``commerce-sync duplicates [JOB]``: natural keys the destination holds more than once.

A complete sync's listing (or a ``match``) finds them; the key map keeps one object per key
(``on_duplicate``) and the others are left alone: this report is where a person sees every id
and decides which objects to remove at the destination.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from runner.cli.run_cmd import add_state_option, state_store

ORDER = 45


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "duplicates", help="natural keys the destination holds more than once, with every id")
    parser.add_argument("job", nargs="?", help="only this job")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_state_option(parser)
    parser.set_defaults(func=cmd_duplicates)


def cmd_duplicates(args: argparse.Namespace) -> int:
    with state_store(args.state) as state:
        found = state.duplicates_list(args.job)
    if args.format == "json":
        print(json.dumps([{"job": d.job, "entity": d.entity, "key": list(d.key),
                           "ids": list(d.ids), "kept": d.kept,
                           "found_at": d.found_at.isoformat()} for d in found], indent=2))
        return 0
    if not found:
        print("no duplicates found by the last complete syncs")
        return 0
    for d in found:
        others = ", ".join(i for i in d.ids if i != d.kept)
        print(f"{d.job}/{d.entity} {'/'.join(d.key)}: kept {d.kept}; also held as {others}")
    print(f"{len(found)} keys held more than once; the others were neither updated nor "
          "removed: delete them at the destination, then run the complete sync again")
    return 0
