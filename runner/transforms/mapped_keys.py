"""Lookups and key maps keyed on another output field of the same map (``on: {mapped: NAME}``).

A plain ``on`` names a source field, so every entry of a map reads the source row alone and
their order does not matter. An entry whose key is an output field must be evaluated after
that field, which may itself be keyed on a mapped field: the entries keyed this way form
chains, evaluated after every other entry, each after the one it names. A chain that comes
back to itself, or that names no output field, has no order; :func:`order_problems` says so
for ``validate`` and :func:`split_mapped` refuses it when a step is compiled.

>>> from runner.spec import FieldMap, LookupRef
>>> code = FieldMap("code", expr="upper(carrier)")
>>> name = FieldMap("name", lookup=LookupRef("carriers", "code", "name", mapped=True))
>>> [fm.target for fm in split_mapped((name, code))[1]]
['name']
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from runner.errors import ConfigError
from runner.spec import FieldMap

__all__ = ["mapped_key", "order_problems", "split_mapped"]


def mapped_key(fm: FieldMap) -> str | None:
    """The output field ``fm`` takes its lookup or key-map key from, if it does."""
    ref = fm.lookup or fm.keymap
    return ref.on if ref is not None and ref.mapped else None


def order_problems(mappings: Sequence[FieldMap]) -> list[tuple[str, str]]:
    """``(target, message)`` for each entry whose mapped key has no evaluation order."""
    targets = [fm.target for fm in mappings]
    needs = {fm.target: on for fm in mappings if (on := mapped_key(fm)) is not None}
    problems: list[tuple[str, str]] = []
    for target, on in needs.items():
        if on == target:
            problems.append((target, f"{target!r} cannot take its key from itself; name "
                                     "another output field, or a source field without "
                                     "`mapped`"))
        elif on not in targets:
            close = difflib.get_close_matches(on, targets, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((target, f"{on!r} is not an output field of this map; it maps: "
                                     f"{', '.join(targets)}{hint}"))
        else:
            chain = [target]
            step: str | None = on
            while step is not None and step in needs and step not in chain:
                chain.append(step)
                step = needs[step]
            if step == target:
                problems.append((target, "mapped keys form a cycle: "
                                         f"{' -> '.join([*chain, target])}; one of these "
                                         "fields must take its key from the source"))
    return problems


def split_mapped(mappings: Sequence[FieldMap]) -> tuple[list[FieldMap], list[FieldMap]]:
    """The entries that read the source row only, and those keyed on mapped fields in an
    order where each comes after the field it names. ConfigError when there is none."""
    problems = order_problems(mappings)
    if problems:
        raise ConfigError("; ".join(f"map.{t}.on: {m}" for t, m in problems))
    plain = [fm for fm in mappings if mapped_key(fm) is None]
    waiting = [fm for fm in mappings if mapped_key(fm) is not None]
    done = {fm.target for fm in plain}
    ordered: list[FieldMap] = []
    while waiting:  # no cycle (checked above): each pass places at least one entry
        ready = [fm for fm in waiting if mapped_key(fm) in done]
        ordered.extend(ready)
        done.update(fm.target for fm in ready)
        waiting = [fm for fm in waiting if fm not in ready]
    return plain, ordered
