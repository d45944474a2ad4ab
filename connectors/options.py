"""Typed connector options: frozen value classes whose fields carry their documentation, and
the JSON Schema (2020-12) generated from them.

A connector declares one class per role next to its code, one field per option::

    class CsvSourceOptions(Options):
        path: str = option(description="File to read.", examples=["data/products.csv"],
                           minLength=1)
        header: bool = option(True, description="Whether the first row holds the names.",
                              examples=[True, False])

and exposes ``schema_of(CsvSourceOptions)`` as its ``source_options``. That schema validates
pipeline files (errors located at ``file:line:col``), renders ``docs/connectors.md`` and marks
the secrets; ``CsvSourceOptions.parse(mapping)`` turns an options block into the typed, frozen
value the source reads. So a default is stated once, in the field, and the schema, the docs
and the code cannot disagree about it.

Types map to JSON Schema as ``str``/``int``/``float``/``bool`` -> their types, ``Literal`` ->
``enum`` (``const`` for a union's tag), ``tuple[X, ...]`` -> an array, ``dict[str, X]`` -> an
object, ``Any`` -> anything, a nested ``Options`` class -> an object with
``additionalProperties: false``, and a union of ``Options`` classes that share a ``type`` tag ->
``oneOf``. ``X | None`` with a ``None`` default is an option that may be left out; only
``option(nullable=True)`` also accepts an explicit ``null``. Keyword constraints
(``minimum=1``, ``minLength=1``...) are copied into the field's schema as they are.

Why not pydantic or msgspec: the schema must keep forms those libraries do not generate
(``oneOf`` of required sets, ``dependentRequired``, per-variant descriptions, the property order
the docs show), so the generator would be ours anyway; and parsing happens once per opened step
on options the schema has already validated. Why not ``@dataclass(frozen=True)`` itself:
it compiles each class's methods with ``exec`` (making 40 classes took ~100x as long as with
:class:`Options`: tests/benchmarks/options_startup.py), and ``validate`` imports every connector
a project names; the http connector alone declares ~35 option classes.
:class:`Options` is the same idea without code generation (``dataclass_transform`` tells type
checkers its constructor and that it is frozen).
"""

from __future__ import annotations

import copy
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import (
    Any,
    ClassVar,
    Literal,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
)

from runner.errors import ConfigError

__all__ = ["SCHEMA_URI", "Options", "option", "schema_of"]

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"

OptionsT = TypeVar("OptionsT", bound="Options")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


_REQUIRED: Any = _Required()


class _Spec:
    """One declared option (what :func:`option` returns): kept on the class, shadowed on each
    instance by the value."""

    __slots__ = ("annotation", "attr", "default", "factory", "meta", "name", "owner")

    def __init__(self, default: Any, factory: Callable[[], Any] | None,
                 meta: dict[str, Any]) -> None:
        self.default, self.factory, self.meta = default, factory, meta
        self.attr = self.name = ""
        self.owner: type = object
        self.annotation: Any = None

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr, self.owner = attr, owner
        self.name = self.meta["name"] or attr

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED and self.factory is None

    def make_default(self) -> Any:
        return self.factory() if self.factory is not None else self.default


def option(
    default: Any = _REQUIRED,
    *,
    description: str,
    examples: list[Any] | tuple[Any, ...] = (),
    secret: bool = False,
    nullable: bool = False,
    name: str | None = None,
    items: Mapping[str, Any] | None = None,
    variants: list[Mapping[str, Any]] | None = None,
    **constraints: Any,
) -> Any:
    """One option: its default (none: required), documentation and constraints.

    ``name`` is the option's name where it cannot be a Python identifier (``in``); ``items``
    adds constraints to an array's items; ``variants`` adds keywords to each variant of a union
    type in order (a description, a minimum), also where the union is an array's items or an
    object's values. A default of None is not documented: the option is simply absent (the
    description says what that means, e.g. "default: the step's key fields")."""
    meta = {
        "description": description,
        "examples": list(examples),
        "secret": secret,
        "nullable": nullable,
        "name": name,
        "items": dict(items or {}),
        "variants": [dict(v) for v in variants or ()],
        "constraints": constraints,
    }
    if isinstance(default, dict | list):
        # A fresh copy per parsed value: a frozen value still holds mutable containers.
        return _Spec(_REQUIRED, functools.partial(copy.deepcopy, default), meta)
    return _Spec(default, None, meta)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(option,))
class Options:
    """Base of the typed options of a connector role: a frozen value with one attribute per
    declared option. Class-level schema keywords the fields cannot say (``oneOf`` of required
    sets, ``dependentRequired``, ``title``) go in ``schema_extra``; ``schema_extra_after`` holds
    those the generated schema lists after ``properties``."""

    schema_extra: ClassVar[Mapping[str, Any]] = {}
    schema_extra_after: ClassVar[Mapping[str, Any]] = {}
    # The object's description where no option field gives one (a union variant, array items).
    doc: ClassVar[str] = ""
    _specs: ClassVar[tuple[_Spec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [v for v in vars(cls).values() if isinstance(v, _Spec)]
        annotations = inspect.get_annotations(cls)
        for spec in own:
            spec.annotation = annotations[spec.attr]
        names = {s.attr for s in own}
        cls._specs = (*(s for s in cls._specs if s.attr not in names), *own)

    def __init__(self, **values: Any) -> None:
        for spec in self._specs:
            if spec.attr in values:
                value = values.pop(spec.attr)
            elif spec.required:
                raise TypeError(f"{type(self).__name__}: missing option {spec.name!r}")
            else:
                value = spec.make_default()
            object.__setattr__(self, spec.attr, value)
        if values:
            raise TypeError(f"{type(self).__name__}: no option(s) {', '.join(sorted(values))}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s.attr) == getattr(other, s.attr) for s in self._specs)


    def __repr__(self) -> str:
        inner = ", ".join(f"{s.attr}={getattr(self, s.attr)!r}" for s in self._specs)
        return f"{type(self).__name__}({inner})"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The attribute names of the options, in declaration order."""
        return tuple(s.attr for s in cls._specs)

    @property
    def given(self) -> frozenset[str]:
        """The options the parsed block wrote out (defaults left out): for a warning about an
        option that means nothing in its context. Empty for a value made in code."""
        return self.__dict__.get("_given", frozenset())

    def to_dict(self) -> dict[str, Any]:
        """The value as JSON data again (defaults filled in, absent options left out)."""
        return {f.option: _plain(getattr(self, f.attr)) for f in _fields(type(self))
                if getattr(self, f.attr) is not None}

    @classmethod
    def parse(cls: type[OptionsT], options: Mapping[str, Any]) -> OptionsT:
        """The typed value of an options block. The block has been validated against
        :func:`schema_of` already (``validate``, the runner); what is refused here is what the
        schema refuses too (an unknown or missing option), so a bug cannot pass silently."""
        if not isinstance(options, Mapping):
            raise ConfigError(f"expected an object of options, found {type(options).__name__}")
        fields = _fields(cls)
        unknown = sorted(set(options) - {f.option for f in fields})
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(f.option for f in fields)}")
        values: dict[str, Any] = {}
        for f in fields:
            if f.option in options:
                values[f.attr] = _convert(f.hint, options[f.option], f.option)
            elif f.required:
                raise ConfigError(f"{f.option!r} is a required option")
        parsed = cls(**values)
        object.__setattr__(parsed, "_given", frozenset(options))
        return parsed


class _Field(typing.NamedTuple):
    attr: str
    option: str
    hint: Any
    required: bool
    meta: Mapping[str, Any]
    default: Any


# Per class, filled on first use (not functools.cache: its typing wants hashable values, and
# options values holding dicts are not).
_FIELDS: dict[type[Options], tuple[_Field, ...]] = {}
_SCHEMAS: dict[type[Options], Mapping[str, Any]] = {}


def _hint(spec: _Spec) -> Any:
    """The type of an option. Declared in a module without ``from __future__ import
    annotations`` (the built-in connectors' options modules), it is the object Python made
    when it ran the class body; as a string, typing resolves it (which compiles every
    annotation of the class: ~20 ms for the http connector's, hence the built-ins' choice)."""
    if not isinstance(spec.annotation, str):
        return spec.annotation
    return typing.get_type_hints(spec.owner)[spec.attr]


def _fields(cls: type[Options]) -> tuple[_Field, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(
            _Field(s.attr, s.name, _hint(s), s.required, s.meta,
                   None if s.required else s.make_default())
            for s in cls._specs
        )
    return found


# --- parsing -------------------------------------------------------------------------------


def _is_options(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Options)


def _union_args(hint: Any) -> tuple[Any, ...] | None:
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return None


def _tag(cls: type[Options]) -> Any:
    """The ``type`` value that selects ``cls`` in a union of options classes."""
    for f in _fields(cls):
        if f.option == "type" and get_origin(f.hint) is Literal:
            return get_args(f.hint)[0]
    raise TypeError(f"{cls.__name__} is in a union but has no `type: Literal[...]` tag")


def _convert(hint: Any, value: Any, where: str) -> Any:
    """``value`` (valid against the schema of ``hint``) as the typed value."""
    if value is None:
        return None
    if _is_options(hint):
        try:
            return hint.parse(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    args = _union_args(hint)
    if args is not None:
        classes = [a for a in args if _is_options(a)]
        if classes and isinstance(value, Mapping):
            if len(classes) == 1:
                return _convert(classes[0], value, where)
            for cls in classes:
                if value.get("type") == _tag(cls):
                    return _convert(cls, value, where)
            tags = ", ".join(repr(_tag(c)) for c in classes)
            raise ConfigError(f"{where}.type: {value.get('type')!r} is not one of {tags}")
        for arg in args:
            if arg is not type(None) and _fits(arg, value):
                return _convert(arg, value, where)
        return value
    origin = get_origin(hint)
    if origin is tuple:
        item = get_args(hint)[0]
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        item = get_args(hint)[1]
        return {k: _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _fits(hint: Any, value: Any) -> bool:
    """Whether JSON ``value`` has the shape of ``hint`` (to pick a union's member)."""
    origin = get_origin(hint) or hint
    if origin is tuple:
        return isinstance(value, list | tuple)
    if origin is dict or _is_options(origin):
        return isinstance(value, Mapping)
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is Literal:
        return value in get_args(hint)
    if origin is Any:
        return True
    return isinstance(value, origin) if isinstance(origin, type) else True


# --- schema generation ---------------------------------------------------------------------


def _type_schema(hint: Any) -> dict[str, Any]:
    """The schema of a type, without documentation."""
    if hint is Any:
        return {}
    if _is_options(hint):
        return _object_schema(hint)
    if get_origin(hint) is Literal:
        values = get_args(hint)
        return {"const": values[0]} if len(values) == 1 else {"enum": list(values)}
    args = _union_args(hint)
    if args is not None:
        variants = [a for a in args if a is not type(None)]
        if len(variants) == 1:
            return _type_schema(variants[0])
        if all(_is_options(v) for v in variants):
            return {"type": "object", "required": ["type"],
                    "oneOf": [_object_schema(v) for v in variants]}
        return {"oneOf": [_type_schema(v) for v in variants]}
    origin = get_origin(hint)
    if origin is tuple:
        return {"type": "array", "items": _type_schema(get_args(hint)[0])}
    if origin is dict:
        item = get_args(hint)[1]
        return {"type": "object"} if item is Any else {
            "type": "object", "additionalProperties": _type_schema(item)}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema for the option type {hint!r}")


def _field_schema(f: _Field) -> dict[str, Any]:
    meta = f.meta
    # A copy: the schema of a nested class is shared by every field of that class.
    out = dict(_type_schema(f.hint))
    if meta["items"]:
        out["items"] = {**out["items"], **meta["items"]}
    if meta["variants"]:
        where = next(k for k in ("items", "additionalProperties")
                     if isinstance(out.get(k), dict) and "oneOf" in out[k]) \
            if "oneOf" not in out else None
        union = out if where is None else dict(out[where])
        union["oneOf"] = [{**variant, **extra} for variant, extra
                          in zip(union["oneOf"], meta["variants"], strict=True)]
        if where is not None:
            out[where] = union
    if meta["nullable"]:
        out["type"] = [out["type"], "null"]
    out.update(meta["constraints"])
    if meta["secret"]:
        out["secret"] = True
    out["description"] = meta["description"]
    if not f.required and not (f.default is None and not meta["nullable"]):
        out["default"] = _plain(f.default)
    if meta["examples"]:
        out["examples"] = meta["examples"]
    return out


def _plain(value: Any) -> Any:
    """A default as JSON (a nested options value as its object, a tuple as a list)."""
    if isinstance(value, Options):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# The generated schemas share their parts (a nested class's schema, examples): they are read,
# never changed, by the validator, the docs and the secret registry.
_OBJECTS: dict[type[Options], dict[str, Any]] = {}


def _object_schema(cls: type[Options]) -> dict[str, Any]:
    found = _OBJECTS.get(cls)
    if found is None:
        found = _OBJECTS[cls] = _make_object_schema(cls)
    return found


def _make_object_schema(cls: type[Options]) -> dict[str, Any]:
    fields = _fields(cls)
    out: dict[str, Any] = {"type": "object"}
    if cls.doc:
        out["description"] = cls.doc
    out["additionalProperties"] = False
    required = [f.option for f in fields if f.required]
    if required:
        out["required"] = required
    out.update(cls.schema_extra)
    out["properties"] = {f.option: _field_schema(f) for f in fields}
    out.update(cls.schema_extra_after)
    return out


def _root_schema(cls: type[Options]) -> Mapping[str, Any]:
    found = _SCHEMAS.get(cls)
    if found is None:
        found = _SCHEMAS[cls] = {"$schema": SCHEMA_URI, **_object_schema(cls)}
    return found


def schema_of(cls: type[Options]) -> Mapping[str, Any]:
    """The JSON Schema (2020-12) of ``cls``'s options (generated once per class)."""
    return _root_schema(cls)
