"""Messages for a value that fits none of a JSON Schema ``oneOf``/``anyOf``'s alternatives.

jsonschema's own message for these is the whole list of alternatives (3,700 characters for an
http connector's ``auth``). A user meant one of them: the branch whose discriminator
(``type: bearer``) the value names, or the one of the value's own JSON type; failing that,
jsonschema's best match. Used by :mod:`runner.validate`, which passes its own humanizer in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runner.build import suggest
from runner.config import join_path

if TYPE_CHECKING:
    import jsonschema

__all__ = ["humanize_branches"]

Line = tuple[str, str, bool]  # (path, message, at_key), as validate reports them


def _discriminator(branches: list[Any]) -> str | None:
    """The property every branch pins with a ``const`` (``type`` for auth and pagination)."""
    if not branches or not all(isinstance(b, Mapping) for b in branches):
        return None
    first = branches[0].get("properties") or {}
    for name in first:
        if all("const" in ((b.get("properties") or {}).get(name) or {}) for b in branches):
            return str(name)
    return None


def _inside(error: jsonschema.ValidationError, index: int) -> list[jsonschema.ValidationError]:
    """The errors of alternative ``index`` alone."""
    return [e for e in error.context or []
            if e.relative_schema_path and e.relative_schema_path[0] == index]


def humanize_branches(
    error: jsonschema.ValidationError,
    path: str,
    humanize: Callable[[jsonschema.ValidationError], list[Line]],
    *,
    describe: Callable[[Any], str],
    type_of: Callable[[Any], str],
    type_names: Mapping[str, str],
) -> list[Line]:
    """The lines for ``error`` (a ``oneOf``/``anyOf`` failure at ``path``): about the
    alternative the value most likely meant, never the schema. ``humanize`` words one
    sub-error; ``describe`` shows a value; ``type_of`` names a value's type as
    ``type_names`` names a schema type."""
    branches = list(error.validator_value)
    instance = error.instance
    name = _discriminator(branches)
    if name is not None and isinstance(instance, dict):
        allowed = [b["properties"][name]["const"] for b in branches]
        value = instance.get(name)
        if value not in allowed:
            options = ", ".join(map(str, allowed))
            if name not in instance:
                return [(path, f"missing required key {name!r} (one of {options})", False)]
            hint = suggest(value, [str(a) for a in allowed]) if isinstance(value, str) else ""
            return [(join_path(path, name),
                     f"{describe(value)} is not one of {options}{hint}", False)]
        lines = [(p, f"for {name} {value!r}: {m}", k)
                 for sub in _inside(error, allowed.index(value)) for p, m, k in humanize(sub)]
        return lines or [(path, f"does not fit {name} {value!r}", False)]
    if all(isinstance(b, Mapping) and set(b) == {"required"} for b in branches):
        keys = [str(k) for b in branches for k in b["required"]]
        given = [k for k in keys if isinstance(instance, dict) and k in instance]
        verb = "give only one of" if given else "needs one of"
        return [(path, f"{verb}: {', '.join(keys)}", False)]
    # The one alternative of the value's own type (a mapping for `{connect, read}`) is meant.
    kind = type_of(instance)
    typed = [i for i, b in enumerate(branches)
             if isinstance(b, Mapping) and kind == type_names.get(str(b.get("type")))]
    if len(typed) == 1:
        lines = [line for sub in _inside(error, typed[0]) for line in humanize(sub)]
        if lines:
            return lines
    from jsonschema.exceptions import best_match  # loaded by whoever made `error`

    best = best_match(error.context or [])
    if best is None:
        return [(path, f"does not fit any of its {len(branches)} accepted forms", False)]
    forms = "; ".join(str(b.get("description", "")).rstrip(".") for b in branches
                      if isinstance(b, Mapping) and b.get("description"))
    return [(p, f"{m}{f' (accepted forms: {forms})' if forms else ''}", k)
            for p, m, k in humanize(best)[:1]]
