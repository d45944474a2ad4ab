"""A quick "this document fits its schema", without importing jsonschema.

Importing jsonschema (with referencing, attrs and the meta-schemas) costs ~70 ms of every
``validate`` start, and validating a file with it ~3 ms more; most files that are checked are
valid. :func:`fits` walks a schema the way ``jsonschema.Draft202012Validator(schema)`` would,
for the keywords our schemas and the connectors' options schemas use, and answers True only
when that validator would report no error. Everything else (an error, an unsupported keyword or
reference, anything unexpected) answers False, and the caller asks jsonschema, which then
writes every message exactly as before. So this module decides nothing: it only lets a clean
file skip the import.

Each check returns True (no error), False (certainly an error) or None (cannot tell): ``not``
and ``oneOf`` need a certain False, so a keyword answers False only where jsonschema's own
keyword function (``jsonschema/_keywords.py``) certainly yields an error; each one below
follows that function. ``tests/unit/test_schema_fit.py`` holds it to jsonschema.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["VALIDATING_KEYWORDS", "fits"]

Verdict = bool | None

# The keywords Draft202012Validator acts on (its VALIDATORS); any other key is an annotation
# it ignores (description, default, examples, errorMessage, x-message, secret...).
VALIDATING_KEYWORDS = frozenset({
    "$dynamicRef", "$ref", "additionalProperties", "allOf", "anyOf", "const", "contains",
    "dependentRequired", "dependentSchemas", "enum", "exclusiveMaximum", "exclusiveMinimum",
    "format", "if", "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems",
    "minLength", "minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern",
    "patternProperties", "prefixItems", "properties", "propertyNames", "required", "type",
    "unevaluatedItems", "unevaluatedProperties", "uniqueItems",
})  # fmt: skip


def fits(schema: Mapping[str, Any] | bool, instance: Any) -> bool:
    """True only when ``jsonschema.Draft202012Validator(schema)`` finds no error in
    ``instance`` (without a format checker, as the runner uses it); False means "ask it"."""
    try:
        return _Walk(schema).check(schema, instance) is True
    except (RecursionError, re.error, TypeError, ValueError):
        return False


# --- jsonschema's type checker for draft 2020-12, and its equality (jsonschema/_utils.py) ---


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


_TYPES: dict[str, Callable[[Any], bool]] = {
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_integer,
    "null": lambda v: v is None,
    "number": _is_number,
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}

_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    return _TRUE if value is True else _FALSE if value is False else value


def _equal(one: Any, two: Any) -> bool:
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and _equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


def _all(verdicts: Sequence[Verdict]) -> Verdict:
    if False in verdicts:
        return False
    return None if None in verdicts else True


class _Walk:
    def __init__(self, root: Mapping[str, Any] | bool) -> None:
        self.root = root

    def check(self, schema: Any, instance: Any) -> Verdict:
        if schema is True or schema is False:
            return schema
        if not isinstance(schema, dict):
            return None
        if "$id" in schema and schema is not self.root:
            return None  # a new base for references: not followed here
        unsure = False
        for keyword, value in schema.items():
            if keyword not in VALIDATING_KEYWORDS:
                continue
            method = getattr(self, "k_" + keyword.lstrip("$"), None)
            verdict = None if method is None else method(value, instance, schema)
            if verdict is False:
                return False
            unsure = unsure or verdict is None
        return None if unsure else True

    # --- references --------------------------------------------------------------------

    def k_ref(self, ref: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            return None
        if "~" in ref or "%" in ref:
            return None  # escaped pointers: left to jsonschema
        target: Any = self.root
        for part in ref[2:].split("/") if ref != "#" else ():
            if (
                isinstance(target, dict)
                and part in target
                and (target is self.root or "$id" not in target)
            ):
                target = target[part]
            else:
                return None
        return self.check(target, instance)

    # --- any instance ------------------------------------------------------------------

    def k_type(self, types: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        names = [types] if isinstance(types, str) else types
        if not isinstance(names, list) or not all(n in _TYPES for n in names):
            return None
        return any(_TYPES[n](instance) for n in names)

    def k_const(self, const: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return _equal(instance, const)

    def k_enum(self, enums: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(enums, list):
            return None
        return any(_equal(each, instance) for each in enums)

    def k_format(self, fmt: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return True  # an annotation: the runner's validators have no format checker

    # --- combinators -------------------------------------------------------------------

    def k_allOf(self, subs: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(subs, list):
            return None
        return _all([self.check(sub, instance) for sub in subs])

    def k_anyOf(self, subs: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(subs, list):
            return None
        verdicts = [self.check(sub, instance) for sub in subs]
        if True in verdicts:
            return True
        return None if None in verdicts else False

    def k_oneOf(self, subs: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(subs, list):
            return None
        verdicts = [self.check(sub, instance) for sub in subs]
        matched = verdicts.count(True)
        if matched > 1:
            return False
        if None in verdicts:
            return None
        return matched == 1

    def k_not(self, sub: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        verdict = self.check(sub, instance)
        return None if verdict is None else not verdict

    def k_if(self, sub: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        verdict = self.check(sub, instance)
        if verdict is None:
            return None
        branch = "then" if verdict else "else"
        return self.check(schema[branch], instance) if branch in schema else True

    # --- numbers and strings -----------------------------------------------------------

    def k_minimum(self, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not _is_number(instance) or not instance < bound

    def k_maximum(self, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not _is_number(instance) or not instance > bound

    def k_exclusiveMinimum(self, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not _is_number(instance) or not instance <= bound

    def k_exclusiveMaximum(self, bound: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not _is_number(instance) or not instance >= bound

    def k_minLength(self, size: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, str) or not len(instance) < size

    def k_maxLength(self, size: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, str) or not len(instance) > size

    def k_pattern(self, pattern: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, str) or re.search(pattern, instance) is not None

    # --- arrays ------------------------------------------------------------------------

    def k_minItems(self, size: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, list) or not len(instance) < size

    def k_maxItems(self, size: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, list) or not len(instance) > size

    def k_uniqueItems(self, unique: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not unique or not isinstance(instance, list):
            return True
        if not all(isinstance(item, str) for item in instance):
            return None  # jsonschema's uniq() sorts mixed values its own way
        return len(set(instance)) == len(instance)

    def k_items(self, items: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(instance, list):
            return True
        prefix = len(schema.get("prefixItems", []))
        if len(instance) <= prefix:
            return True
        if items is False:
            return False
        return _all([self.check(items, item) for item in instance[prefix:]])

    def k_prefixItems(self, subs: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(instance, list):
            return True
        if not isinstance(subs, list):
            return None
        return _all([self.check(sub, item) for sub, item in zip(subs, instance, strict=False)])

    # --- objects -----------------------------------------------------------------------

    def k_properties(self, props: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(instance, dict):
            return True
        if not isinstance(props, dict):
            return None
        return _all([self.check(sub, instance[k]) for k, sub in props.items() if k in instance])

    def k_patternProperties(self, pats: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(instance, dict):
            return True
        if not isinstance(pats, dict):
            return None
        return _all([
            self.check(sub, value)
            for pattern, sub in pats.items()
            for key, value in instance.items()
            if re.search(pattern, key)
        ])  # fmt: skip

    def k_additionalProperties(self, extra: Any, instance: Any,
                               schema: Mapping[str, Any]) -> Verdict:  # fmt: skip
        if not isinstance(instance, dict):
            return True
        known = schema.get("properties", {})
        patterns = "|".join(schema.get("patternProperties", {}))
        extras = [
            key for key in instance
            if key not in known and not (patterns and re.search(patterns, key))
        ]  # fmt: skip
        if isinstance(extra, dict):
            return _all([self.check(extra, instance[key]) for key in extras])
        return bool(extra) or not extras

    def k_required(self, names: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(instance, dict):
            return True
        if not isinstance(names, list):
            return None
        return all(name in instance for name in names)

    def k_propertyNames(self, sub: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        if not isinstance(instance, dict):
            return True
        return _all([self.check(sub, key) for key in instance])

    def k_minProperties(self, size: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, dict) or not len(instance) < size

    def k_maxProperties(self, size: Any, instance: Any, schema: Mapping[str, Any]) -> Verdict:
        return not isinstance(instance, dict) or not len(instance) > size

    def k_dependentRequired(self, deps: Any, instance: Any,
                            schema: Mapping[str, Any]) -> Verdict:  # fmt: skip
        if not isinstance(instance, dict):
            return True
        if not isinstance(deps, dict):
            return None
        return all(
            each in instance for name, needed in deps.items() if name in instance
            for each in needed
        )  # fmt: skip
