"""The cost of reading a field by path (runner.paths) beside ``row.get``, per call.

    python tests/benchmarks/paths.py [CALLS]        # default 1,000,000 calls per figure

A plain top-level name must cost what ``row.get(name)`` in a closure costs (the map loop reads
one per field per record); a nested path pays for its walk. Prints nanoseconds per call (rounds
of every case in turn, best of seven) and the ratio to the closure over ``row.get``; it does
not pass or fail.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable, Mapping
from typing import Any

ROW = {"sku": "A-1", "name": "Chair", "price": 19.5, "a.b": 1,
       "customer": {"email": "a@b.c", "carrier": {"carrier_product.": "FedEx"}},
       "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}


def _closure(name: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(row: Mapping[str, Any]) -> Any:  # what the plain reader was before the change
        return row.get(name)

    return get


def main(argv: list[str]) -> int:
    from runner.paths import get_path, getter

    calls = int(argv[0]) if argv else 1_000_000
    cases: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
        ("closure over row.get('sku')", _closure("sku")),
        ("getter('sku')", getter("sku")),
        ("getter('a.b') (a flat column named a.b)", getter("a.b")),
        ("getter('customer.email')", getter("customer.email")),
        ("getter('lines[1].qty')", getter("lines[1].qty")),
        ("getter('customer.carrier[\"carrier_product.\"]')",
         getter('customer.carrier["carrier_product."]')),
        ("get_path(row, 'customer.email') (connectors)",
         lambda row: get_path(row, "customer.email")),
    ]
    for _, fn in cases:
        assert fn(ROW) is not None
    # Rounds of every case in turn, the best of each kept: a shared machine's load drifts, and
    # timing the cases one after the other would charge the drift to the later ones.
    best = [float("inf")] * len(cases)
    for _ in range(7):
        for index, (_, fn) in enumerate(cases):
            seconds = timeit.timeit(lambda fn=fn: fn(ROW), number=calls)
            best[index] = min(best[index], seconds / calls * 1e9)
    print(f"{'reader':<52} {'ns/call':>8} {'ratio':>6}")
    for (label, _), ns in zip(cases, best, strict=True):
        print(f"{label:<52} {ns:8.1f} {ns / best[0]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
