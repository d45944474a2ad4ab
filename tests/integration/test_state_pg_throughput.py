"""State store throughput on SQLite and PostgreSQL: prints figures, passes on any speed.

Run: ``pytest -m benchmark -s tests/integration/test_state_pg_throughput.py``
(``COMMERCE_SYNC_BENCH_ROWS=1000000`` for a full million hashes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.state import BatchCommit, RunCounts, SqlStateStore, open_state

ROWS = int(os.environ.get("COMMERCE_SYNC_BENCH_ROWS", "100000"))
BATCH = 1000

pytestmark = pytest.mark.benchmark


@pytest.fixture(params=["sqlite", "postgresql"])
def bench_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStateStore]:
    if request.param == "sqlite":
        store = open_state(str(tmp_path / "bench.db"))
    else:
        store = open_state(request.getfixturevalue("pg_url"))
        with store._engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE row_hashes, keymap, runs RESTART IDENTITY")
    yield store
    store.close()


def keys_of(batch: int) -> list[tuple[str, str]]:
    return [(f"SKU-{batch:05d}-{i:04d}", "WH1") for i in range(BATCH)]


def test_commit_and_lookup_throughput(bench_store: SqlStateStore) -> None:
    store = bench_store
    run = store.begin_run("bench", "stock", "full")
    batches = ROWS // BATCH

    def commit_all(tag: str) -> float:
        started = time.perf_counter()
        for b in range(batches):
            keys = keys_of(b)
            store.commit_batch(
                BatchCommit(
                    run_id=run,
                    job="bench",
                    step="stock",
                    entity="product",
                    cursor={"batch": b},
                    hashes={k: f"{tag}{b}{k[0]}" for k in keys},
                    keymap={k: f"gid://{b}/{i}" for i, k in enumerate(keys)} if tag == "a" else {},
                    counts=RunCounts(read=BATCH, written=BATCH),
                )
            )
        return time.perf_counter() - started

    insert_s = commit_all("a")
    update_s = commit_all("b")

    started = time.perf_counter()
    found = 0
    for b in range(batches):
        found += len(store.get_hashes("bench", "stock", keys_of(b)))
    lookup_s = time.perf_counter() - started

    started = time.perf_counter()
    listed = sum(1 for _ in store.iter_keys("bench", "stock"))
    iter_s = time.perf_counter() - started

    assert found == listed == batches * BATCH
    assert store.runs("bench")[0].counts.written == 2 * batches * BATCH
    rows = batches * BATCH
    print(
        f"\n[{store.backend}] {rows} rows, batches of {BATCH}: "
        f"commit_batch insert {rows / insert_s:,.0f} rows/s (hashes+keymap), "
        f"update {rows / update_s:,.0f} rows/s; get_hashes {rows / lookup_s:,.0f} keys/s; "
        f"iter_keys {rows / iter_s:,.0f} keys/s"
    )
