"""Drift audit and repair against the complete sync, measured in the same run (issue #15).

    .venv/bin/python tests/benchmarks/audit.py [PRODUCTS ...]   # default 1000000

For each size, in a fresh temporary folder with a copy of ``pipelines/``:

    commerce-sync demo-data --products N
    commerce-sync sandbox --port P &                     # a separate process
    commerce-sync run complete-sync --force              # first: empty store and state
    commerce-sync run complete-sync --force              # timed: the complete sync, all in place
    commerce-sync audit complete-sync                    # timed: no drift expected
    (1% of the published products get a new title through the store's API)
    commerce-sync audit complete-sync --repair           # timed; its JSON splits scan and repair
    commerce-sync audit complete-sync                    # must report 0 drift again

Prints each wall time and the ratios audit / complete sync (target <= 0.5) and repair of 1%
drift / complete sync (target <= 0.1; the repair is the write phase after the audit's scan,
as the JSON reports it). It does not pass or fail on time, but exits non-zero when the audit
does not find exactly the drift made, or a second audit is not clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.complete_sync import EXE, project, sandbox

PEAK_MB: dict[str, float] = {}  # the command's own peak RSS (os.wait4), by label


def _run(args: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,),
         label: str | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([EXE, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                 stderr=err, text=True)
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        if child.returncode not in ok:
            err.seek(0)
            sys.exit(f"`commerce-sync {' '.join(args)}` exited {child.returncode}:\n"
                     f"{out[-2000:]}\n{err.read()[-4000:]}")
    if label:
        PEAK_MB[label] = usage.ru_maxrss / 1024  # KiB on Linux
    return elapsed, out


def _drift(client: httpx.Client, share: float) -> int:
    """Edit ``share`` of the published products' titles behind the runner's back."""
    edited, params, seen = 0, {"limit": 1000}, 0
    step = round(1 / share)
    batch: list[dict[str, Any]] = []
    while True:
        page = client.get("/v1/products", params=params).raise_for_status().json()
        for product in page["data"]:
            if not product["published"]:
                continue
            seen += 1
            if seen % step == 0:
                body = {k: v for k, v in product.items() if k not in ("id", "updated_at")}
                batch.append({**body, "title": f"{body['title']} (edited in the store)"})
        if (len(batch) >= 500 or not page.get("next_cursor")) and batch:
            client.post("/v1/products/batch", json={"records": batch}).raise_for_status()
            edited += len(batch)
            batch = []
        if not page.get("next_cursor"):
            return edited
        params["cursor"] = page["next_cursor"]


def _totals(doc: dict[str, Any]) -> dict[str, float]:
    steps = doc["steps"]
    return {"drift": sum(s["drift"] for s in steps),
            "scan_s": sum(s["scan_s"] for s in steps),
            "repair_s": sum(s["repair_s"] for s in steps),
            "written": sum(sum(v for k, v in s["repaired"].items()
                               if k in ("upserted", "created", "updated")) for s in steps),
            "listed": sum(s["dest_records"] for s in steps)}


def bench(products: int) -> None:
    with project("cs-audit-bench-") as proj:
        cwd, env = proj.cwd, proj.env
        _run(["demo-data", "--products", str(products)], cwd, env)
        with sandbox(proj, timeout=120) as client:
            first, _ = _run(["run", "complete-sync", "--force"], cwd, env)
            full, _ = _run(["run", "complete-sync", "--force"], cwd, env, label="sync")
            audit_s, out = _run(["audit", "complete-sync", "--format", "json"], cwd, env,
                                label="audit")
            clean = _totals(json.loads(out))
            edited = _drift(client, 0.01)
            repair_s, out = _run(["audit", "complete-sync", "--repair", "--format", "json"],
                                 cwd, env)
            repaired = _totals(json.loads(out))
            _, out = _run(["audit", "complete-sync", "--format", "json"], cwd, env)
            after = _totals(json.loads(out))
    print(f"products={products:,}: complete sync first {first:.1f}s, again {full:.1f}s; "
          f"audit (no drift, {clean['listed']:,.0f} objects listed) {audit_s:.1f}s = "
          f"{audit_s / full:.2f}x the complete sync (target <= 0.5)", flush=True)
    print(f"  1% drift: {edited:,} titles edited in the store; audit --repair {repair_s:.1f}s "
          f"(scan {repaired['scan_s']:.1f}s, repair {repaired['repair_s']:.2f}s = "
          f"{repaired['repair_s'] / full:.3f}x the complete sync, target <= 0.1); "
          f"found {repaired['drift']:.0f}, wrote {repaired['written']:.0f}; "
          f"second audit drift {after['drift']:.0f}", flush=True)
    print(f"  peak RSS: complete sync {PEAK_MB['sync']:.0f} MB, audit "
          f"{PEAK_MB['audit']:.0f} MB (the audit holds the listing's compared fields)",
          flush=True)
    if clean["drift"] or repaired["drift"] != edited or repaired["written"] != edited \
            or after["drift"]:
        sys.exit("the audit did not find and repair exactly the drift made")


def main(argv: list[str]) -> None:
    for n in [int(a) for a in argv] or [1_000_000]:
        bench(n)


if __name__ == "__main__":
    main(sys.argv[1:])
