"""``commerce-sync quarantine list|show|retry|drop``: records a run could not deliver."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from runner.cli.run_cmd import add_pipelines_option, add_state_option, load_pipelines, state_store
from runner.errors import ConfigError, LockedError, redact

if TYPE_CHECKING:
    from runner.state.base import QuarantinedRecord

ORDER = 45


def register(sub: Any) -> None:
    parser = sub.add_parser("quarantine", help="list, show, retry or drop quarantined records")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    lst = actions.add_parser("list", help="list quarantined records")
    lst.add_argument("--job")
    lst.add_argument("--format", choices=("text", "json"), default="text")
    add_state_option(lst)
    lst.set_defaults(func=cmd_list)

    show = actions.add_parser("show", help="show one record and why it was refused")
    show.add_argument("id", type=int)
    add_state_option(show)
    show.set_defaults(func=cmd_show)

    for name, func, text in (
        ("retry", cmd_retry, "read the records' keys again from the source (else send the "
                             "stored record) through the step's mapping and destination"),
        ("drop", cmd_drop, "forget records"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("ids", nargs="*", type=int, metavar="ID")
        p.add_argument("--all", action="store_true", help="every record (of --job, if given)")
        p.add_argument("--job")
        add_state_option(p)
        if name == "retry":
            add_pipelines_option(p)
            p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS")
        p.set_defaults(func=func)


def as_dict(q: QuarantinedRecord) -> dict[str, Any]:
    return {
        "id": q.id,
        "job": q.job,
        "step": q.step,
        "run_id": q.run_id,
        "key": list(q.key) if q.key is not None else None,
        "reason": redact(q.reason),
        "attempts": q.attempts,
        "created_at": q.created_at.isoformat(),
        "updated_at": q.updated_at.isoformat(),
        "record": q.record,
    }


def _selection(args: argparse.Namespace) -> None:
    if bool(args.ids) == bool(args.all):
        raise ConfigError(f"quarantine {args.action}: give record ids or --all (not both)")


def cmd_list(args: argparse.Namespace) -> int:
    with state_store(args.state) as state:
        records = state.quarantine_list(args.job)
    if args.format == "json":
        print(redact(json.dumps([as_dict(q) for q in records], indent=2, default=str)))
        return 0
    if not records:
        print("quarantine is empty")
        return 0
    print(f"{'ID':>5}  {'JOB/STEP':<30} {'KEY':<20} {'TRIES':>5}  REASON")
    for q in records:
        key = "/".join(q.key) if q.key is not None else "-"
        print(redact(f"{q.id:>5}  {q.job + '/' + q.step:<30} {key:<20} {q.attempts:>5}  "
                     f"{q.reason}"))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with state_store(args.state) as state:
        record = state.quarantine_get(args.id)
    if record is None:
        print(f"error: no quarantined record with id {args.id}; see `commerce-sync quarantine "
              "list`", file=sys.stderr)
        return 1
    print(redact(json.dumps(as_dict(record), indent=2, default=str)))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from runner.engine import retry_quarantined

    _selection(args)
    project = load_pipelines(args.pipelines)
    with state_store(args.state) as state:
        try:
            report = retry_quarantined(project, state, ids=args.ids or None, job=args.job,
                                       wait_s=args.wait)
        except LockedError as exc:
            print(f"error: {redact(str(exc))}; retry when that run has finished",
                  file=sys.stderr)
            return 1
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if report.missing:
        print(f"not found: {', '.join(map(str, report.missing))}", file=sys.stderr)
    print(f"released {report.released}, still quarantined {report.failed}")
    print(f"re-read {report.reread} from the source")
    for note in report.notes:
        print(redact(note))
    if report.gone:
        ids = " ".join(map(str, report.gone))
        print(f"{len(report.gone)} no longer at the source (or no longer selected), so not "
              f"sent; forget them with `commerce-sync quarantine drop {ids}`")
    if report.failed > len(report.gone):
        print("see why with `commerce-sync quarantine list`; fix the data at the source or the "
              "mapping, then retry again (the next run also releases every key it writes)")
    return 0 if report.failed == 0 and not report.missing and not report.errors else 1


def cmd_drop(args: argparse.Namespace) -> int:
    _selection(args)
    with state_store(args.state) as state:
        ids = [q.id for q in state.quarantine_list(args.job)] if args.all else list(args.ids)
        dropped = state.quarantine_drop(ids)
    print(f"dropped {dropped}")
    return 0
