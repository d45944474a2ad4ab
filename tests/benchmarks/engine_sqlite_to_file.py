"""Engine throughput: a SQLite table -> a JSON-lines file, against a hand-written loop.

    /work/venv/bin/python tests/benchmarks/engine_sqlite_to_file.py [ROWS] [BATCH]

Both sides read the same table, keep the rows selected to sell online, map 8 fields (a decimal
with scale 2, a coalesce, a conversion to int, a constant) and write one JSON line per record,
fsyncing once per batch. The engine side also does what the loop does not: row hashes, the
state store's commits (hashes of every record), quarantine checks and run records. Prints
rows/s for both and the ratio; it does not pass or fail.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import orjson

from runner.engine import run_job
from runner.spec import Compare, ConnectorRef, ErrorPolicy, FieldMap, Job, Step
from runner.state import open_state


def make_erp(path: Path, rows: int) -> int:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE items (item_id TEXT PRIMARY KEY, name TEXT, display_name TEXT, "
        "list_price NUMERIC, on_hand INTEGER, reserved INTEGER, colour TEXT, "
        "sell_online INTEGER, modified_at TEXT)"
    )
    conn.executemany(
        "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (f"I{i:07d}", f"Item {i}", None if i % 3 else f"Display {i}",
             f"{i % 997}.{i % 100:02d}5",
             i % 50, i % 7, ("red", "blue", "green")[i % 3], int(i % 10 != 0),
             f"2024-05-01 10:{(i // 60) % 60:02d}:{i % 60:02d}")
            for i in range(rows)
        ),
    )
    conn.commit()
    selected = conn.execute("SELECT count(*) FROM items WHERE sell_online = 1").fetchone()[0]
    conn.close()
    return int(selected)


def engine_run(erp: Path, out: Path, state_path: Path, batch: int) -> float:
    step = Step(
        name="items",
        source=ConnectorRef("sql", {"url": f"sqlite:///{erp}", "table": "items"}),
        destination=ConnectorRef("jsonl", {"path": str(out), "mode": "overwrite"}),
        key=("sku",),
        mode="changes",
        filter=Compare("sell_online", "equals", True),
        mappings=(
            FieldMap("sku", field="item_id"),
            FieldMap("title", field="name"),
            FieldMap("display", coalesce=("display_name", "name")),
            FieldMap("price", field="list_price", type="decimal", scale=2),
            FieldMap("on_hand", field="on_hand", type="int"),
            FieldMap("reserved", field="reserved", type="int"),
            FieldMap("colour", field="colour"),
            FieldMap("currency", const="USD", has_const=True),
        ),
        batch_size=batch,
        errors=ErrorPolicy(max_bad_records=None),
    )
    job = Job(name="bench", source_file="bench.yaml", steps=(step,))
    state = open_state(str(state_path))
    started = time.perf_counter()
    result = run_job(job, project=None, state=state)
    elapsed = time.perf_counter() - started
    state.close()
    if result.status != "succeeded":
        raise SystemExit(f"engine run failed: {result.error}")
    return elapsed


def plain_loop(erp: Path, out: Path, batch: int) -> float:
    cent = Decimal("0.01")
    started = time.perf_counter()
    conn = sqlite3.connect(erp)
    cur = conn.execute(
        "SELECT item_id, name, display_name, list_price, on_hand, reserved, colour "
        "FROM items WHERE sell_online = 1"
    )
    with open(out, "wb") as fh:
        while chunk := cur.fetchmany(batch):
            lines = []
            for item_id, name, display, price, on_hand, reserved, colour in chunk:
                record = {
                    "sku": item_id,
                    "title": name,
                    "display": display if display is not None else name,
                    "price": str(Decimal(str(price)).quantize(cent, ROUND_HALF_UP)),
                    "on_hand": int(on_hand),
                    "reserved": int(reserved),
                    "colour": colour,
                    "currency": "USD",
                }
                lines.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            fh.write(b"".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        erp = base / "erp.db"
        selected = make_erp(erp, rows)
        loop_s = plain_loop(erp, base / "loop.jsonl", batch)
        engine_s = engine_run(erp, base / "engine.jsonl", base / "state.db", batch)
        with open(base / "engine.jsonl", "rb") as fh:
            written = sum(1 for _ in fh)
        if written != selected:
            raise SystemExit(f"engine wrote {written} lines, expected {selected}")
    print(f"rows in table: {rows}, selected and written: {selected}, batch: {batch}")
    print(f"hand-written loop: {loop_s:8.2f} s  {selected / loop_s:12,.0f} rows/s")
    print(f"engine run_job:    {engine_s:8.2f} s  {selected / engine_s:12,.0f} rows/s")
    print(f"engine / loop time ratio: {engine_s / loop_s:.2f}x")


if __name__ == "__main__":
    main()
