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
from typing import Any

import orjson

from runner.errors import RecordError
from runner.paths import getter, is_plain
from runner.spec import FieldMap, Step

from .hashing import _OPTIONS_ANY_KEYS, _default, sorted_dump
from .mapping import Lookups

__all__ = ["SourceHasher", "Unchanged", "skip_unchanged", "source_hasher"]

_FORMAT = b"prehash-1\x1f"  # bump when the hashed bytes change, so old hashes never match

Key = tuple[str, ...]


@dataclass(slots=True)  # not frozen: one per unchanged record (see records.Transformed)
class Unchanged:
    """A source record whose hash equals the stored one: nothing to map, nothing to write."""

    key: Key
    digest: str
    source: Mapping[str, Any]


@dataclass(frozen=True)
class SourceHasher:
    """``digest(record)``: the hash of a source record under ``version``; ``key(record)`` its
    key as the mapping would give it (a tuple of ``str``, None -> "")."""

    version: str
    key: Callable[[Mapping[str, Any]], Key]
    _seed: bytes

    def digest(self, record: Mapping[str, Any]) -> str:
        try:
            data = sorted_dump(record if type(record) is dict else dict(record))
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise RecordError(f"source record cannot be hashed: {exc}") from exc
        return hashlib.blake2b(self._seed + data, digest_size=16).hexdigest()


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
    return SourceHasher(version, _key_of(tuple(sources)), _FORMAT + version.encode() + b"\x1f")


def skip_unchanged(
    records: Iterable[Mapping[str, Any]],
    hasher: SourceHasher,
    stored: Callable[[Sequence[Key]], Mapping[Key, str]],
    *,
    lookahead: int = 500,
) -> Iterator[Unchanged | tuple[Mapping[str, Any], str | None]]:
    """Each record as ``Unchanged`` when ``stored`` (the state's hashes for a list of keys,
    asked once per ``lookahead`` records) holds its digest, else as ``(record, digest)`` to map.

    A record that cannot be hashed is passed on with digest None: the mapping decides its fate.
    """
    chunk: list[Mapping[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= lookahead:
            yield from _decide(chunk, hasher, stored)
            chunk = []
    if chunk:
        yield from _decide(chunk, hasher, stored)


def _decide(
    chunk: list[Mapping[str, Any]],
    hasher: SourceHasher,
    stored: Callable[[Sequence[Key]], Mapping[Key, str]],
) -> Iterator[Unchanged | tuple[Mapping[str, Any], str | None]]:
    # One loop with locals: this runs on every source record of a changes run, in place of
    # the mapping it saves, so its own cost is what the step still pays per unchanged record.
    key_of, seed, blake2b = hasher.key, hasher._seed, hashlib.blake2b
    keys: list[Key] = []
    digests: list[str | None] = []
    for record in chunk:
        try:
            data = sorted_dump(record if type(record) is dict else dict(record))
            digests.append(blake2b(seed + data, digest_size=16).hexdigest())
        except TypeError:  # cannot be hashed: the mapping decides its fate
            digests.append(None)
        keys.append(key_of(record))
    known = stored([k for k, d in zip(keys, digests, strict=True) if d is not None and any(k)])
    for record, key, digest in zip(chunk, keys, digests, strict=True):
        if digest is not None and known.get(key) == digest:
            yield Unchanged(key, digest, record)
        else:
            yield record, digest


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
