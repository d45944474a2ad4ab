"""In-process CPU of an orders import's two stages (issue 7's figure, issue 16), best of N.

    .venv/bin/python -m runner demo-data --products 10000 --db /tmp/erp.db
    .venv/bin/python tests/benchmarks/orders_stage.py /tmp/erp.db [--orders 10000]

For the download-orders step of tests/benchmarks/pipelines/orders.yaml, on ``--orders``
orders shaped as the sandbox store lists them (one to four lines each, products sold online,
the ERP's delivery modes; made with a fixed seed):
- map: the orders through the compiled step (mapping, keys);
- write: the records through the SQL sink into a copy of the ERP, in batches of the step's
  batch_size (headers upserted, their lines replaced).
Figures, not pass/fail.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import deque
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inprocess import best, erp_arguments  # noqa: E402


def make_orders(erp: Path, count: int) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(erp)) as conn:
        products = conn.execute("SELECT item_id, list_price FROM products WHERE sell_online = 1 "
                                "ORDER BY item_id LIMIT 500").fetchall()
        modes = [row[0] for row in conn.execute("SELECT code FROM delivery_modes")]
    rng = random.Random(7)
    orders = []
    for n in range(count):
        lines = [{"line_number": i, "sku": sku, "product_id": f"prd_{i:06d}", "title": sku,
                  "quantity": rng.randint(1, 5), "unit_price": float(price), "tax_rate": 0.0825}
                 for i, (sku, price) in enumerate(rng.sample(products, rng.randint(1, 4)), 1)]
        total = round(sum(line["quantity"] * line["unit_price"] for line in lines) * 1.0825, 2)
        stamp = f"2026-11-30T12:{n // 600 % 60:02d}:{n // 10 % 60:02d}.{n:06d}Z"
        orders.append({
            "id": f"ord_{n:06d}", "number": str(100_000 + n), "store_id": "web-us",
            "status": "placed", "currency": "USD",
            "customer": {"email": f"shopper{n}@example.com", "name": f"Shopper {n}"},
            "shipping_address": {"name": f"Shopper {n}", "line1": f"{n} Main St", "line2": None,
                                 "city": "Springfield", "region": "IL", "postal_code": "62701",
                                 "country": "US"},
            "delivery_mode": modes[n % len(modes)], "lines": lines, "total": total,
            "placed_at": stamp, "updated_at": stamp,
        })
    return orders


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--orders", type=int, default=10_000)
    known, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    args = erp_arguments(__doc__, repeat=5)

    from connectors.api import ConnectorContext, WriteOp
    from runner.engine.reading import open_sink
    from runner.project import load_project
    from runner.transforms import Transformed, compile_step

    orders = make_orders(args.erp, known.orders)
    pipeline = ROOT / "tests" / "benchmarks" / "pipelines" / "orders.yaml"
    step = load_project([str(pipeline)]).job("bench-orders").steps[0]
    compiled = compile_step(step, lookups={}, keymap=None, residual_filter=None)
    seconds, _ = best(lambda: deque(compiled.apply(iter(orders)), maxlen=0), args.repeat)
    records = [r for r in compiled.apply(iter(orders)) if type(r) is Transformed]
    assert len(records) == len(orders), "an order was refused: the generated shape is wrong"
    print(f"map    {len(orders):>7,} orders  {seconds:6.3f} s CPU")
    ops = [WriteOp("upsert", r.key, r.record) for r in records]
    size = step.batch_size

    def write() -> float:
        """CPU seconds of the sink's writes into a fresh copy of the ERP."""
        with tempfile.TemporaryDirectory() as folder:
            erp = Path(folder) / "erp.db"
            shutil.copyfile(args.erp, erp)
            destination = dataclasses.replace(
                step.destination, options={**step.destination.options, "url": f"sqlite:///{erp}"})
            sink = open_sink(destination,
                             ConnectorContext(job="bench", step=step.name, key_fields=step.key))
            try:
                started = time.process_time()
                for start in range(0, len(ops), size):
                    outcomes = sink.write(ops[start:start + size])
                    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok][:1]
                return time.process_time() - started
            finally:
                sink.close()

    seconds = min(write() for _ in range(args.repeat))
    lines = sum(len(r.record["lines"]) for r in records)
    print(f"write  {len(orders):>7,} orders  {seconds:6.3f} s CPU ({lines:,} lines)")


if __name__ == "__main__":
    main()
