"""The inventory step's mapping by the engine's compiled closures and by an idiomatic petl
pipeline, over the same nested products, in one process.

    python tests/benchmarks/petl_mapping.py [PRODUCTS]      # default 200,000 (about 60,000 mapped)

Why the step vocabulary does not compile to petl operations: both sides start from the same
list of nested product dicts (read and nested once, not timed) and produce the same output
dicts; the petl side uses ``fromdicts``, ``fieldmap`` and ``dicts`` with the same conversions.
Prints the best of three for each and the ratio; it does not pass or fail.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import petl

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    products = int(argv[0]) if argv else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        erp = Path(tmp) / "erp.db"
        os.environ.update(ERP_DATABASE_URL=f"sqlite:///{erp}", COMMERCE_URL="http://127.0.0.1:9",
                          COMMERCE_API_KEY="unused")
        from runner.demo.erp import create_erp
        from runner.engine.reading import default_context, load_lookups, open_source, read_request
        from runner.project import load_project
        from runner.transforms.mapping import compile_mappings
        from runner.transforms.shape import nest

        create_erp(erp, products=products)
        job = load_project([ROOT / "tests/benchmarks/pipelines/inventory.yaml"]).job(
            "bench-inventory")
        step = job.steps[0]
        assert step.mappings is not None and step.nest is not None
        source = open_source(step.source, default_context(job=job.name, step=step.name,
                                                          key_fields=step.key))
        lookups = load_lookups(step, job=job.name, context=default_context, sleep=time.sleep)
        rows = [r for r in source.read(read_request(step, "full", _NoState(), job.name, None))
                if isinstance(r, dict) and r.get("sell_online")]
        source.close()
        nested = list(nest(rows, step.nest))
        map_row = compile_mappings(step.mappings, lookups=lookups, keymap=None)
        rates = lookups["tax_groups"]
        cent = Decimal("0.01")

        def engine() -> list[dict[str, Any]]:
            return [map_row(r) for r in nested]

        def with_petl() -> list[dict[str, Any]]:
            def price(v: Any) -> Decimal | None:
                return None if v is None else Decimal(str(v)).quantize(cent, ROUND_HALF_UP)

            table = petl.fromdicts(nested, header=list(nested[0]))
            table = petl.fieldmap(table, {
                "sku": "item_id", "title": "name", "description": "description",
                "price": ("list_price", price), "currency": "currency",
                "tax_group": "tax_group_code",
                "tax_rate": ("tax_group_code", lambda c: None if c not in rates
                             else float(rates[c]["rate"])),
                "dimension_group": "dimension_group_code", "published": lambda rec: True,
                "variants": ("variants", lambda vs: [
                    {"sku": v["variant_sku"], "size": v["size"], "colour": v["colour"],
                     "style": v["style"], "configuration": v["configuration"]} for v in vs]),
            })
            return list(petl.dicts(table))

        first = engine()
        second = with_petl()
        if [r["sku"] for r in first] != [r["sku"] for r in second]:
            raise SystemExit("the two sides produced different records")
        best = {}
        for name, work in (("engine closures", engine), ("petl fieldmap", with_petl)):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                work()
                times.append(time.perf_counter() - started)
            best[name] = min(times)
            print(f"{name:16} {len(nested):,} products mapped in {best[name]:.3f} s")
        print(f"petl / engine: {best['petl fieldmap'] / best['engine closures']:.2f}x")
    return 0


class _NoState:
    """read_request only asks a state store for the cursor of an incremental read."""

    def get_cursor(self, job: str, step: str) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
