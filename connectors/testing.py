"""A conformance suite any connector can run in its own tests, built-in or third-party.

The checks raise ``AssertionError`` with a message saying what is wrong, so they work under
pytest, unittest or a plain script. Each check opens its own source or sink from the factory
arguments and closes it.

    from connectors.testing import SinkConformance, SourceConformance, check_connector_schemas

    def test_my_connector(tmp_path):
        check_connector_schemas(MyConnector)
        SourceConformance(MyConnector, {"path": str(data)}, cursor_field="modified_at",
                          since="2024-03-01", equals=("colour", "red")).run()
        SinkConformance(MyConnector, {"path": str(out)}, ops=make_ops(),
                        read_back=lambda: read_all(out), key_fields=("sku",)).run()
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from connectors.api import (
    BadRecord,
    Connector,
    ConnectorContext,
    CursorWindow,
    ReadRequest,
    Rows,
    RowSource,
    Sink,
    Source,
    WriteOp,
    WriteOutcome,
)
from runner.spec import All, AnyOf, Compare, Expr, Filter, Not

__all__ = [
    "SinkConformance",
    "SourceConformance",
    "check_connector_schemas",
    "check_options_schema",
]

# Option names that hold credentials: the schema must mark them secret.
CREDENTIAL_NAME = re.compile(r"(password|passwd|secret|token|api_?key|credential|private_?key)",
                             re.IGNORECASE)
_FILTER_TYPES = (Compare, All, AnyOf, Not, Expr)


def check_options_schema(schema: Mapping[str, Any], *, where: str = "options",
                         secret: Sequence[str] = ()) -> None:
    """``schema`` is valid JSON Schema 2020-12; every property (nested ones too) has a
    description; its examples and default are valid against it; credential-looking options
    and the names in ``secret`` are marked ``"secret": true``."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise AssertionError(f"{where}: not a valid JSON Schema 2020-12: {exc.message}") from exc
    problems: list[str] = []
    wanted_secret = set(secret)

    def walk(node: Mapping[str, Any], path: str) -> None:
        for name, prop in (node.get("properties") or {}).items():
            at = f"{path}{name}"
            if not isinstance(prop, Mapping):
                problems.append(f"{at}: property schema is not an object")
                continue
            if not str(prop.get("description") or "").strip():
                problems.append(f"{at}: no description")
            check = Draft202012Validator(prop)
            for example in prop.get("examples", []):
                for err in check.iter_errors(example):
                    problems.append(f"{at}: example {example!r} is invalid: {err.message}")
            if "default" in prop:
                for err in check.iter_errors(prop["default"]):
                    problems.append(f"{at}: default {prop['default']!r} is invalid: {err.message}")
            if (CREDENTIAL_NAME.search(name) or at in wanted_secret) and not prop.get("secret"):
                problems.append(f"{at}: holds a credential; mark it \"secret\": true")
            walk(prop, f"{at}.")
            items = prop.get("items")
            if isinstance(items, Mapping):
                walk(items, f"{at}[].")

    walk(schema, "")
    if problems:
        raise AssertionError(f"{where}:\n  " + "\n  ".join(problems))


def check_connector_schemas(connector: type[Connector], *, secret: Sequence[str] = ()) -> None:
    """Both option schemas of ``connector`` pass :func:`check_options_schema`; it has a name,
    a description and at least one role."""
    assert connector.name, f"{connector.__name__}: set the class attribute `name`"
    assert connector.description, f"{connector.__name__}: set the class attribute `description`"
    roles = {"source_options": connector.source_options,
             "destination_options": connector.destination_options}
    assert any(roles.values()), f"{connector.__name__}: declares neither role"
    for role, schema in roles.items():
        if schema is not None:
            check_options_schema(schema, where=f"{connector.name}.{role}", secret=secret)


def _instance(connector: type[Connector] | Connector) -> Connector:
    return connector() if isinstance(connector, type) else connector


def _records(items: Iterator[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, BadRecord):
            continue
        assert isinstance(item, dict), f"read() yielded a {type(item).__name__}, not a dict"
        out.append(item)
    return out


def _canon(records: Sequence[Mapping[str, Any]]) -> Counter[str]:
    return Counter(repr(sorted(r.items(), key=lambda kv: kv[0])) for r in records)


@dataclass
class SourceConformance:
    """Checks a source opened as ``connector().open_source(options, ctx)``.

    ``cursor_field``/``since``: a field and a value inside its range (some rows before, some
    at or after) for the cursor check. ``equals``: ``(field, value)`` for the pushdown check;
    ``same(a, b)`` says whether a row's value equals it (e.g. SQL 1 vs True).
    """

    connector: type[Connector] | Connector
    options: Mapping[str, Any]
    ctx: ConnectorContext = field(default_factory=lambda: ConnectorContext(job="conf", step="s"))
    cursor_field: str | None = None
    since: Any = None
    equals: tuple[str, Any] | None = None
    same: Callable[[Any, Any], bool] = lambda value, wanted: bool(value == wanted)
    at_least: Callable[[Any, Any], bool] = lambda value, since: bool(value >= since)

    def open(self) -> Source:
        source = _instance(self.connector).open_source(self.options, self.ctx)
        for method in ("read", "pushdown", "close"):
            assert callable(getattr(source, method, None)), f"the source has no {method}()"
        return source

    def _all(self) -> list[dict[str, Any]]:
        source = self.open()
        try:
            return _records(source.read(ReadRequest()))
        finally:
            source.close()

    def check_streams(self) -> None:
        """read() returns a lazy iterator (not a list), yielding dicts or BadRecords."""
        source = self.open()
        try:
            stream = source.read(ReadRequest())
            assert not isinstance(stream, list | tuple), "read() must stream, not build a list"
            assert isinstance(stream, Iterator), (
                f"read() returned a {type(stream).__name__}, not an iterator")
            first = next(stream, None)
            assert first is not None, "the conformance data must hold at least one record"
            assert isinstance(first, dict | BadRecord), f"read() yielded {type(first).__name__}"
            _records(stream)
        finally:
            source.close()

    def check_cursor(self) -> None:
        """A read with a cursor window returns exactly the rows whose field is >= since."""
        if self.cursor_field is None:
            return
        fld, since = self.cursor_field, self.since
        every = self._all()
        expected = [r for r in every if r.get(fld) is not None and self.at_least(r[fld], since)]
        assert 0 < len(expected) < len(every), (
            f"choose `since` inside the data: {len(expected)} of {len(every)} rows are >= it")
        source = self.open()
        try:
            got = _records(source.read(ReadRequest(cursor=CursorWindow(fld, since))))
        finally:
            source.close()
        assert _canon(got) == _canon(expected), (
            f"cursor {fld} >= {since!r}: got {len(got)} rows, expected {len(expected)}")

    def check_pushdown(self) -> None:
        """pushdown() returns None or a Filter; it never swallows an expression it cannot run;
        what it takes, read() applies exactly."""
        source = self.open()
        try:
            probe_field = self.equals[0] if self.equals else "conformance_field"
            probe_value = self.equals[1] if self.equals else 1
            cmp = Compare(probe_field, "equals", probe_value)
            expr = Expr("1 == 1")
            for flt in (cmp, expr, All((cmp, expr)), AnyOf((cmp, expr)), Not(cmp)):
                residual = source.pushdown(flt)
                assert residual is None or isinstance(residual, _FILTER_TYPES), (
                    f"pushdown({flt!r}) returned {type(residual).__name__}, not a Filter or None")
            assert source.pushdown(expr) is not None, "pushdown() claimed an Expr it cannot run"
            mixed = source.pushdown(All((cmp, expr)))
            assert mixed is not None and _mentions(mixed, expr), (
                f"pushdown(All(compare, expr)) dropped the expression: residual {mixed!r}")
            if self.equals is None:
                return
            residual = source.pushdown(cmp)
        finally:
            source.close()
        every = self._all()
        expected = [r for r in every if self.same(r.get(probe_field), probe_value)]
        assert 0 < len(expected) < len(every), (
            f"choose `equals` inside the data: {len(expected)} of {len(every)} rows match")
        if residual is not None:
            assert residual == cmp, f"pushdown of a single comparison left {residual!r}"
            return
        source = self.open()
        try:
            got = _records(source.read(ReadRequest(filter=cmp)))
        finally:
            source.close()
        assert _canon(got) == _canon(expected), (
            f"pushed {cmp!r}: read {len(got)} rows, expected {len(expected)}")

    def check_rows(self) -> None:
        """A source that also reads as blocks of tuples (``RowSource``) gives the records
        ``read()`` gives, in the same order, with one column order per read."""
        source = self.open()
        if not isinstance(source, RowSource):
            source.close()
            return
        columns: set[tuple[str, ...]] = set()
        from_rows: list[Any] = []
        try:
            as_records = list(source.read(ReadRequest()))
            blocks = source.read_rows(ReadRequest())
            assert isinstance(blocks, Iterator), "read_rows() must stream, not build a list"
            try:
                for block in blocks:
                    if isinstance(block, BadRecord):
                        from_rows.append(block)
                        continue
                    assert isinstance(block, Rows), (
                        f"read_rows() yielded {type(block).__name__}")
                    # Plain tuples: a group of rows is hashed as they serialise (orjson takes
                    # a tuple, not a driver's row class).
                    odd = {type(v).__name__ for v in block.values if type(v) is not tuple}
                    assert not odd, (
                        f"read_rows() gave rows as {', '.join(sorted(odd))}, not tuples")
                    columns.add(block.columns)
                    from_rows.extend(dict(zip(block.columns, values, strict=True))
                                     for values in block.values)
            finally:
                close = getattr(blocks, "close", None)
                if close is not None:  # a failed check must not leave the read open
                    close()
        finally:
            source.close()
        assert len(columns) <= 1, f"read_rows() changed its columns within a read: {columns}"
        assert from_rows == as_records, (
            f"read_rows() gave {len(from_rows)} records unlike read()'s {len(as_records)}")

    def check_read_ahead(self) -> None:
        """A source that declares ``read_ahead`` gives the same records, in the same order,
        when its read starts on one thread and goes on on another (the engine starts a step's
        read while it opens the destination)."""
        source = self.open()
        try:
            if not getattr(source, "read_ahead", False):
                return
            expected = list(source.read(ReadRequest()))
            stream = source.read(ReadRequest())
            first: list[Any] = []
            failed: list[BaseException] = []

            def start() -> None:
                try:
                    first.extend(islice(stream, 1))
                except BaseException as exc:  # reported below, on the checking thread
                    failed.append(exc)

            thread = threading.Thread(target=start, name="conformance-read-ahead")
            thread.start()
            thread.join()
            assert not failed, f"a read started on another thread failed: {failed[0]!r}"
            got = first + list(stream)
        finally:
            source.close()
        assert _records(iter(got)) == _records(iter(expected)), (
            f"a read started on another thread gave {len(got)} records unlike a read on one "
            f"thread ({len(expected)}); drop read_ahead if the source cannot do that")

    def check_close(self) -> None:
        """close() may be called twice, also in the middle of a read."""
        source = self.open()
        stream = source.read(ReadRequest())
        next(stream, None)
        source.close()
        source.close()

    def run(self) -> list[str]:
        """Run every check; returns their names."""
        checks = [self.check_streams, self.check_cursor, self.check_pushdown, self.check_rows,
                  self.check_read_ahead, self.check_close]
        for check in checks:
            check()
        return [c.__name__ for c in checks]


def _mentions(flt: Filter, part: Filter) -> bool:
    if flt == part:
        return True
    if isinstance(flt, All | AnyOf):
        return any(_mentions(i, part) for i in flt.items)
    if isinstance(flt, Not):
        return _mentions(flt.item, part)
    return False


@dataclass
class SinkConformance:
    """Checks a sink opened as ``connector().open_sink(options, ctx)``.

    ``ops``: good ops with distinct keys. ``read_back()``: every record the destination holds
    now. ``reset()``: empty the destination (called before each check). ``bad_op``: an op the
    destination must refuse (checks that outcomes come back one per op, in order).
    ``idempotent=False`` for append-only destinations (a file): writing twice must then hold
    every record twice, in order.
    """

    connector: type[Connector] | Connector
    options: Mapping[str, Any]
    ops: Sequence[WriteOp]
    read_back: Callable[[], list[dict[str, Any]]]
    key_fields: tuple[str, ...]
    reset: Callable[[], None] = lambda: None
    bad_op: WriteOp | None = None
    idempotent: bool = True

    def open(self) -> Sink:
        ctx = ConnectorContext(job="conf", step="s", key_fields=self.key_fields)
        sink = _instance(self.connector).open_sink(self.options, ctx)
        for method in ("write", "close"):
            assert callable(getattr(sink, method, None)), f"the sink has no {method}()"
        return sink

    def _write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        sink = self.open()
        try:
            return sink.write(ops)
        finally:
            sink.close()

    def check_outcomes(self) -> None:
        """write() returns one WriteOutcome per op, in order; a refused op is not ok."""
        self.reset()
        ops = list(self.ops)
        bad_at = None
        if self.bad_op is not None:
            bad_at = len(ops) // 2
            ops.insert(bad_at, self.bad_op)
        outcomes = self._write(ops)
        assert isinstance(outcomes, list), "write() must return a list"
        assert len(outcomes) == len(ops), f"{len(ops)} ops but {len(outcomes)} outcomes"
        for i, outcome in enumerate(outcomes):
            assert isinstance(outcome, WriteOutcome), f"outcome {i} is {type(outcome).__name__}"
            if i == bad_at:
                assert not outcome.ok and outcome.error, (
                    f"outcome {i} (the bad op) should be refused with a reason: {outcome!r}")
            else:
                assert outcome.ok, f"outcome {i} should be ok: {outcome!r}"
        assert len(self.read_back()) == len(self.ops), "the destination lacks acknowledged ops"

    def check_idempotent(self) -> None:
        """Writing the same ops twice leaves each key once (or, append-only, twice in order)."""
        self.reset()
        self._write(self.ops)
        first = self.read_back()
        self._write(self.ops)
        second = self.read_back()
        if not self.idempotent:
            assert second == first + first, "an append-only sink must keep every write, in order"
            return
        keys = Counter(tuple(r.get(k) for k in self.key_fields) for r in second)
        dupes = [k for k, n in keys.items() if n > 1]
        assert not dupes, f"writing twice duplicated keys {dupes[:5]}"
        assert len(second) == len(first) == len(self.ops), (
            f"{len(self.ops)} ops: {len(first)} records after one write, {len(second)} after two")

    def check_close(self) -> None:
        """close() may be called twice, also right after a write."""
        self.reset()
        sink = self.open()
        sink.write(list(self.ops)[:1])
        sink.close()
        sink.close()

    def run(self) -> list[str]:
        checks = [self.check_outcomes, self.check_idempotent, self.check_close]
        for check in checks:
            check()
        return [c.__name__ for c in checks]
