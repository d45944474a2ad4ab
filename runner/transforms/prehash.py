"""Change detection before the mapping: skip the transform of a source record that has not
changed since it was last written (issue 16, ``mode: changes``).

A ``changes`` run reads every source record to find the few that changed. Hashing the mapped
record means mapping all of them first; hashing the source record (after filter and nest) lets
a step skip the mapping, the record hash and the write decision of each unchanged record.

What a record becomes depends on more than the record: on the step's configuration (mappings,
nest, key, filter) and on the contents of its lookups. Both go into a *version* mixed into
every source hash, so a changed mapping or lookup row gives every record a new hash: the step
then maps and compares all records again, as it does today, and stores their new hashes.

Refused (``source_hasher`` gives None), so that the step keeps comparing mapped records:
- a mapping that reads the key map (another step's destination ids change behind the record);
- transform plugins (their code is not part of the configuration), and ``flatten`` (one source
  record gives several records, each with its own key);
- a key that is not a plain copy of source fields (the key must be known before the mapping).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from runner.paths import getter, is_plain, root_field
from runner.spec import FieldMap, NestSpec, Step

from .hashing import _OPTIONS_ANY_KEYS, _default, fast_digest_after, ordered_dump, sorted_dump
from .mapping import Lookups
from .shape import (
    RowBlock,
    grouper,
    groups,
    nester,
    records_of,
    row_blocks,
    row_groups,
    row_nester,
    rows_nestable,
)

__all__ = ["SourceHasher", "Unchanged", "skip_unchanged", "skip_unchanged_rows", "source_hasher"]

_FORMAT = b"prehash-2\x1f"  # bump when the hashed bytes change, so old hashes never match
_GROUPED = b"rows\x1f"  # after the seed: a group of rows, not a nested record
_TUPLES = b"tuples\x1f"  # after the seed: a group of rows as tuples, then their column names

Key = tuple[str, ...]


@dataclass(slots=True)  # not frozen: see records.Transformed
class Unchanged:
    """Consecutive source records whose hashes equal the stored ones: nothing to map, nothing
    to write (their keys alone, in read order: the engine counts them and keeps them from
    being removed). One item per run of them, not per record: with 1% changed, a changes run
    handled 99 items per record it wrote, each through the transform, batching and prepare
    loops."""

    keys: list[Key]


@dataclass(frozen=True)
class SourceHasher:
    """``digest(record)``: the hash of a source record under ``version``; ``key(record)`` its
    key as the mapping would give it (a tuple of ``str``, None -> "")."""

    version: str
    key: Callable[[Mapping[str, Any]], Key]
    _seed: bytes
    key_fields: tuple[str, ...] = ()  # the source fields the key is read from

    def reads_key_from(self, nest: NestSpec) -> bool:
        """Whether a group of rows that ``nest`` makes one record of has the record's key in
        its first row: the key is a header field, not an item field nor the list."""
        items = {*nest.fields, nest.into}
        return bool(self.key_fields) and all(
            root_field(f) not in items for f in self.key_fields)


def source_hasher(step: Step, lookups: Lookups | None) -> SourceHasher | None:
    """The source hasher of ``step`` with these lookup contents, or None when a record's output
    depends on more than the record, the configuration and the lookups (see the module)."""
    if step.transforms or step.flatten is not None or step.mappings is None:
        return None
    if any(_reads_keymap(fm) for fm in step.mappings):
        return None
    by_target = {fm.target: fm for fm in step.mappings}
    sources: list[str] = []
    for name in step.key:
        fm = by_target.get(name)
        if fm is None or fm.field is None or not _plain(fm):
            return None
        sources.append(fm.field)
    version = _version(step, lookups)
    return SourceHasher(version, _key_of(tuple(sources)), _FORMAT + version.encode() + b"\x1f",
                        tuple(sources))


def skip_unchanged(
    records: Iterable[Mapping[str, Any]],
    hasher: SourceHasher,
    stored: Callable[[Sequence[Key]], Mapping[Key, str]],
    *,
    lookahead: int = 500,
    nest: NestSpec | None = None,
) -> Iterator[Unchanged | tuple[Mapping[str, Any], str | None]]:
    """Each record as ``(record, digest)`` to map, or, when ``stored`` (the state's hashes for
    a list of keys, asked once per ``lookahead`` records) holds its digest, its key in an
    ``Unchanged`` with those of the unchanged records next to it.

    With ``nest`` (which ``hasher.reads_key_from``), ``records`` are the rows before nesting:
    each group of rows is hashed as read and only a group to map is nested, so an unchanged
    record costs no nesting (a third of what a changes run spent per unchanged product). A
    group hashes under its own seed: a stored hash of a nested record never matches it.

    A record that cannot be hashed is passed on with digest None: the mapping decides its fate.
    """
    if nest is None:
        units: Iterable[Any] = records
        dump: Callable[[Any], bytes] = _record_dump
        seed, head, build = hasher._seed, None, None
    else:
        units = groups(records, nest.by)
        # A group's rows are dumped in their own field order: a source gives its fields in one
        # order, and sorting them cost 40% of the dump. (Should a source vary its order, the
        # record is mapped and its record hash finds it unchanged: a mapping more, never a
        # write more.)
        seed, dump = hasher._seed + _GROUPED, ordered_dump
        head, build = itemgetter(0), nester(nest)
    chunk: list[Any] = []
    for unit in units:
        chunk.append(unit)
        if len(chunk) >= lookahead:
            yield from _decide(chunk, hasher.key, seed, dump, stored, head, build)
            chunk = []
    if chunk:
        yield from _decide(chunk, hasher.key, seed, dump, stored, head, build)


def skip_unchanged_rows(
    blocks: Iterable[RowBlock],
    hasher: SourceHasher,
    stored: Callable[[Sequence[Key]], Mapping[Key, str]],
    *,
    lookahead: int = 500,
    nest: NestSpec,
) -> Iterator[Unchanged | tuple[Mapping[str, Any], str | None]]:
    """:func:`skip_unchanged` with ``nest`` for rows read as blocks of tuples: a group is
    hashed as its tuples, under a seed naming their columns, and no row becomes a dict
    unless its group is nested to be mapped. (The hashes differ from a group of dicts': a
    step that changes how it reads maps and compares its records once, as after a change of
    configuration, and writes only those whose record hash changed.)"""
    read = row_blocks(blocks)
    if read is None:
        return
    columns, rows = read
    if not rows_nestable(columns, nest, hasher.key_fields) or not all(
            is_plain(f) for f in hasher.key_fields):
        yield from skip_unchanged(records_of(rows), hasher, stored, lookahead=lookahead,
                                  nest=nest)
        return
    seed = hasher._seed + _TUPLES + "\x1f".join(columns).encode() + b"\x1f"
    key_of, head, build = _row_key(columns, hasher.key_fields), itemgetter(0), row_nester(
        columns, nest)
    chunk: list[Any] = []
    for group in row_groups(rows, grouper(columns, nest.by)):
        chunk.append(group)
        if len(chunk) >= lookahead:
            yield from _decide(chunk, key_of, seed, ordered_dump, stored, head, build)
            chunk = []
    if chunk:
        yield from _decide(chunk, key_of, seed, ordered_dump, stored, head, build)


def _row_key(columns: tuple[str, ...], fields: tuple[str, ...]) -> Callable[[Any], Key]:
    """:func:`_key_of` for a row of ``columns`` as a tuple: the same key."""
    if len(fields) == 1:
        i = columns.index(fields[0])

        def one(row: Any) -> Key:
            value = row[i]
            return ("" if value is None else value if type(value) is str else str(value),)

        return one
    at = [columns.index(f) for f in fields]

    def many(row: Any) -> Key:
        return tuple("" if (v := row[i]) is None else str(v) for i in at)

    return many


def _record_dump(record: Mapping[str, Any]) -> bytes:
    return sorted_dump(record if type(record) is dict else dict(record))



def _decide(
    chunk: list[Any],
    key_of: Callable[[Mapping[str, Any]], Key],
    seed: bytes,
    dump: Callable[[Any], bytes],
    stored: Callable[[Sequence[Key]], Mapping[Key, str]],
    head: Callable[[Any], Mapping[str, Any]] | None = None,
    build: Callable[[Any], Mapping[str, Any]] | None = None,
) -> Iterator[Unchanged | tuple[Mapping[str, Any], str | None]]:
    """The records of ``chunk``, or with ``head`` and ``build`` its groups of rows (the key
    read from ``head(group)``, the record ``build(group)`` made only to be mapped)."""
    # One loop with locals: this runs on every source record of a changes run, in place of
    # the mapping it saves, so its own cost is what the step still pays per unchanged record.
    hash_of = fast_digest_after(seed)
    keys: list[Key] = []
    digests: list[str | None] = []
    for unit in chunk:
        try:
            data = dump(unit)
        except TypeError:  # cannot be hashed: the mapping decides its fate
            digests.append(None)
        else:
            digests.append(hash_of(data))
        keys.append(key_of(unit if head is None else head(unit)))
    known = stored([k for k, d in zip(keys, digests, strict=True) if d is not None and any(k)])
    same: list[Key] = []
    for unit, key, digest in zip(chunk, keys, digests, strict=True):
        if digest is not None and known.get(key) == digest:
            same.append(key)
            continue
        if same:
            yield Unchanged(same)
            same = []
        yield (unit if build is None else build(unit)), digest
    if same:
        yield Unchanged(same)


def _plain(fm: FieldMap) -> bool:
    return (
        fm.each is None and fm.type is None and not fm.required and fm.max_length is None
        and not (fm.has_default and fm.default is not None)
    )


def _reads_keymap(fm: FieldMap) -> bool:
    return fm.keymap is not None or any(_reads_keymap(sub) for sub in fm.each or ())


def _key_of(sources: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Key]:
    if len(sources) == 1 and is_plain(sources[0]):
        (name,) = sources

        def one(record: Mapping[str, Any]) -> Key:
            value = record.get(name)
            return ("" if value is None else value if type(value) is str else str(value),)

        return one
    # An absent path gives an empty key part here (never Unchanged): the mapping then
    # quarantines the record with the reason.
    getters = tuple(getter(s, optional=True) for s in sources)

    def key(record: Mapping[str, Any]) -> Key:
        return tuple("" if (v := g(record)) is None else str(v) for g in getters)

    return key


def _version(step: Step, lookups: Lookups | None) -> str:
    """A digest of everything besides the record that decides what the record becomes."""
    digest = hashlib.blake2b(digest_size=16)
    # Frozen dataclasses of strings, numbers and tuples: their repr is stable across runs.
    config = (step.key, step.filter, step.mappings, step.nest, step.dedupe)
    digest.update(repr(config).encode())
    for name in sorted(lookups or {}):
        rows = (lookups or {})[name]
        digest.update(b"\x1e" + name.encode())
        digest.update(orjson.dumps(
            sorted(([repr(k), v] for k, v in rows.items()), key=lambda kv: kv[0]),
            default=_default, option=_OPTIONS_ANY_KEYS,  # once per run: no fast path
        ))
    return digest.hexdigest()
