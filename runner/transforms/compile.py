"""A step's transformations compiled once and applied to a stream of source rows.

Order: residual filter -> nest -> flatten -> map (lookups, key map, expressions, conversions)
-> plugins -> key extraction. The input is consumed lazily and never materialised: nest holds
one group of consecutive rows, everything else one row.

Only ``residual_filter`` filters rows: the engine passes the part of ``step.filter`` its source
could not push down (``step.filter`` itself when nothing was pushed down). Rows failing it are
dropped, not quarantined; an ``expr`` filter that cannot be evaluated on a row quarantines it.

A record whose key fields are all null or empty is rejected: it could not be written idempotently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from runner.errors import ConfigError, RecordError, RunFailed, SyncError
from runner.paths import getter, is_plain, root_field
from runner.spec import FieldMap, Filter, Step

from .filters import Predicate, compile_filter, filter_fields
from .mapping import Lookups, compile_mappings, mapping_reads
from .nested_row import nested_row_type
from .plugins import Plugin, apply_plugin, load_plugin
from .prehash import Key, SourceHasher, Unchanged, skip_unchanged, skip_unchanged_rows
from .records import KeymapResolver, Rejected, Transformed
from .shape import RowBlock, flatten_record, nest, nest_rows, row_blocks, rows_nestable

__all__ = ["CompiledStep", "compile_step"]

Item = Transformed | Rejected
MapFn = Callable[[Mapping[str, Any]], dict[str, Any] | None]


def compile_step(
    step: Step,
    *,
    lookups: Lookups | None = None,
    keymap: KeymapResolver | None = None,
    residual_filter: Filter | None = None,
) -> CompiledStep:
    """Compile ``step``'s transformations; ConfigError for anything wrong in them.

    ``lookups`` maps each lookup name to its index (lookup key value -> row), built by the
    engine; ``keymap`` resolves destination ids. Either may be omitted to compile for
    validation only: a record that needs them then fails the run.
    """
    return CompiledStep(step, lookups=lookups, keymap=keymap, residual_filter=residual_filter)


def _key_function(key: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    if not all(is_plain(name) for name in key):
        # A step without `map` keys its records by source paths (customer.id, a["b.c"]).
        getters = tuple(getter(name, where=f"key {name}") for name in key)

        def by_path(record: Mapping[str, Any]) -> tuple[str, ...]:
            return tuple("" if (v := g(record)) is None else str(v) for g in getters)

        return by_path
    if len(key) == 1:
        (name,) = key

        def one(record: Mapping[str, Any]) -> tuple[str, ...]:
            value = record.get(name)
            return ("" if value is None else str(value),)

        return one
    names = key

    def many(record: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple("" if (v := record.get(n)) is None else str(v) for n in names)

    return many


class CompiledStep:
    """The compiled transformations of one step. ``apply`` streams Transformed/Rejected."""

    def __init__(
        self,
        step: Step,
        *,
        lookups: Lookups | None = None,
        keymap: KeymapResolver | None = None,
        residual_filter: Filter | None = None,
    ) -> None:
        self.step = step
        if not step.key:
            raise ConfigError(f"step {step.name!r}: a key is required")
        self._filter: Predicate | None = (
            compile_filter(residual_filter) if residual_filter is not None else None
        )
        self._lookups, self._keymap = lookups, keymap
        self._map = self._mapping(None)
        self._nested_maps: dict[tuple[str, ...], MapFn | None] = {}
        self._plugins: tuple[tuple[str, Plugin, Mapping[str, Any]], ...] = tuple(
            (ref.plugin, load_plugin(ref.plugin), ref.options) for ref in step.transforms
        )
        self._key = _key_function(step.key)
        self._source_key = _source_key(step.key, step.mappings)
        self.required_fields: frozenset[str] = self._required(residual_filter)
        # Without mappings every source field passes through, so a source must read them all;
        # flattened item fields cannot be told apart from source columns, so read all then too.
        self.reads_all_fields: bool = step.mappings is None or step.flatten is not None
        # Rows read as blocks of tuples go straight into nest: no filter to apply to a row
        # first, nothing after nest that needs the rows themselves.
        self.takes_rows: bool = (step.nest is not None and self._filter is None
                                 and step.flatten is None and not self._plugins)

    def _mapping(self, index: Mapping[str, int] | None) -> MapFn | None:
        """The step's mapping (and ``keep``) of dict rows, or of NestedRow rows of ``index``."""
        step = self.step
        map_row: MapFn | None = compile_mappings(
            step.mappings, lookups=self._lookups, keymap=self._keymap, index=index
        ) if step.mappings is not None else None
        if step.keep is not None:
            map_row = _keeping(map_row, compile_filter(step.keep, where="keep"))
        return map_row

    def _required(self, residual_filter: Filter | None) -> frozenset[str]:
        step = self.step
        reads: set[str] = set()
        if step.mappings is not None:
            reads |= mapping_reads(step.mappings)
        if step.flatten is not None:
            reads.add(root_field(step.flatten.field))
        if step.nest is not None:
            # The nested list is made from the group's rows; the header from its first row.
            reads.discard(step.nest.into)
            reads.update(step.nest.by)
            reads.update(step.nest.fields)
        reads |= filter_fields(residual_filter)
        if step.cursor is not None:
            reads.add(root_field(step.cursor.field))
        if step.parent is not None:
            reads.update(step.parent.key)  # the engine records each record's parent
        return frozenset(reads)

    def apply(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Item]:
        """Transform ``rows`` lazily into records to write and records to quarantine."""
        step = self.step
        if step.flatten is not None or self._plugins:
            return self._apply_general(rows)
        if step.nest is None:
            return self._apply_simple(rows, self._filter)
        # Nested records take the same single loop; the filter applies to the rows before
        # nest, and a row it cannot evaluate comes out before the record read after it.
        pending: deque[Rejected] = deque()
        return self._apply_simple(nest(self._filtered(rows, pending), step.nest), None, pending)

    def apply_rows(self, blocks: Iterable[RowBlock]) -> Iterator[Item]:
        """:meth:`apply` of rows read as blocks of tuples (a step that ``takes_rows``)."""
        if not self.takes_rows:
            raise ConfigError(f"step {self.step.name!r} cannot take rows as tuples; use apply()")
        return self._apply_rows(blocks)

    def _apply_rows(self, blocks: Iterable[RowBlock]) -> Iterator[Item]:
        nesting = self.step.nest
        assert nesting is not None
        read = row_blocks(blocks)
        if read is None:
            return
        columns, blocks = read
        if self._map is None or not rows_nestable(columns, nesting):
            yield from self._apply_simple(nest_rows(blocks, nesting), None)
            return
        # Records read in place (NestedRow), mapped from their tuples: no dict per record.
        kind = nested_row_type(columns, nesting)
        if columns not in self._nested_maps:
            self._nested_maps[columns] = self._mapping(kind.index)
        yield from self._apply_simple(nest_rows(blocks, nesting, kind), None,
                                      map_row=self._nested_maps[columns])

    def apply_changed(
        self,
        rows: Iterable[Mapping[str, Any]],
        hasher: SourceHasher,
        stored: Callable[[Sequence[Key]], Mapping[Key, str]],
        *,
        lookahead: int = 500,
    ) -> Iterator[Item | Unchanged]:
        """:meth:`apply` that maps only the records whose source hash (after filter and nest)
        is not the one ``stored`` holds for their key; the others come out as ``Unchanged``.
        Transformed records carry their ``source_hash``. ``hasher`` comes from
        :func:`~runner.transforms.source_hasher` for this step (no plugins, no flatten)."""
        self._check_hashable()
        pending: deque[Rejected] = deque()
        nesting = self.step.nest
        if nesting is not None and hasher.reads_key_from(nesting):
            # Hashed as groups of rows: only the groups to map are nested.
            stream = self._filtered(rows, pending)
        else:
            stream, nesting = self._shaped(rows, pending), None
        found = skip_unchanged(stream, hasher, stored, lookahead=lookahead, nest=nesting)
        return self._mapped_changes(found, pending)

    def apply_changed_rows(
        self,
        blocks: Iterable[RowBlock],
        hasher: SourceHasher,
        stored: Callable[[Sequence[Key]], Mapping[Key, str]],
        *,
        lookahead: int = 500,
    ) -> Iterator[Item | Unchanged]:
        """:meth:`apply_changed` of rows read as blocks of tuples (a step that
        ``takes_rows``): groups hashed as tuples where the key is in a group's first row."""
        self._check_hashable()
        nesting = self.step.nest
        if not self.takes_rows or nesting is None:
            raise ConfigError(f"step {self.step.name!r} cannot take rows as tuples; use "
                              "apply_changed()")
        found: Iterator[Unchanged | tuple[Mapping[str, Any], str | None]]
        if hasher.reads_key_from(nesting):
            found = skip_unchanged_rows(blocks, hasher, stored, lookahead=lookahead,
                                        nest=nesting)
        else:
            found = skip_unchanged(nest_rows(blocks, nesting), hasher, stored,
                                   lookahead=lookahead)
        return self._mapped_changes(found, deque())

    def _check_hashable(self) -> None:
        if self.step.flatten is not None or self._plugins:
            raise ConfigError(f"step {self.step.name!r}: a step with flatten or plugins cannot "
                              "hash its source records; use apply()")

    def _mapped_changes(
        self,
        found: Iterable[Unchanged | tuple[Mapping[str, Any], str | None]],
        pending: deque[Rejected],
    ) -> Iterator[Item | Unchanged]:
        step = self.step
        map_row = self._map
        key_of = self._key
        for item in found:
            while pending:
                yield pending.popleft()
            if isinstance(item, Unchanged):
                yield item
                continue
            record, digest = item
            try:
                out = map_row(record) if map_row is not None else dict(record)
            except RecordError as exc:
                yield Rejected(record, str(exc), self._source_key(record))
                continue
            if out is None:  # dropped by `keep`
                continue
            try:
                key = key_of(out)
            except RecordError as exc:
                yield Rejected(record, str(exc), None)
                continue
            if not any(key):
                yield Rejected(record, _no_key(step.key), None)
                continue
            yield Transformed(out, key, record, digest)
        while pending:
            yield pending.popleft()

    def _shaped(
        self, rows: Iterable[Mapping[str, Any]], pending: deque[Rejected]
    ) -> Iterator[Mapping[str, Any]]:
        """The residual filter then nest; a row the filter cannot evaluate goes to ``pending``."""
        stream = self._filtered(rows, pending)
        if self.step.nest is not None:
            stream = nest(stream, self.step.nest)
        return iter(stream)

    def _filtered(
        self, rows: Iterable[Mapping[str, Any]], pending: deque[Rejected]
    ) -> Iterable[Mapping[str, Any]]:
        """The rows the residual filter keeps; a row it cannot evaluate goes to ``pending``."""
        keep = self._filter
        if keep is None:
            return rows
        source_key = self._source_key

        def filtered() -> Iterator[Mapping[str, Any]]:
            for row in rows:
                try:
                    if keep(row):
                        yield row
                except RecordError as exc:
                    pending.append(Rejected(row, str(exc), source_key(row)))

        return filtered()

    # The common case in one loop: no generator layers between the rows and the mapping.
    def _apply_simple(self, rows: Iterable[Mapping[str, Any]], keep: Predicate | None,
                      pending: deque[Rejected] | None = None,
                      map_row: MapFn | None = None) -> Iterator[Item]:
        map_row = map_row or self._map
        key_of = self._key
        source_key = self._source_key
        key = self.step.key
        single_key = key[0] if len(key) == 1 and is_plain(key[0]) else None
        for row in rows:
            if pending:
                yield from _drained(pending)
            if keep is not None:
                try:
                    if not keep(row):
                        continue
                except RecordError as exc:
                    yield Rejected(row, str(exc), source_key(row))
                    continue
            try:
                record = map_row(row) if map_row is not None else dict(row)
            except RecordError as exc:
                yield Rejected(row, str(exc), source_key(row))
                continue
            if record is None:  # dropped by `keep`
                continue
            if single_key is not None:
                value = record.get(single_key)
                text = "" if value is None else value if type(value) is str else str(value)
                if not text:
                    yield Rejected(row, _no_key(self.step.key), None)
                    continue
                yield Transformed(record, (text,), row)
                continue
            try:
                found = key_of(record)
            except RecordError as exc:  # a key path absent from a record passed through
                yield Rejected(row, str(exc), None)
                continue
            if not any(found):
                yield Rejected(row, _no_key(key), None)
                continue
            yield Transformed(record, found, row)
        if pending:
            yield from _drained(pending)

    def _apply_general(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Item]:
        step = self.step
        pending: deque[Rejected] = deque()
        map_row = self._map
        source_key = self._source_key
        stream = self._shaped(rows, pending)
        flat = step.flatten
        current: list[Mapping[str, Any]] = [{}]

        def mapped() -> Iterator[dict[str, Any]]:
            for record in stream:
                if flat is not None:
                    try:
                        parts: Iterable[Mapping[str, Any]] = flatten_record(
                            record, flat.field, flat.prefix
                        )
                    except RecordError as exc:
                        pending.append(Rejected(record, str(exc), None))
                        continue
                else:
                    parts = (record,)
                for part in parts:
                    try:
                        out = map_row(part) if map_row is not None else dict(part)
                    except RecordError as exc:
                        pending.append(Rejected(part, str(exc), source_key(part)))
                        continue
                    if out is None:  # dropped by `keep`
                        continue
                    current[0] = part
                    yield out

        outputs: Iterable[dict[str, Any]] = mapped()
        for name, plugin, options in self._plugins:
            outputs = _guard_plugin(name, apply_plugin(plugin, outputs, options))
        key_of = self._key
        for out in outputs:
            while pending:
                yield pending.popleft()
            if not isinstance(out, dict):
                raise RunFailed(
                    f"transform plugin output must be dicts, got {type(out).__name__}"
                )
            try:
                key = key_of(out)
            except RecordError as exc:
                yield Rejected(current[0], str(exc), None)
                continue
            # With plugins, a record is attributed to the latest source row read, which is
            # exact for the usual one-in, n-out plugin.
            if not any(key):
                yield Rejected(current[0], _no_key(step.key), None)
                continue
            yield Transformed(out, key, current[0])
        while pending:
            yield pending.popleft()


def _drained(pending: deque[Rejected]) -> Iterator[Rejected]:
    while pending:
        yield pending.popleft()


def _keeping(
    map_row: Callable[[Mapping[str, Any]], dict[str, Any] | None] | None, keep: Predicate
) -> Callable[[Mapping[str, Any]], dict[str, Any] | None]:
    """The mapping, then ``keep`` on its result: None for a record to drop. A ``keep`` that
    cannot be evaluated raises RecordError, which quarantines the record like a mapping error."""

    def mapped_then_kept(row: Mapping[str, Any]) -> dict[str, Any] | None:
        out = map_row(row) if map_row is not None else dict(row)
        return out if out is not None and keep(out) else None

    return mapped_then_kept


def _guard_plugin(name: str, outputs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Run a plugin's output, turning its unexpected exceptions into RunFailed."""
    try:
        yield from outputs
    except SyncError:
        raise
    except Exception as exc:
        raise RunFailed(
            f"transform plugin {name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _no_key(step_key: tuple[str, ...]) -> str:
    return f"key {', '.join(step_key)}: the record has no value for its key"


def _source_key(
    key: tuple[str, ...], mappings: tuple[FieldMap, ...] | None
) -> Callable[[Mapping[str, Any]], tuple[str, ...] | None]:
    """The key of a source row that could not be transformed, when the key fields are plain
    copies of source fields (for quarantine listings); otherwise a function giving None."""
    sources: list[str] = []
    by_target = {fm.target: fm for fm in mappings} if mappings is not None else None
    for name in key:
        if by_target is None:
            sources.append(name)
            continue
        fm = by_target.get(name)
        if fm is None or fm.field is None or fm.each is not None:
            return lambda row: None
        sources.append(fm.field)
    getters = tuple(getter(s) for s in sources)

    def source_key(row: Mapping[str, Any]) -> tuple[str, ...] | None:
        try:
            return tuple("" if (v := g(row)) is None else str(v) for g in getters)
        except Exception:  # a key for a listing is best effort; never hide the real error
            return None

    return source_key
