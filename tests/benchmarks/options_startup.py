"""What typed connector options cost at start-up and at open (issue #12).

    python tests/benchmarks/options_startup.py [--repeat N]      # default 30

Prints, each the best of N in one process:

- the run of each options module's body (its classes made, their annotations evaluated), the
  way ``validate`` pays it once per process for each connector a project names;
- the generation of every built-in connector's JSON Schemas from those classes (also paid
  once: ``schema_of`` keeps them), and, for comparison, the same with the annotations resolved
  by ``typing.get_type_hints`` as strings (what ``from __future__ import annotations`` in the
  options modules would cost);
- ``Options.parse`` of an http destination with nested levels (paid once per opened step);
- why not ``@dataclass(frozen=True)``: making 40 classes of 8 options each both ways.

It reports; it does not pass or fail. The start-up of whole commands is in run.py's table.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MODULES = [
    "connectors.options",
    "connectors.sql._options",
    "connectors.http.options_read",
    "connectors.http.options_write",
    "connectors.http.options",
]

DESTINATION: dict[str, Any] = {
    "base_url": "https://store.example.com",
    "auth": {"type": "api_key", "key": "secret-key-123"},
    "timeout": {"connect": 5, "read": 60},
    "responses": [{"match": {"status": [409]}, "action": "ignore"}],
    "create": {"path": "/products", "body": "{record}", "id_path": "id"},
    "update": {"method": "PUT", "path": "/products/{dest_id}", "body": "{record}"},
    "match": {"path": "/products", "params": {"sku": "{keys}"}, "id_path": "id",
              "pagination": {"type": "cursor", "next_path": "meta.next"}},
    "then": [{"name": "variants", "for_each": "variants", "key": "sku",
              "create": {"path": "/products/{parent.id}/variants", "body": "{item}",
                         "id_path": "id"},
              "then": [{"name": "stock", "key": "sku",
                        "upsert": {"path": "/stock", "body": "{item}"}}]}],
}


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def module_body(name: str) -> Callable[[], object]:
    module = importlib.import_module(name)
    spec = module.__spec__
    assert spec is not None and spec.loader is not None
    code = spec.loader.get_code(name)  # type: ignore[attr-defined]

    def run() -> object:
        namespace = {"__name__": name, "__package__": module.__package__,
                     "__file__": module.__file__, "__spec__": spec}
        exec(code, namespace)  # the module's own source, as an import runs it
        return namespace

    return run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)

    from connectors import options as opts
    from connectors.http.options import HttpDestinationOptions

    print(f"best of {args.repeat}, milliseconds")
    total = 0.0
    for name in MODULES:
        spent = best(args.repeat, module_body(name))
        total += spent
        print(f"  module body  {name:<32} {spent * 1000:7.3f}")
    print(f"  module bodies, together                       {total * 1000:7.3f}")

    from connectors.files import (
        CsvDestinationOptions,
        CsvSourceOptions,
        JsonlDestinationOptions,
        JsonlSourceOptions,
    )
    from connectors.http.options import HttpSourceOptions
    from connectors.sql._options import SqlDestinationOptions, SqlSourceOptions

    roots: list[type[opts.Options]] = [
        SqlSourceOptions, SqlDestinationOptions, HttpSourceOptions, HttpDestinationOptions,
        CsvSourceOptions, CsvDestinationOptions, JsonlSourceOptions, JsonlDestinationOptions,
    ]

    def generate() -> object:
        for cache in (opts._FIELDS, opts._SCHEMAS, opts._OBJECTS):
            cache.clear()
        return [opts.schema_of(root) for root in roots]

    spent = best(args.repeat, generate)
    print(f"  generate the 8 built-in schemas               {spent * 1000:7.3f}")

    real_hint = opts._hint
    resolved: dict[type, dict[str, Any]] = {}

    def as_strings(spec: Any) -> Any:  # string annotations: resolved once per class
        if spec.owner not in resolved:
            resolved[spec.owner] = typing.get_type_hints(spec.owner)
        return resolved[spec.owner][spec.attr]

    def generate_from_strings() -> object:
        resolved.clear()
        return generate()

    opts._hint = as_strings
    try:
        spent = best(args.repeat, generate_from_strings)
    finally:
        opts._hint = real_hint
    print(f"  the same, annotations as strings              {spent * 1000:7.3f}")

    parsed = best(args.repeat, lambda: HttpDestinationOptions.parse(DESTINATION))
    print(f"  parse an http destination with two levels     {parsed * 1000:7.3f}")

    def make_classes(frozen_dataclass: bool) -> Callable[[], object]:
        def run() -> object:
            made: list[type] = []
            for i in range(40):
                if frozen_dataclass:
                    ns: dict[str, Any] = {"__annotations__": {f"f{j}": str for j in range(8)}}
                    ns.update({f"f{j}": dataclasses.field(default="", metadata={"d": "x"})
                               for j in range(8)})
                    made.append(dataclasses.dataclass(frozen=True, kw_only=True)(
                        type(f"C{i}", (), ns)))
                else:
                    ns = {"__annotations__": {f"f{j}": str for j in range(8)}}
                    ns.update({f"f{j}": opts.option(default="", description="x")
                               for j in range(8)})
                    made.append(type(f"C{i}", (opts.Options,), ns))
            return made
        return run

    for label, frozen in (("@dataclass(frozen=True)", True), ("Options", False)):
        spent = best(args.repeat, make_classes(frozen))
        print(f"  40 classes x 8 options, {label:<23} {spent * 1000:7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
