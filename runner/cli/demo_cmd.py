"""``commerce-sync demo-data`` and ``commerce-sync sandbox``: the embedded default.

``demo-data`` creates the reference ERP (a SQLite file) filled with deterministic demo data;
``sandbox`` serves the stand-in online store over HTTP until interrupted. Faults and a rate
limit can be set at startup, by flags or by environment (``COMMERCE_SANDBOX_FAULTS``: the JSON
body of ``PUT /v1/_admin/faults``; ``COMMERCE_SANDBOX_RATE_LIMIT``: requests per second). The
behaviours of real stores (``--create always``, ``--errors-in-200``, ``--rate-fixed``,
``--rate-leaky``, ``--rate-cost``) are flags over that same fault configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from runner.errors import ConfigError, register_secret

ORDER = 90
DEFAULT_ERP = "var/erp.db"
DEFAULT_SANDBOX = "var/sandbox.db"
DEFAULT_KEY = "sandbox-key"

__all__ = ["ORDER", "fault_config", "register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data = sub.add_parser(
        "demo-data",
        help="create the reference ERP with demo data",
        description="Create the reference ERP (SQLite) and fill it with deterministic demo data.",
    )
    data.add_argument("--products", type=int, default=1000, help="products (default 1000)")
    data.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    data.add_argument("--db", default=DEFAULT_ERP, help=f"file to create (default {DEFAULT_ERP})")
    data.add_argument(
        "--sell-online", type=float, default=0.3, metavar="RATIO",
        help="share of products selected to sell online (default 0.3)",
    )  # fmt: skip
    data.add_argument("--force", action="store_true", help="replace an existing file")
    data.set_defaults(func=_demo_data)

    box = sub.add_parser(
        "sandbox",
        help="serve the sandbox online store",
        description="Serve the sandbox online store (see schemas/sandbox.openapi.yaml).",
    )
    box.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    box.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    box.add_argument("--data", default=DEFAULT_SANDBOX, help=f"data file ({DEFAULT_SANDBOX})")
    box.add_argument(
        "--api-key", default=None,
        help=f"API key clients must send (default $COMMERCE_API_KEY, else {DEFAULT_KEY!r})",
    )  # fmt: skip
    box.add_argument("--rate-limit", type=float, default=None, metavar="PER_S",
                     help="requests per second before 429 (default unlimited)")  # fmt: skip
    box.add_argument("--error-rate", type=float, default=None, help="share of requests that 500")
    box.add_argument("--latency-ms", type=float, default=None, help="latency added per request")
    box.add_argument("--drop-rate", type=float, default=None,
                     help="share of requests whose connection is dropped")  # fmt: skip
    box.add_argument("--burst-429", default=None, metavar="EVERY:LENGTH[:RETRY_AFTER]",
                     help="of every EVERY requests the last LENGTH get 429")  # fmt: skip
    box.add_argument("--fault-seed", type=int, default=None, help="seed of fault decisions")
    box.add_argument("--create", choices=("upsert", "always"), default=None,
                     help="always: every product create makes a new product (skus not "
                          "unique, Idempotency-Key ignored), as real stores do")  # fmt: skip
    box.add_argument("--errors-in-200", action="store_true", default=None,
                     help="answer refused writes with 200 and the errors in the body")  # fmt: skip
    box.add_argument("--rate-fixed", default=None, metavar="REQUESTS/SECONDS",
                     help="at most REQUESTS per SECONDS, then 429 + Retry-After")  # fmt: skip
    box.add_argument("--rate-leaky", default=None, metavar="LIMIT:LEAK_PER_S",
                     help="a leaky bucket reported in X-RateLimit-* headers")  # fmt: skip
    box.add_argument("--rate-shopify", default=None, metavar="LIMIT:LEAK_PER_S",
                     help="a leaky bucket reported as Shopify REST does: in "
                          "X-Shopify-Shop-Api-Call-Limit alone")  # fmt: skip
    box.add_argument("--rate-cost", default=None, metavar="MAXIMUM:RESTORE_PER_S",
                     help="a GraphQL cost budget reported in extensions.cost")  # fmt: skip
    box.set_defaults(func=_sandbox)


def _demo_data(args: argparse.Namespace) -> int:
    from runner.demo.erp import create_erp

    target = Path(args.db)
    if target.exists():
        if not args.force:
            raise ConfigError(f"{target} already exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    create_erp(target, products=args.products, seed=args.seed, sell_online_ratio=args.sell_online)
    elapsed = time.perf_counter() - started
    print(f"created {target}: {args.products} products (seed {args.seed}) in {elapsed:.1f}s")
    return 0


def fault_config(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    """FaultConfig fields from COMMERCE_SANDBOX_FAULTS, then the flags on top."""
    import orjson

    from runner.demo.sandbox import validation

    body: dict[str, Any] = {}
    if raw := environ.get("COMMERCE_SANDBOX_FAULTS"):
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"COMMERCE_SANDBOX_FAULTS is not valid JSON: {exc}") from exc
    for flag in ("error_rate", "latency_ms", "drop_rate"):
        if getattr(args, flag) is not None:
            body = {**body, flag: getattr(args, flag)}
    if args.fault_seed is not None:
        body = {**body, "seed": args.fault_seed}
    if args.burst_429:
        parts = args.burst_429.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ConfigError(f"--burst-429 wants EVERY:LENGTH[:RETRY_AFTER], got {args.burst_429}")
        burst = dict(zip(("every", "length", "retry_after"), map(int, parts), strict=False))
        body = {**body, "burst_429": burst}
    if args.create is not None:
        body = {**body, "create": args.create}
    if args.errors_in_200:
        body = {**body, "errors_in_200": True}
    rate = dict(body.get("rate") or {})
    for budget, flag, sep, names in (
        ("fixed", "rate_fixed", "/", ("requests", "window_s")),
        ("leaky", "rate_leaky", ":", ("limit", "leak_per_s")),
        ("cost", "rate_cost", ":", ("maximum", "restore_per_s")),
    ):
        if (raw := getattr(args, flag)) is not None:
            rate[budget] = _pair(raw, sep, f"--{flag.replace('_', '-')}", names)
    if args.rate_shopify is not None:
        if args.rate_leaky is not None:
            raise ConfigError("--rate-leaky and --rate-shopify are one bucket; give one")
        rate["leaky"] = {**_pair(args.rate_shopify, ":", "--rate-shopify",
                                 ("limit", "leak_per_s")), "headers": "shopify"}
    if rate:
        body = {**body, "rate": rate}
    try:
        return validation.fault_config_fields(body)
    except validation.Invalid as exc:
        raise ConfigError(f"sandbox faults: {exc}") from exc


def _pair(raw: str, sep: str, flag: str, names: tuple[str, str]) -> dict[str, float]:
    count, _, seconds = raw.partition(sep)
    try:
        return {names[0]: float(count), names[1]: float(seconds)}
    except ValueError:
        raise ConfigError(
            f"{flag} wants {names[0].upper()}{sep}{names[1].upper()} like 40{sep}2, got {raw!r}"
        ) from None


def _sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from runner.demo.sandbox import FaultConfig, create_app

    environ = dict(os.environ)
    key = args.api_key or environ.get("COMMERCE_API_KEY") or DEFAULT_KEY
    register_secret(key)
    rate = args.rate_limit
    if rate is None and environ.get("COMMERCE_SANDBOX_RATE_LIMIT"):
        try:
            rate = float(environ["COMMERCE_SANDBOX_RATE_LIMIT"])
        except ValueError as exc:
            raise ConfigError("COMMERCE_SANDBOX_RATE_LIMIT must be a number") from exc
    if rate is not None and rate <= 0:
        raise ConfigError("the rate limit must be a positive number of requests per second")
    faults = FaultConfig(**fault_config(args, environ))
    app = create_app(args.data, key, faults=faults, rate_limit=rate)
    log.info(
        "sandbox.starting",
        extra={"host": args.host, "port": args.port, "data": args.data, "rate_limit": rate},
    )
    print(f"sandbox store on http://{args.host}:{args.port} (data {args.data})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="off")
    return 0
