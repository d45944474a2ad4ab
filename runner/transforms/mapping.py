"""Field mappings compiled into one function per output field.

Each :class:`~runner.spec.FieldMap` becomes a closure ``row -> value`` built once: its producer
(field, const, expr, coalesce, lookup, keymap, each), then its conversion, default, and checks.
A record that cannot be mapped raises :class:`~runner.errors.RecordError` (quarantine); a
lookup or key-map miss under ``missing: fail`` raises :class:`~runner.errors.RunFailed`.

Rules beyond the FieldMap docstring:

- Paths follow :mod:`runner.paths`: a missing top-level source field is null; a path whose
  root is present but whose tail is not (no key ``code`` in ``customer.carrier``) quarantines
  the record with what was there, unless the field says ``missing: null`` (then null) or
  ``missing: fail`` (the run stops). A present key holding null is null.
- ``default`` replaces a null after conversion and is itself converted when the step is compiled
  (``{field: qty, type: int, default: "0"}`` gives ``0``).
- ``required`` refuses null and ``""``; ``max_length`` refuses longer strings.
- ``coalesce`` takes the first value that is neither null nor ``""``; an absent path counts as
  no value, but when every path is absent the record is quarantined (``missing`` as above).
- A lookup or key map whose ``on`` value is null gives null (there is nothing to look up);
  ``required: true`` makes that an error. Lookup keys match as given, then as strings
  (SQL gives 7, a CSV gives "7").
- ``each`` maps every item (a mapping) of a list with its sub-mappings; the list comes from the
  field's producer (``field:``, or the field of the same name when none is given).
- A lookup or key map keyed ``on: {mapped: NAME}`` is evaluated on the mapped record, after
  every other entry and after NAME (:mod:`.mapped_keys`); its options that name a field
  (``currency: {field: ...}``) name output fields too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from runner.errors import ConfigError, RecordError, RunFailed
from runner.paths import getter, is_plain, root_field
from runner.spec import FieldMap, KeymapRef, LookupRef

from .convert import make_converter, show
from .expressions import compile_expression
from .field_paths import coalesce_reader, path_reader
from .mapped_keys import split_mapped
from .money import MONEY_TYPES, exponent, to_major, to_minor
from .records import KeymapResolver

__all__ = ["FieldFn", "Lookups", "compile_field", "compile_mappings", "mapping_reads"]

FieldFn = Callable[[Mapping[str, Any]], Any]
Lookups = Mapping[str, Mapping[Any, Mapping[str, Any]]]


def compile_mappings(
    mappings: tuple[FieldMap, ...],
    *,
    lookups: Lookups | None,
    keymap: KeymapResolver | None,
    index: Mapping[str, int] | None = None,
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """One function mapping a source row to an output record (fields in mapping order).

    With ``index``, the function maps :class:`~runner.transforms.nested_row.NestedRow` rows
    of that index only, copying the fields it holds from the row's ``first`` tuple."""
    plain, keyed = split_mapped(mappings)
    map_row = _map_source(mappings, plain, lookups=lookups, keymap=keymap, index=index)
    if not keyed:
        return map_row
    # Entries keyed on mapped fields read the record mapped so far, in dependency order.
    after = tuple((fm.target, compile_field(fm, lookups=lookups, keymap=keymap)) for fm in keyed)

    def map_then_keyed(row: Mapping[str, Any]) -> dict[str, Any]:
        out = map_row(row)
        for target, fn in after:
            out[target] = fn(out)
        return out

    return map_then_keyed


def _map_source(
    mappings: tuple[FieldMap, ...],
    plain: list[FieldMap],
    *,
    lookups: Lookups | None,
    keymap: KeymapResolver | None,
    index: Mapping[str, int] | None = None,
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The mapping of the entries that read the source row only (``plain``), into a record
    with every field of ``mappings`` in their order (``index``: see compile_mappings)."""
    seen: set[str] = set()
    copies: list[tuple[str, str]] = []  # (target, source) for plain copies of flat fields
    typed: list[tuple[str, str, Callable[[Any], Any]]] = []  # flat field + type only
    computed: list[tuple[str, FieldFn]] = []
    consts: list[tuple[str, Any]] = []  # constants as is, held by the template
    for fm in plain:
        if fm.target in seen:
            raise ConfigError(f"map: field {fm.target!r} is mapped twice")
        seen.add(fm.target)
        fn = compile_field(fm, lookups=lookups, keymap=keymap)
        if _is_plain_copy(fm):
            assert fm.field is not None
            copies.append((fm.target, fm.field))
        elif _is_plain_copy(fm, typed=True):
            assert fm.field is not None and fm.type is not None
            converter = make_converter(
                fm.type, fm.target, scale=fm.scale, fmt=fm.format, timezone=fm.timezone
            )
            typed.append((fm.target, fm.field, converter))
        elif _is_plain_const(fm):
            consts.append((fm.target, fm.const))
        else:
            computed.append((fm.target, fn))
    # Speed: a pre-ordered template copied per row keeps the mapping's field order and holds
    # the constants; the plain copies are set one by one (``out[t] = row[s]`` in a loop costs
    # less than half of ``out.update(zip(targets, itemgetter(row)))``, measured); a row missing
    # one of them takes the slower per-field path.
    template = dict.fromkeys(fm.target for fm in mappings)
    template.update(consts)
    pairs = tuple(copies)
    calc = tuple(computed)
    conversions = tuple(typed)
    if index is not None:
        return _map_nested(template, pairs, conversions, calc, index)

    def map_row(row: Mapping[str, Any]) -> dict[str, Any]:
        out = template.copy()
        try:
            for target, source in pairs:
                out[target] = row[source]
        except KeyError:
            get = row.get
            for target, source in pairs:
                out[target] = get(source)
        if conversions:
            get = row.get
            for target, source, convert in conversions:
                value = get(source)
                out[target] = None if value is None else convert(value)
        for target, fn in calc:
            out[target] = fn(row)
        return out

    return map_row


def _map_nested(
    template: dict[str, Any],
    pairs: tuple[tuple[str, str], ...],
    conversions: tuple[tuple[str, str, Callable[[Any], Any]], ...],
    calc: tuple[tuple[str, FieldFn], ...],
    index: Mapping[str, int],
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``map_row`` of :func:`_map_source` for NestedRow rows: a field of the first row is
    copied from its position; any other (the items, a field the read lacks) is read by name."""
    at = tuple((target, index[source]) for target, source in pairs if source in index)
    named = tuple((target, source) for target, source in pairs if source not in index)
    converted_at = tuple((target, index[source], convert)
                         for target, source, convert in conversions if source in index)
    converted = tuple((target, source, convert)
                      for target, source, convert in conversions if source not in index)

    def map_nested(row: Any) -> dict[str, Any]:
        first = row.first
        out = template.copy()
        for target, position in at:
            out[target] = first[position]
        if named:
            get = row.get
            for target, source in named:
                out[target] = get(source)
        try:
            for target, position, convert in converted_at:
                value = first[position]
                out[target] = None if value is None else convert(value)
            if converted:
                get = row.get
                for target, source, convert in converted:
                    value = get(source)
                    out[target] = None if value is None else convert(value)
        except RecordError:
            # The fields by position came first: the refusal the dict mapping gives is that
            # of the first field in the mapping's order, so a record's quarantine reason does
            # not depend on how it was read.
            get = row.get
            for _, source, convert in conversions:
                value = get(source)
                if value is not None:
                    convert(value)
            raise
        for target, fn in calc:
            out[target] = fn(row)
        return out

    return map_nested


def _is_plain_copy(fm: FieldMap, *, typed: bool = False) -> bool:
    """A flat field copied as is (or, with ``typed``, only converted to a type)."""
    return (
        fm.field is not None
        and is_plain(fm.field)
        and fm.each is None
        and (fm.type is not None if typed else fm.type is None)
        and not (fm.has_default and fm.default is not None)
        and not fm.required
        and fm.max_length is None
        and fm.type not in MONEY_TYPES
        and fm.expect is None
    )


def _is_plain_const(fm: FieldMap) -> bool:
    """A constant given as is (what :func:`compile_field` makes of it is ``lambda row: const``:
    the same object for every record, as the template's shallow copy gives)."""
    return (
        fm.has_const
        and fm.each is None
        and fm.type is None
        and not (fm.has_default and fm.default is not None)
        and not fm.required
        and fm.max_length is None
        and fm.expect is None
    )


def mapping_reads(mappings: tuple[FieldMap, ...]) -> frozenset[str]:
    """Top-level source fields the mappings read."""
    out: set[str] = set()
    for fm in mappings:
        if fm.field is not None:
            out.add(root_field(fm.field))
        elif not (fm.has_const or fm.expr or fm.coalesce or fm.lookup or fm.keymap):
            out.add(root_field(fm.target))
        if fm.expr:
            out.update(root_field(n) for n in compile_expression(
                fm.expr, where=fm.target, functions=step_functions(None, None)).names)
        out.update(root_field(f) for f in fm.coalesce)
        ref = fm.lookup or fm.keymap
        if ref is not None and ref.mapped:
            continue  # reads the mapped record, not the source
        if ref is not None:
            out.add(root_field(ref.on))
        if fm.currency_field is not None:
            out.add(root_field(fm.currency_field))
    return frozenset(out)


def compile_field(
    fm: FieldMap, *, lookups: Lookups | None, keymap: KeymapResolver | None
) -> FieldFn:
    """The closure computing ``fm.target`` from a row."""
    target = fm.target
    produce = _producer(fm, lookups=lookups, keymap=keymap)
    if fm.each is not None:
        produce = _each(target, produce, fm.each, lookups=lookups, keymap=keymap)
    if fm.expect is not None:
        return _expecting(target, fm.expect, compile_field(
            replace(fm, expect=None), lookups=lookups, keymap=keymap))
    convert = None
    if fm.type in MONEY_TYPES:
        produce = _money(fm, produce)
    elif fm.type is not None:
        convert = make_converter(
            fm.type, target, scale=fm.scale, fmt=fm.format, timezone=fm.timezone
        )
    elif fm.scale is not None or fm.timezone is not None:
        raise ConfigError(f"{target}: scale and timezone need a type (decimal, datetime)")
    default = None
    has_default = fm.has_default and fm.default is not None
    if has_default:
        default = fm.default
        if convert is not None:
            try:
                default = convert(default)
            except RecordError as exc:
                raise ConfigError(
                    f"{target}: default {show(fm.default)} is invalid: {exc}"
                ) from exc
    required = fm.required
    max_length = fm.max_length
    if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
        raise ConfigError(f"{target}: max_length must be a non-negative integer")

    if convert is None and not has_default and not required and max_length is None:
        return produce
    if convert is not None and not has_default and not required and max_length is None:
        if fm.field is not None and is_plain(fm.field) and fm.each is None:
            source = fm.field

            def converted_field(row: Mapping[str, Any]) -> Any:
                value = row.get(source)
                return None if value is None else convert(value)

            return converted_field

        def converted(row: Mapping[str, Any]) -> Any:
            value = produce(row)
            return None if value is None else convert(value)

        return converted

    def checked(row: Mapping[str, Any]) -> Any:
        return finish(produce(row))

    def finish(value: Any) -> Any:
        if isinstance(value, bytes):
            # A BLOB where text belongs (e.g. broken UTF-8 in an ERP text column): quarantine
            # this record, rather than let the destination's JSON encoding fail the batch.
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise RecordError(
                    f"{target}: {show(value)} is not valid UTF-8 text", field=target
                ) from None
        if value is not None and convert is not None:
            value = convert(value)
        if value is None and has_default:
            value = default
        if required and (value is None or value == ""):
            raise RecordError(f"{target}: a value is required", field=target)
        if max_length is not None and type(value) is str and len(value) > max_length:
            raise RecordError(
                f"{target}: {show(value)} is longer than {max_length} characters", field=target
            )
        return value

    if (convert is not None and required and not has_default and max_length is None
            and fm.field is not None and is_plain(fm.field) and fm.each is None):
        # A flat field converted and required (an order's total, a line's quantity): a
        # value that converts to something is the answer, read with one get; anything else
        # (absent, empty, bytes, refused) is finished from the value read, as above.
        source = fm.field

        def converted_required(row: Mapping[str, Any]) -> Any:
            raw = row.get(source)
            if raw is not None and type(raw) is not bytes:
                value = convert(raw)
                # Not `value != ""`: a Decimal compared with a str asks numbers.Rational's ABC.
                if value is not None and (value or not isinstance(value, str)):
                    return value
            return finish(raw)

        return converted_required
    if (convert is None and not has_default and fm.type is None and fm.field is not None
            and is_plain(fm.field) and fm.each is None):
        # A flat text field with checks only (title: required, max_length): a non-empty
        # string within the length is the answer, read with one get; anything else is
        # finished as above.
        source = fm.field

        def checked_text(row: Mapping[str, Any]) -> Any:
            value = row.get(source)
            if type(value) is str and value and (max_length is None
                                                 or len(value) <= max_length):
                return value
            return finish(value)

        return checked_text
    return checked


def _producer(fm: FieldMap, *, lookups: Lookups | None, keymap: KeymapResolver | None) -> FieldFn:
    target = fm.target
    chosen = [
        name
        for name, present in (
            ("field", fm.field is not None),
            ("const", fm.has_const),
            ("expr", fm.expr is not None),
            ("coalesce", bool(fm.coalesce)),
            ("lookup", fm.lookup is not None),
            ("keymap", fm.keymap is not None),
        )
        if present
    ]
    if len(chosen) > 1:
        raise ConfigError(
            f"{target}: give exactly one of field, const, expr, coalesce, lookup, keymap "
            f"(found {', '.join(chosen)})"
        )
    if fm.field is not None:
        return path_reader(fm, fm.field)
    if fm.has_const:
        const = fm.const
        return lambda row: const
    if fm.expr is not None:
        return compile_expression(fm.expr, where=target,
                                  functions=step_functions(lookups, keymap)).evaluate
    if fm.coalesce:
        return coalesce_reader(fm)
    if fm.lookup is not None:
        return _lookup(target, fm.lookup, lookups)
    if fm.keymap is not None:
        return _keymap(target, fm.keymap, keymap)
    # `each` with no producer reads the list of the same name; so does a bare `target:`.
    return path_reader(fm, target)


def step_functions(lookups: Lookups | None,
                   keymap: KeymapResolver | None) -> dict[str, Callable[..., Any]]:
    """What expressions (in ``map`` and filters) can ask of the step: ``lookup(name, key)``
    (the row, or None), ``lookup(name, key, field)`` (one of its fields) and
    ``keymap(entity, key)`` / ``keymap(entity, key, job)`` (the destination id, or None)."""

    by_text: dict[str, dict[str, Mapping[str, Any]]] = {}

    def lookup(name: str, key: Any, take: str | None = None) -> Any:
        if lookups is None or name not in lookups:
            known = ", ".join(sorted(lookups or ())) or "none"
            raise ValueError(f"no lookup {name!r} in this step (lookups: {known})")
        table = lookups[name]
        hit = table.get(key) if isinstance(key, str | int) else None
        if hit is None and key is not None:  # 42 finds the row keyed "42", as `on:` does
            if name not in by_text:
                by_text[name] = {str(k): v for k, v in table.items()}
            hit = by_text[name].get(str(key))
        if hit is None:
            return None
        return dict(hit) if take is None else hit.get(take)

    def keymap_id(entity: str, key: Any, job: str | None = None) -> Any:
        if keymap is None or key is None:
            return None
        return keymap(job, entity, (str(key),))

    return {"lookup": lookup, "keymap": keymap_id}


def _money(fm: FieldMap, produce: FieldFn) -> FieldFn:
    """``type: minor_units`` (19.99 -> 1999 for USD) or ``major_units`` (1999 -> 19.99), with
    the currency's own exponent (0 for JPY, 3 for KWD)."""
    target, fixed, source = fm.target, fm.currency, fm.currency_field
    scale: Callable[[Any, Any], Any] = to_minor if fm.type == "minor_units" else to_major
    currency_of = getter(source, where=target) if source is not None else None
    if fixed is None and source is None:
        raise ConfigError(f"{target}: type {fm.type} needs `currency: CODE` or "
                          "`currency: {field: NAME}`")
    if fixed is not None:
        try:
            exponent(fixed)
        except ValueError as exc:
            raise ConfigError(f"{target}: {exc}") from exc

    def money(row: Mapping[str, Any]) -> Any:
        value = produce(row)
        if value is None:
            return None
        code = fixed if currency_of is None else currency_of(row)
        try:
            return scale(value, code)
        except ValueError as exc:
            raise RecordError(f"{target}: {exc}", field=target) from exc

    return money


def _expecting(target: str, allowed: tuple[Any, ...], inner: FieldFn) -> FieldFn:
    shown = " or ".join(repr(v) for v in allowed)

    def expecting(row: Mapping[str, Any]) -> Any:
        value = inner(row)
        if value not in allowed:
            raise RecordError(f"{target}: {show(value)} is not {shown}, the only value the "
                              "destination takes here (set aside rather than sent as is)",
                              field=target)
        return value

    return expecting


def _missing(policy: str, target: str, message: str, hint: str) -> Any:
    if policy == "null":
        return None
    if policy == "fail":
        raise RunFailed(f"{target}: {message}; the run stops because of `missing: fail` ({hint})")
    raise RecordError(f"{target}: {message}", field=target)


def _lookup(target: str, ref: LookupRef, lookups: Lookups | None) -> FieldFn:
    name, take, policy = ref.lookup, ref.take, ref.missing
    if policy not in ("fail", "null", "quarantine"):
        raise ConfigError(f"{target}: missing must be fail, null or quarantine, not {policy!r}")
    if lookups is not None and name not in lookups:
        known = ", ".join(sorted(lookups)) or "none"
        raise ConfigError(f"{target}: lookup {name!r} is not defined; defined lookups: {known}")
    get_on = getter(ref.on, where=target)
    by_text: dict[str, Mapping[str, Any]] | None = None
    hint = f"add the row to lookup {name!r} or use missing: null / quarantine"

    def lookup(row: Mapping[str, Any]) -> Any:
        nonlocal by_text
        value = get_on(row)
        if value is None:
            return None
        if lookups is None or name not in lookups:
            raise RunFailed(f"{target}: lookup {name!r} was not loaded for this run")
        table = lookups[name]
        try:
            hit = table.get(value)
        except TypeError:  # an unhashable value is in no index
            hit = None
        if hit is None:
            if by_text is None:
                by_text = {str(k): v for k, v in table.items()}
            hit = by_text.get(str(value))
            if hit is None:
                return _missing(policy, target,
                                f"no row in lookup {name!r} for {ref.on}={show(value)}", hint)
        return hit.get(take)

    return lookup


def _keymap(target: str, ref: KeymapRef, resolver: KeymapResolver | None) -> FieldFn:
    entity, job, policy = ref.entity, ref.job, ref.missing
    if policy not in ("fail", "null", "quarantine"):
        raise ConfigError(f"{target}: missing must be fail, null or quarantine, not {policy!r}")
    get_on = getter(ref.on, where=target)
    owner = f"job {job!r}" if job else "this job"
    hint = f"run the step that writes {entity!r} first, or use missing: null / quarantine"

    def keymap(row: Mapping[str, Any]) -> Any:
        value = get_on(row)
        if value is None:
            return None
        if resolver is None:
            raise RunFailed(f"{target}: no key map is available to resolve {entity!r}")
        found = resolver(job, entity, (str(value),))
        if found is None:
            return _missing(
                policy, target,
                f"no destination id for {entity!r} key {show(str(value))} in {owner}", hint,
            )
        return found

    return keymap


def _each(
    target: str,
    produce: FieldFn,
    subs: tuple[FieldMap, ...],
    *,
    lookups: Lookups | None,
    keymap: KeymapResolver | None,
) -> FieldFn:
    item_map = compile_mappings(subs, lookups=lookups, keymap=keymap)

    def map_dicts(items: list[Any]) -> list[dict[str, Any]]:
        return [item_map(item) if type(item) is dict else _not_dict() for item in items]

    def each(row: Mapping[str, Any]) -> Any:
        items = produce(row)
        if items is None:
            return None
        if type(items) is list:
            if not items:  # a header without lines (a product without variants): no call
                return []
            # The usual case (a nested or JSON list of objects): one pass; a list holding
            # something else than a dict, or an item that fails, is mapped again below, for
            # the message naming its index.
            try:
                return map_dicts(items)
            except (RecordError, _NotDict):
                pass
        if not isinstance(items, list | tuple):
            raise RecordError(f"{target}: {show(items)} is not a list", field=target)
        out = []
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise RecordError(f"{target}[{index}]: {show(item)} is not an object",
                                  field=target)
            try:
                out.append(item_map(item))
            except RecordError as exc:
                raise RecordError(f"{target}[{index}].{exc}", field=target) from exc
        return out

    return each


class _NotDict(Exception):
    """An item of an ``each`` list that is not a dict: the list takes the per-item path."""


def _not_dict() -> Any:
    raise _NotDict
