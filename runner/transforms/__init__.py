"""The transform layer: mappings, filters, safe expressions, lookups, nest/flatten, plugins.

The engine compiles each step once and streams rows through it::

    compiled = compile_step(step, lookups=indexes, keymap=resolver, residual_filter=rest)
    for item in compiled.apply(rows):
        if isinstance(item, Transformed): ...   # write item.record, keyed by item.key
        else: ...                                # quarantine item.source with item.reason

``row_hash`` detects changes, ``dedupe_by_key`` keeps the last record of each key in a batch,
``jsonable`` makes a record JSON-ready (Decimal -> str, dates -> ISO-8601).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compile import CompiledStep, compile_step
    from .convert import TYPES
    from .expressions import FUNCTIONS, CompiledExpression, compile_expression
    from .filters import Predicate, compile_filter, filter_fields
    from .hashing import jsonable, row_hash
    from .plugins import Plugin, available_plugins, load_plugin, petl_plugin, split_name
    from .prehash import SourceHasher, Unchanged, source_hasher
    from .records import KeymapResolver, Rejected, Transformed, dedupe_by_key
    from .shape import flatten, nest
    from .unmapped_keys import SourceKeys, source_keys

# Imported on first use: `validate` needs runner.transforms.mapped_keys alone, and importing
# a submodule runs this file first (the compiler, the expression evaluator, the hashers).
_HOMES = {
    name: module
    for module, names in (
        ("compile", ("CompiledStep", "compile_step")),
        ("convert", ("TYPES",)),
        ("expressions", ("FUNCTIONS", "CompiledExpression", "compile_expression")),
        ("filters", ("Predicate", "compile_filter", "filter_fields")),
        ("hashing", ("jsonable", "row_hash")),
        ("plugins", ("Plugin", "available_plugins", "load_plugin", "petl_plugin", "split_name")),
        ("prehash", ("SourceHasher", "Unchanged", "source_hasher")),
        ("records", ("KeymapResolver", "Rejected", "Transformed", "dedupe_by_key")),
        ("shape", ("flatten", "nest")),
        ("unmapped_keys", ("SourceKeys", "source_keys")),
    )
    for name in names
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "FUNCTIONS",
    "TYPES",
    "CompiledExpression",
    "CompiledStep",
    "KeymapResolver",
    "Plugin",
    "Predicate",
    "Rejected",
    "SourceHasher",
    "SourceKeys",
    "Transformed",
    "Unchanged",
    "available_plugins",
    "compile_expression",
    "compile_filter",
    "compile_step",
    "dedupe_by_key",
    "filter_fields",
    "flatten",
    "jsonable",
    "load_plugin",
    "nest",
    "petl_plugin",
    "row_hash",
    "source_hasher",
    "source_keys",
    "split_name",
]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
