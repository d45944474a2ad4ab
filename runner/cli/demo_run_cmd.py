"""``commerce-sync demo``: the whole thing on the embedded default, with no setup.

Creates the reference ERP if it is missing, starts the sandbox store on loopback in this
process, queues one run of every job so there is something to watch at once, then runs the
scheduler over ``pipelines/`` until Ctrl-C. ``commerce-sync demo-order`` places a shopper's
order in the running sandbox; the next online-orders run (or ``commerce-sync trigger
online-orders``) brings it into the ERP as a sales order.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.cli.demo_cmd import DEFAULT_ERP, DEFAULT_SANDBOX
from runner.errors import ConfigError, FatalError, register_secret

if TYPE_CHECKING:
    import httpx

ORDER = 5
DEFAULT_KEY = "sandbox-key"

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="run every job on the embedded ERP and sandbox store (no setup)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("paths", nargs="*", metavar="PATH", help="pipeline folders")
    demo.add_argument("--products", type=int, default=1000, help="products in a new ERP (1000)")
    demo.add_argument("--db", default=DEFAULT_ERP, help=f"the reference ERP file ({DEFAULT_ERP})")
    demo.add_argument("--data", default=DEFAULT_SANDBOX, help=f"sandbox file ({DEFAULT_SANDBOX})")
    demo.add_argument("--port", type=int, default=8765, help="sandbox port on 127.0.0.1 (8765)")
    demo.add_argument("--state", default=None, help="state store (default var/state.db)")
    demo.add_argument("--console-port", type=int, default=0, metavar="N",
                      help="serve the operations console on 127.0.0.1:N (0: off, the default)")
    demo.set_defaults(func=cmd_demo)

    order = sub.add_parser(
        "demo-order",
        help="place a shopper's order in the running sandbox store",
        description="Place an order in the sandbox as a shopper would, for the demo and tests. "
        "The store is at $COMMERCE_URL (default http://127.0.0.1:8765) and takes the key in "
        f"$COMMERCE_API_KEY (default {DEFAULT_KEY!r}), unless --url / --api-key say otherwise.",
    )
    order.add_argument("--url", default=None,
                       help="the store's base URL (default $COMMERCE_URL, else "
                            "http://127.0.0.1:8765; `demo --port N` prints the one to use)")
    order.add_argument("--api-key", default=None,
                       help=f"the store's API key (default $COMMERCE_API_KEY, else "
                            f"{DEFAULT_KEY!r})")
    order.add_argument("--sku", action="append", help="sku to buy (default: a published product)")
    order.add_argument("--quantity", type=int, default=1, help="quantity of each sku (1)")
    order.add_argument("--email", default="shopper@example.com", help="the shopper's e-mail")
    order.set_defaults(func=cmd_demo_order)


def _store(url: str | None = None, key: str | None = None) -> tuple[str, str]:
    url = url or os.environ.get("COMMERCE_URL", "http://127.0.0.1:8765")
    key = key or os.environ.get("COMMERCE_API_KEY", DEFAULT_KEY)
    register_secret(key)
    return url.rstrip("/"), key


def cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from runner.cli.serve_cmd import cmd_serve
    from runner.demo.erp import create_erp
    from runner.demo.sandbox import create_app
    from runner.scheduler.service import trigger_token
    from runner.state import open_state

    paths = args.paths or ["pipelines"]
    if not Path(paths[0]).exists():
        raise ConfigError(f"no pipeline folder at {paths[0]!r}; run this from the project's folder")
    db = Path(args.db)
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"creating the reference ERP at {db} ({args.products} products)", file=sys.stderr)
        create_erp(str(db), products=args.products)
    Path(args.data).parent.mkdir(parents=True, exist_ok=True)

    # The pipelines read these; point them at what this command starts unless told otherwise.
    os.environ.setdefault("ERP_DATABASE_URL", f"sqlite:///{db}")
    os.environ.setdefault("COMMERCE_URL", f"http://127.0.0.1:{args.port}")
    _, key = _store()

    app = create_app(args.data, key)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise FatalError(f"the sandbox store could not start on port {args.port}; "
                             "is another program using it? Try --port")
        time.sleep(0.05)

    state = open_state(args.state)
    try:
        for job in ("delivery-and-stores", "inventory", "trade-agreements", "online-orders"):
            state.request_trigger(trigger_token(job), "demo")
    finally:
        state.close()

    print(shopper_hints(f"http://127.0.0.1:{args.port}"), file=sys.stderr)
    serve_args = argparse.Namespace(
        paths=paths, state=args.state, metrics_port=0, owner=None, lease=60.0,
        max_workers=2, reload_interval=3.0, console_port=args.console_port,
        console_host="127.0.0.1", console_read_only=False,
    )
    try:
        return cmd_serve(serve_args)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def shopper_hints(url: str) -> str:
    """What ``demo`` tells the user to try in another terminal, aimed at the store it started
    (the other terminal does not share this one's environment)."""
    order = "commerce-sync demo-order"
    if url != "http://127.0.0.1:8765":
        order = f"{order} --url {url}"
    return (
        f"sandbox store on {url} (API key from COMMERCE_API_KEY, default {DEFAULT_KEY!r})\n"
        "every job runs once now, then on its schedule. In another terminal:\n"
        f"  {order:<40} # a shopper places an order\n"
        f"  {'commerce-sync trigger online-orders':<40} # bring it into the ERP now\n"
        f"  {'commerce-sync status':<40} # what ran, what is next\n"
        "Ctrl-C stops after the batches in flight."
    )


def _refused(response: httpx.Response, url: str) -> FatalError:
    if response.status_code in (401, 403):
        return FatalError(
            f"the store at {url} refused the API key ({response.status_code}); pass the key "
            "it expects with --api-key or COMMERCE_API_KEY (the sandbox's is the one it was "
            f"started with, default {DEFAULT_KEY!r})")
    return FatalError(f"the store at {url} answered {response.status_code} to "
                      f"{response.request.method} {response.request.url.path}: "
                      f"{response.text[:200]}; is --url the sandbox store's address?")


def _get(client: httpx.Client, path: str, url: str, **kw: Any) -> Any:
    response = client.get(path, **kw)
    if response.status_code >= 400:
        raise _refused(response, url)
    try:
        return response.json()
    except ValueError as exc:
        raise FatalError(f"{url} answered {path} with something other than JSON; is --url "
                         "the sandbox store's address?") from exc


def cmd_demo_order(args: argparse.Namespace) -> int:
    import httpx  # here, not at the top: `--help` builds this parser and must not pay for httpx

    url, key = _store(args.url, args.api_key)
    headers = {"X-API-Key": key}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            skus = args.sku
            if not skus:
                page = _get(client, "/v1/products", url, params={"limit": 50})
                published = [p for p in page.get("data", []) if p.get("published", True)]
                if not published:
                    raise FatalError("the store has no published product yet; let the inventory "
                                     "job run first (commerce-sync trigger inventory)")
                skus = [(published[0].get("variants") or [published[0]])[0]["sku"]]
            modes = _get(client, "/v1/delivery-modes", url).get("data", [])
            order = {
                "store_id": "web-us",
                "customer": {"email": args.email, "name": "Demo Shopper"},
                "shipping_address": {"name": "Demo Shopper", "line1": "1 Main St",
                                     "city": "Springfield", "region": "IL",
                                     "postal_code": "62701", "country": "US"},
                "delivery_mode": modes[0]["code"] if modes else "STANDARD",
                "lines": [{"sku": sku, "quantity": args.quantity} for sku in skus],
            }
            placed = client.post("/v1/shop/orders", json=order)
            if placed.status_code in (401, 403):
                raise _refused(placed, url)
            if placed.status_code >= 400:
                raise FatalError(f"the store refused the order ({placed.status_code}): "
                                 f"{placed.text[:200]}")
            body = placed.json()
    except httpx.TransportError as exc:
        raise FatalError(f"cannot reach the store at {url} ({type(exc).__name__}); is "
                         "`commerce-sync demo` or `commerce-sync sandbox` running there? "
                         "Point at it with --url or COMMERCE_URL") from exc
    print(f"placed order {body.get('number')} ({body.get('id')}): "
          f"{', '.join(skus)} x{args.quantity}, total {body.get('total')} {body.get('currency')}")
    return 0
