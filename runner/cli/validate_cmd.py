"""``commerce-sync validate [PATH ...]``: check pipeline files without touching any system.

Prints one line per problem, sorted by file and line (``file:line:col: path: message``), then a
one-line summary on stderr. Exit 2 when any error was found, else 0 (warnings do not fail).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from runner.errors import ConfigProblem

ORDER = 10
EXIT_OK, EXIT_CONFIG = 0, 2

__all__ = ["ORDER", "format_problems", "register", "summary"]


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_problems(problems: Sequence[ConfigProblem], fmt: str = "text") -> list[str]:
    """The lines ``validate`` prints for ``problems`` in format text, json or github."""
    if fmt == "json":
        import orjson  # here: `--help` builds this parser and prints no JSON

        payload = [
            {
                "file": p.file,
                "line": p.line,
                "col": p.col,
                "path": p.path,
                "message": p.message,
                "severity": p.severity,
            }
            for p in problems
        ]
        return [orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()]
    if fmt == "github":
        lines = []
        for p in problems:
            kind = "warning" if p.severity == "warning" else "error"
            where = f"file={_github_escape(p.file, prop=True)}"
            if p.line:
                where += f",line={p.line},col={p.col}"
            text = f"{p.path}: {p.message}" if p.path else p.message
            lines.append(f"::{kind} {where}::{_github_escape(text)}")
        return lines
    return [str(p) for p in problems]


def summary(files: int, problems: Sequence[ConfigProblem]) -> str:
    """``"3 files, 2 errors, 1 warning"``."""
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors

    def plural(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    return f"{plural(files, 'file')}, {plural(errors, 'error')}, {plural(warnings, 'warning')}"


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: `--help` builds every command's parser and must not pay for the
    # validator (jsonschema, the connectors) it does not run.
    from runner.project import load_project

    project = load_project(args.paths or ["pipelines"], strict_env=args.strict_env)
    for line in format_problems(project.problems, args.format):
        print(line)
    print(summary(len(project.files), project.problems), file=sys.stderr)
    return EXIT_CONFIG if project.errors else EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check pipeline files (no network, no database, no secrets needed)",
        description=(
            "Check pipeline files: YAML syntax, the pipeline schema, each connector's "
            "options, cron expressions, time zones, field names and job references. "
            "Exit 2 when an error is found."
        ),
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH",
        help="pipeline files or folders of *.yaml/*.yml files (default: pipelines)",
    )
    parser.add_argument(
        "--format", choices=("text", "json", "github"), default="text",
        help="text: file:line:col: path: message; json: a list; github: workflow annotations",
    )
    parser.add_argument(
        "--strict-env", action="store_true",
        help="an unset ${VAR} without a default is an error, not a warning",
    )
    parser.set_defaults(func=run)
