"""``commerce-sync history [JOB]``: the recorded runs, newest first."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from runner.cli.run_cmd import add_state_option, state_store
from runner.errors import redact

if TYPE_CHECKING:
    from runner.state.base import RunRecord

ORDER = 40


def register(sub: Any) -> None:
    parser = sub.add_parser("history", help="show recorded runs, newest first")
    parser.add_argument("job", nargs="?", help="only this job")
    parser.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_state_option(parser)
    parser.set_defaults(func=cmd_history)


def as_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "job": run.job,
        "step": run.step or None,
        "mode": run.mode,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "read": run.counts.read,
        "written": run.counts.written,
        "unchanged": run.counts.unchanged,
        "deleted": run.counts.deleted,
        "quarantined": run.counts.quarantined,
        "echoed": run.counts.echoed,
        "error": redact(run.error) if run.error else None,
    }


def cmd_history(args: argparse.Namespace) -> int:
    with state_store(args.state) as state:
        runs = state.runs(args.job, limit=args.limit)
    if args.format == "json":
        print(json.dumps([as_dict(r) for r in runs], indent=2))
        return 0
    if not runs:
        print("no runs recorded")
        return 0
    print(f"{'RUN':>5}  {'JOB/STEP':<30} {'MODE':<12} {'STATUS':<12} {'STARTED':<20} "
          f"{'SECS':>7} {'READ':>7} {'WRITTEN':>7} {'DELETED':>7} {'QUAR':>5}")
    for r in runs:
        name = f"{r.job}/{r.step}" if r.step else r.job
        secs = f"{(r.finished_at - r.started_at).total_seconds():.1f}" if r.finished_at else "-"
        line = (f"{r.run_id:>5}  {name:<30} {r.mode:<12} {r.status:<12} "
                f"{r.started_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {secs:>7} "
                f"{r.counts.read:>7} {r.counts.written:>7} {r.counts.deleted:>7} "
                f"{r.counts.quarantined:>5}")
        if r.error:
            line = f"{line}  {redact(r.error)}"
        print(line)
    return 0
