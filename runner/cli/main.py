"""Entry point of ``commerce-sync``: parses arguments and dispatches to a command module.

Each command lives in ``runner/cli/<name>_cmd.py`` and exposes ``ORDER`` (its place in
``--help``) and ``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning an exit code. Exit codes: 0 ok, 1 run failed,
2 invalid configuration, 3 the run finished but quarantined records, 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from runner import __version__
from runner.errors import ConfigError, SyncError, redact
from runner.logs import setup_logging

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head -1`

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="commerce-sync",
        description="Keep a back-office ERP and an online store in sync, from YAML pipelines.",
    )
    parser.add_argument("--version", action="version", version=f"commerce-sync {__version__}")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="lowest level logged (default INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    package = importlib.import_module("runner.cli")
    modules = [
        importlib.import_module(f"runner.cli.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.endswith("_cmd")
    ]
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # At exit the interpreter collects every object still alive, more than once: with
    # SQLAlchemy and httpx loaded (~250,000 objects) that took 0.15-0.2 s of the 1% incremental
    # run over 1M products after its last line was printed (~20 ms with the heap frozen).
    # Nothing alive then needs the collector (stores and connectors are closed, logs are
    # flushed by logging's own exit hook, which runs after this one), so the heap is frozen
    # out of its reach first, as a stream's is (runner.engine.heap). Registered once, however
    # often main runs in one process (the tests call it).
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        code = _dispatch(argv)
        # Flush here, not at interpreter exit, so a reader that went away is seen below.
        sys.stdout.flush()
    except BrokenPipeError:
        # `commerce-sync history | head -1`: the reader has what it wanted. Python's recipe:
        # point stdout at devnull so the final flush at exit cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    setup_logging(args.log_format, args.log_level)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(redact(str(problem)), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SyncError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
