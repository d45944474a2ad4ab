"""The JSON Schemas of the pipeline language, and their errors made human.

Three schemas live in ``schemas/`` (where editors point with ``# yaml-language-server:
$schema=...``):

- ``pipeline.schema.json``: a version 2 pipeline file, in the words users write;
- ``project.schema.json``: a folder's ``project.yaml`` (version 2's shared connections and
  defaults);
- ``pipeline-v1.schema.json``: a version 1 pipeline file, which is also the form
  :mod:`runner.lang_v2` reads a version 2 file into.

A version 2 file is checked against its own schema before it is read into the version 1 form,
so a problem is located and worded as written (``steps[0].sync``, not ``steps[0].mode``). Words
that version 2 retired are properties whose schema refuses any value, with an ``errorMessage``
(the keyword VS Code's and yaml-language-server's validators show) naming the new word, and
``doNotSuggest`` so that editors do not offer them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.build import suggest
from runner.config import YAML11_BOOLEAN_WORDS, Document, join_path
from runner.schema_branches import humanize_branches
from runner.schema_fit import fits

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "PROJECT_SCHEMA_PATH",
    "SCHEMA_PATH",
    "V1_SCHEMA_PATH",
    "humanize",
    "pipeline_schema",
    "project_schema",
    "schema_problems",
    "show",
]


def _schemas_dir() -> Path:
    # A wheel carries schemas/ as runner/schemas (see setup.py); a source checkout, editable
    # install included, reads the one copy at the repository's top, where editors point.
    installed = Path(__file__).resolve().parent / "schemas"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "schemas"


SCHEMA_PATH = _schemas_dir() / "pipeline.schema.json"
V1_SCHEMA_PATH = _schemas_dir() / "pipeline-v1.schema.json"
PROJECT_SCHEMA_PATH = _schemas_dir() / "project.schema.json"

_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def pipeline_schema(version: int = 2) -> dict[str, Any]:
    """The schema of a pipeline file in language ``version`` (loaded once)."""
    return _load(SCHEMA_PATH if version == 2 else V1_SCHEMA_PATH)


def project_schema() -> dict[str, Any]:
    """The schema of ``project.yaml`` (loaded once)."""
    return _load(PROJECT_SCHEMA_PATH)


@functools.cache
def _validator(path: Path) -> jsonschema.Draft202012Validator:
    # Imported here: a file that fits its schema (runner.schema_fit) never needs it (~70 ms).
    import jsonschema

    return jsonschema.Draft202012Validator(_load(path))


def show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _offered(schema: Mapping[str, Any]) -> list[str]:
    """The keys an object's schema accepts (a retired word is a property, never offered)."""
    return [name for name, sub in schema.get("properties", {}).items()
            if not (isinstance(sub, Mapping) and sub.get("doNotSuggest"))]


def humanize(
    error: jsonschema.ValidationError, base: str, *, secret: bool = False, skip: int = 0
) -> list[tuple[str, str, bool]]:
    """``(path, message, at_key)`` for one schema error; several for many unknown keys.

    The error's own path is appended to ``base`` after dropping its first ``skip`` parts."""
    path = base
    for part in list(error.absolute_path)[skip:]:
        path = join_path(path, part)
    instance = error.instance
    shown = "the value" if secret else show(instance)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if "errorMessage" in schema and kind in ("not", "const"):
        # A retired word (a refusal is about the key) or a pinned version: said in full.
        return [(path, str(schema["errorMessage"]), kind == "not")]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = _offered(schema)
        known = schema.get("properties", {})
        results = []
        for key in instance:
            if key in known:
                continue
            hint = suggest(key, allowed) or (
                f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            )
            results.append((join_path(path, key), f"unknown key {key!r}{hint}", True))
        return results or [(path, error.message, False)]
    if kind == "required" and isinstance(instance, dict):
        missing = [k for k in error.validator_value if k not in instance]
        return [(path, f"missing required key {k!r}", False) for k in missing]
    if kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        if "boolean" in names and isinstance(instance, str) and instance in YAML11_BOOLEAN_WORDS:
            return [(
                path,
                f"{shown} is not a boolean; write true or false "
                "(yes/no/on/off are plain words in pipeline files)",
                False,
            )]
        if "x-message" in schema:
            return [(path, f"{shown} {schema['x-message']}", False)]
        return [(path, f"expected {want}, got {_type_name(instance)} ({shown})", False)]
    if kind == "pattern" and "errorMessage" in schema:
        return [(path, str(schema["errorMessage"]), False)]
    if kind == "pattern" and "x-message" in schema:
        return [(path, f"{shown} {schema['x-message']}", False)]
    if kind == "enum":
        options = ", ".join("null" if v is None else str(v) for v in error.validator_value)
        hint = suggest(instance, [v for v in error.validator_value if v is not None]) if (
            isinstance(instance, str)
        ) else ""
        return [(path, f"{shown} is not one of {options}{hint}", False)]
    if kind == "const":
        return [(path, f"{shown} is not allowed here; the only accepted value is "
                       f"{show(error.validator_value)}", False)]
    if kind == "propertyNames":
        return [(path, f"{shown}: {error.message}", False)]
    if kind in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
        return humanize_branches(
            error, path,
            lambda sub: humanize(sub, base, secret=secret, skip=skip),
            describe=show, type_of=_type_name, type_names=_TYPE_NAMES,
        )
    message = error.message
    if secret:
        message = f"the value does not satisfy {kind!r}: {schema.get(kind)!r}"
    return [(path, message, False)]


def schema_problems(doc: Document, schema: str = "pipeline") -> bool:
    """Check ``doc`` against one schema: ``pipeline`` (version 2), ``pipeline-v1`` or
    ``project``; problems go to ``doc.problems``. True when the document fits."""
    path = {"pipeline": SCHEMA_PATH, "pipeline-v1": V1_SCHEMA_PATH,
            "project": PROJECT_SCHEMA_PATH}[schema]
    if fits(_load(path), doc.data):
        return True  # jsonschema would say nothing: no need to import it
    seen: set[tuple[str, str]] = set()
    for error in _validator(path).iter_errors(doc.data):
        # A value that is wrong in its type also fails its pattern/minimum: say it once.
        for where, message, at_key in humanize(error, ""):
            if (where, message) not in seen:
                seen.add((where, message))
                doc.add(where, message, key=at_key)
    return not seen
