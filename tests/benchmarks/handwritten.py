"""The practical limit: the benchmark's jobs as minimal hand-written scripts (sqlite3 + httpx).

    python tests/benchmarks/handwritten.py inventory --erp DB --url URL --key KEY [--in-flight N]
    python tests/benchmarks/handwritten.py orders --erp ERP.db --url URL --key KEY

No framework, no state, no retries, no idempotency keys: what someone would write in an
afternoon for one catalogue. They send the same records as tests/benchmarks/pipelines/*.yaml
(the sell-online filter in the SQL, the same fields, the same batch sizes) so that the ratio
of the runner to them is the cost of the framework. Prints one JSON line: records, seconds.

`inventory --in-flight 2` (the default) keeps two requests in flight, as the runner does: the
next batch is built while the store works on the last two, which is what a competent engineer
would write. `--in-flight 1` is the sequential loop, each request waiting for the one before.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import orjson

PRODUCTS_SQL = """
SELECT p.item_id, p.name, p.description, p.list_price, p.currency, p.tax_group_code,
       p.dimension_group_code, v.sku, v.size, v.colour, v.style, v.configuration
FROM products p LEFT JOIN variants v ON v.item_id = p.item_id
WHERE p.sell_online = 1
ORDER BY p.item_id, v.sku
"""
CENT = Decimal("0.01")
BATCH = 500
PAGE = 1000


def _products(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    rates = dict(conn.execute("SELECT code, rate FROM item_tax_groups"))
    current: dict[str, Any] | None = None
    for item, name, text, price, currency, tax, dims, sku, size, colour, style, conf in (
        conn.execute(PRODUCTS_SQL)
    ):
        if current is None or current["sku"] != item:
            if current is not None:
                yield current
            current = {
                "sku": item, "title": name, "description": text,
                "price": float(Decimal(str(price)).quantize(CENT, ROUND_HALF_UP)),
                "currency": currency, "tax_group": tax,
                "tax_rate": None if rates.get(tax) is None else float(rates[tax]),
                "dimension_group": dims, "published": True, "variants": [],
            }  # fmt: skip
        if sku is not None:
            current["variants"].append(
                {"sku": sku, "size": size, "colour": colour, "style": style, "configuration": conf}
            )
    if current is not None:
        yield current


def inventory(erp: str, url: str, key: str, in_flight: int = 2) -> int:
    conn = sqlite3.connect(erp)
    sent = 0
    pending: deque[Future[None]] = deque()
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client, \
            ThreadPoolExecutor(max_workers=in_flight) as pool:  # fmt: skip

        def send(batch: list[dict[str, Any]]) -> None:
            # Encode here, on the main thread, like the runner: only the request overlaps.
            body = orjson.dumps({"records": batch})
            while len(pending) >= in_flight:
                pending.popleft().result()
            pending.append(pool.submit(_post, client, body))

        batch: list[dict[str, Any]] = []
        for record in _products(conn):
            batch.append(record)
            if len(batch) == BATCH:
                send(batch)
                sent += len(batch)
                batch = []
        if batch:
            send(batch)
            sent += len(batch)
        while pending:
            pending.popleft().result()
    conn.close()
    return sent


def _post(client: httpx.Client, body: bytes) -> None:
    response = client.post(
        "/v1/products/batch",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    response.raise_for_status()


ORDER_SQL = """
INSERT INTO sales_orders (store_id, store_order_id, store_order_number, customer_email,
    customer_name, delivery_name, delivery_street, delivery_city, delivery_state,
    delivery_postal_code, delivery_country, delivery_mode, currency, total, ordered_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (store_id, store_order_id) DO UPDATE SET
    store_order_number = excluded.store_order_number, customer_email = excluded.customer_email,
    customer_name = excluded.customer_name, delivery_name = excluded.delivery_name,
    delivery_street = excluded.delivery_street, delivery_city = excluded.delivery_city,
    delivery_state = excluded.delivery_state, delivery_postal_code = excluded.delivery_postal_code,
    delivery_country = excluded.delivery_country, delivery_mode = excluded.delivery_mode,
    currency = excluded.currency, total = excluded.total, ordered_at = excluded.ordered_at
RETURNING sales_order_id
"""
LINE_SQL = """
INSERT INTO sales_order_lines (sales_order_id, line_number, sku, quantity, unit_price)
VALUES (?, ?, ?, ?, ?)
"""


def orders(erp: str, url: str, key: str) -> int:
    conn = sqlite3.connect(erp)
    done = 0
    params: dict[str, Any] = {"limit": PAGE}
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
        while True:
            page = orjson.loads(client.get("/v1/orders", params=params).raise_for_status().content)
            with conn:
                for order in page["data"]:
                    customer = order.get("customer") or {}
                    ship = order.get("shipping_address") or {}
                    (sales_order_id,) = conn.execute(ORDER_SQL, (
                        order["store_id"], order["id"], order.get("number"),
                        customer.get("email"), customer.get("name"), ship.get("name"),
                        ship.get("line1"), ship.get("city"), ship.get("region"),
                        ship.get("postal_code"), ship.get("country"), order.get("delivery_mode"),
                        order.get("currency"), str(Decimal(str(order["total"])).quantize(CENT)),
                        order["placed_at"],
                    )).fetchone()  # fmt: skip
                    conn.execute(
                        "DELETE FROM sales_order_lines WHERE sales_order_id = ?", (sales_order_id,)
                    )
                    conn.executemany(LINE_SQL, [
                        (sales_order_id, line["line_number"], line["sku"], line["quantity"],
                         str(Decimal(str(line["unit_price"])).quantize(CENT)))
                        for line in order["lines"]
                    ])  # fmt: skip
                    done += 1
            if not page.get("next_cursor"):
                break
            params = {"limit": PAGE, "cursor": page["next_cursor"]}
    conn.close()
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", choices=("inventory", "orders"))
    parser.add_argument("--erp", required=True, help="the reference ERP (SQLite file)")
    parser.add_argument("--url", required=True, help="the sandbox store's base URL")
    parser.add_argument("--key", required=True, help="the sandbox store's API key")
    parser.add_argument("--in-flight", type=int, default=2,
                        help="inventory: requests in flight at once (default 2, as the runner)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    url = args.url.rstrip("/")
    if args.job == "inventory":
        count = inventory(args.erp, url, args.key, args.in_flight)
    else:
        count = orders(args.erp, url, args.key)
    print(orjson.dumps({"records": count, "seconds": time.perf_counter() - started}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
