"""Python transform plugins, and the built-in ``split_name``.

A plugin is a callable ``(rows, options) -> rows`` registered under the entry-point group
``commerce_sync.transforms``; it receives the step's mapped records as a lazy iterable of dicts
and returns (or yields) the records to write. A plugin decorated with :func:`petl_plugin`
receives a petl table instead and returns one, so it can use petl's whole vocabulary (convert,
select, sort, join, aggregate...). Built-ins register exactly as a third party's would (see
pyproject.toml). Plugins are imported on first use and cached.

The step's own vocabulary (map, filters, lookups, nest) is compiled to plain closures rather
than petl operations: on the inventory step's 60,000 products an equivalent petl ``fieldmap``
pipeline took 3.3-4.1x as long (tests/benchmarks/petl_mapping.py), and the step's speed is
measured against a hand-written loop (tests/benchmarks/run.py).
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from runner.errors import ConfigError, RunFailed

__all__ = [
    "GROUP", "Plugin", "apply_plugin", "available_plugins", "load_plugin", "petl_plugin",
    "split_name",
]

log = logging.getLogger(__name__)

GROUP = "commerce_sync.transforms"
Plugin = Callable[[Iterable[dict[str, Any]], Mapping[str, Any]], Iterable[dict[str, Any]]]
F = TypeVar("F", bound=Callable[..., Any])

_TABLE_ATTR = "commerce_sync_takes"
# petl samples this many records for the table's header; a field first seen later is an error,
# never dropped in silence.
HEADER_SAMPLE = 1000


def petl_plugin(fn: F) -> F:
    """Mark a plugin as taking and returning a petl table (``(table, options) -> table``).

    >>> import petl
    >>> @petl_plugin
    ... def cents(table, options):
    ...     return petl.convert(table, "price", lambda p: round(p * 100))
    >>> list(apply_plugin(cents, [{"sku": "A", "price": 1.5}], {}))
    [{'sku': 'A', 'price': 150}]
    """
    setattr(fn, _TABLE_ATTR, "petl")
    return fn


def apply_plugin(
    plugin: Plugin | Callable[..., Any], records: Iterable[dict[str, Any]],
    options: Mapping[str, Any],
) -> Iterable[dict[str, Any]]:
    """Run ``plugin`` over ``records``: directly, or through a petl table for a
    :func:`petl_plugin`."""
    if getattr(plugin, _TABLE_ATTR, None) != "petl":
        return plugin(records, options)
    return _through_petl(plugin, records, options)


def _through_petl(
    plugin: Callable[..., Any], records: Iterable[dict[str, Any]], options: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    import petl  # only steps with a petl plugin pay for the import

    stream = iter(records)
    sample = list(itertools.islice(stream, HEADER_SAMPLE))
    if not sample:
        return
    header = list(dict.fromkeys(k for record in sample for k in record))
    known = set(header)

    def checked() -> Iterator[dict[str, Any]]:
        yield from sample
        for record in stream:
            extra = record.keys() - known
            if extra:
                raise RunFailed(
                    f"a record has field(s) {', '.join(sorted(extra))} that the first "
                    f"{HEADER_SAMPLE} records lack, so the petl table passed to the plugin has "
                    "no column for them; give the step a `map` that always produces them"
                )
            yield record

    # fromdicts caches a one-shot stream (to a temporary file past its buffer), so the plugin
    # may iterate the table more than once and memory stays flat.
    table = petl.fromdicts(checked(), header=header)
    result = plugin(table, options)
    if not isinstance(result, petl.Table):
        raise RunFailed(
            f"a petl plugin must return a petl table, got {type(result).__name__}; return the "
            "result of a petl function (e.g. petl.convert(table, ...))"
        )
    yield from petl.dicts(result)


def available_plugins() -> list[str]:
    """Names of the registered transform plugins, sorted."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=GROUP)})


@functools.cache
def load_plugin(name: str) -> Plugin:
    """The plugin registered as ``name``; ConfigError naming the known ones if there is none."""
    matches = [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(available_plugins()) or "none"
        raise ConfigError(f"unknown transform plugin {name!r}; registered plugins: {known}")
    entry = matches[0]
    try:
        plugin = entry.load()
    except Exception as exc:  # an import error of someone else's code: report, do not crash
        raise ConfigError(
            f"transform plugin {name!r} ({entry.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}; check that its package is installed"
        ) from exc
    if not callable(plugin):
        raise ConfigError(f"transform plugin {name!r} ({entry.value}) is not callable")
    log.debug("transform_plugin_loaded", extra={"plugin": name, "target": entry.value})
    return plugin


def split_name(
    rows: Iterable[dict[str, Any]], options: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """Split a full name into first and last name.

    Options: ``field`` (default ``name``), ``first`` (``first_name``), ``last`` (``last_name``),
    ``keep`` (default true: keep the original field). ``"Ada King Lovelace"`` gives first
    ``Ada``, last ``King Lovelace``; ``"Lovelace, Ada"`` gives first ``Ada``, last ``Lovelace``;
    a single word is a first name with a null last name; null or blank gives two nulls.

    >>> next(split_name([{"name": "Ada Lovelace"}], {}))
    {'name': 'Ada Lovelace', 'first_name': 'Ada', 'last_name': 'Lovelace'}
    """
    unknown = set(options) - {"field", "first", "last", "keep"}
    if unknown:
        raise ConfigError(
            f"split_name: unknown option(s) {', '.join(sorted(unknown))}; "
            "use field, first, last, keep"
        )
    source = str(options.get("field", "name"))
    first = str(options.get("first", "first_name"))
    last = str(options.get("last", "last_name"))
    keep = bool(options.get("keep", True))
    for row in rows:
        out = dict(row)
        value = out.get(source) if keep else out.pop(source, None)
        given: str | None = None
        family: str | None = None
        text = "" if value is None else " ".join(str(value).split())
        if "," in text:
            family_part, _, given_part = text.partition(",")
            family = family_part.strip() or None
            given = given_part.strip() or None
        elif text:
            given, _, rest = text.partition(" ")
            family = rest or None
        out[first] = given
        out[last] = family
        yield out
