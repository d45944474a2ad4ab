"""``commerce-sync audit JOB``: compare the destination with what the source says now, report
the drift, and with ``--repair`` write exactly it.

Exit codes: 0 no drift (or all of it repaired), 1 drift found and not repaired (or an audit
failed), 2 invalid configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from runner.errors import LockedError, redact

from .run_cmd import add_pipelines_option, add_state_option, find_job, load_pipelines, state_store

if TYPE_CHECKING:
    from runner.engine.audit import StepAudit

ORDER = 25
EXIT_OK, EXIT_DRIFT = 0, 1


def register(sub: Any) -> None:
    p = sub.add_parser(
        "audit", help="find (and repair) what changed at the destination behind the runner",
        description="Read the source as a complete run would, list the destination, and "
        "report what is missing, no longer selected, different or held twice. --repair "
        "writes exactly that drift through the normal write path.")
    p.add_argument("job", help="the job to audit (its `name:`)")
    p.add_argument("--step", action="append", dest="steps", metavar="NAME",
                   help="only this step (repeatable)")
    p.add_argument("--repair", action="store_true",
                   help="write the drift: create what is missing, update what differs, "
                   "remove what is no longer selected (the step's delete policy)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    add_pipelines_option(p)
    add_state_option(p)
    p.set_defaults(func=cmd_audit)


def exit_code(audits: list[StepAudit]) -> int:
    bad = [a for a in audits if a.status in ("drift", "failed")]
    return EXIT_DRIFT if bad else EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    from runner.engine.audit import audit_job

    project = load_pipelines(args.pipelines)
    job = find_job(project, args.job)
    with state_store(args.state) as state:
        try:
            audits = audit_job(job, project=project, state=state, steps=args.steps,
                               repair=args.repair)
        except LockedError as exc:
            print(f"error: {redact(str(exc))}; audit --repair writes, so it waits for no "
                  "run: try again when that run has finished", file=sys.stderr)
            return EXIT_DRIFT
        from runner.state.audits import record_audits

        record_audits(state, audits, repaired=args.repair)
    if args.format == "json":
        doc = {"job": job.name, "steps": [a.as_dict() for a in audits]}
        print(redact(json.dumps(doc, indent=2, default=str)))
    else:
        print(redact(render(job.name, audits)))
    return exit_code(audits)


def render(job: str, audits: list[StepAudit]) -> str:
    lines = [f"audit of {job}"]
    for a in audits:
        head = f"{a.job}/{a.step}: {a.status}"
        if a.error:
            lines.append(f"{head}: {a.error}")
            continue
        counts = ", ".join(f"{a.counts.get(k, 0)} {k}" for k in
                           ("missing", "unselected", "stale_child", "differs", "duplicate",
                            "kept"))
        lines.append(f"{head}: source {a.source_records}, destination {a.dest_records}: "
                     f"{counts} (scan {a.scan_s:.2f}s)")
        if a.repaired:
            done = ", ".join(f"{n} {k}" for k, n in sorted(a.repaired.items()))
            lines.append(f"  repaired: {done} ({a.repair_s:.2f}s)")
        for s in a.samples:
            detail = "; ".join(f"{k}: source {json.dumps(v[0], default=str)} destination "
                               f"{json.dumps(v[1], default=str)}" for k, v in s.fields.items())
            if s.ids:
                detail = "held by " + ", ".join(s.ids)
            lines.append(f"  {s.kind:<10} {'/'.join(s.key)} {detail}".rstrip())
    return "\n".join(lines)
