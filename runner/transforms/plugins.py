"""Python transform plugins, and the built-in ``split_name``.

A plugin is a callable ``(rows, options) -> rows`` registered under the entry-point group
``commerce_sync.transforms``; it receives the step's mapped records as a lazy iterable of dicts
and returns (or yields) the records to write. Built-ins register exactly as a third party's
would (see pyproject.toml). Plugins are imported on first use and cached.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from runner.errors import ConfigError

__all__ = ["GROUP", "Plugin", "available_plugins", "load_plugin", "split_name"]

log = logging.getLogger(__name__)

GROUP = "commerce_sync.transforms"
Plugin = Callable[[Iterable[dict[str, Any]], Mapping[str, Any]], Iterable[dict[str, Any]]]


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
