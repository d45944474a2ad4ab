"""The ``csv`` and ``jsonl`` file connectors: stream records from a file, append or rewrite one.

Sources read line by line (memory flat in the file size) and hand an unreadable line to the
engine as ``BadRecord`` with its line number, so one broken line is quarantined instead of
stopping the run. Sinks flush and fsync every batch before acknowledging it; ``overwrite``
writes a temporary file beside the target and renames it over the target at close, so a crash
leaves the old file whole. Files hold records, not rows with keys: file sinks refuse
``delete``/``unpublish`` ops (set the step's delete policy to ``ignore``).
"""

# No `from __future__ import annotations`: the option types below are made when their class
# bodies run, not compiled from strings when the schemas are generated.

import codecs
import csv
import datetime as dt
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import orjson

from connectors.api import (
    BadRecord,
    Connector,
    ConnectorContext,
    Options,
    ReadRequest,
    Sink,
    Source,
    WriteOp,
    WriteOutcome,
    option,
    schema_of,
)
from runner.errors import ConfigError, FatalError
from runner.spec import Filter

__all__ = ["CsvConnector", "JsonlConnector"]

log = logging.getLogger(__name__)

_FIELDS_DESCRIPTION = (
    "The fields of each record. For a source: declared to the validator (and, for a csv "
    "without a header row, the column names). For a csv sink: the header; default: the "
    "fields of the first record written."
)
_PATH_EXAMPLES = ["data/products.csv", "/srv/exports/orders.jsonl"]
_MODE_DESCRIPTION = (
    "append: add to the file (created if missing). overwrite: write a new file that "
    "replaces the old one when the step finishes (the old one stays whole until then)."
)


def _path_description(role: str) -> str:
    return f"File to {role}. A relative path resolves against the pipeline file's folder."


# One class per role and format: the options' schemas (validation, docs) are generated from
# them, and each source or sink reads its typed value (connectors.options).


def _fields_option() -> Any:
    return option(default=None, items={"minLength": 1}, description=_FIELDS_DESCRIPTION,
                  examples=[["sku", "name", "price"]])


# A csv source and sink take the same encoding, delimiter and quotechar: one declaration each.
def _encoding_option() -> Any:
    return option(default="utf-8",
                  description="Text encoding of the file.", examples=["utf-8", "cp1252"])


def _delimiter_option() -> Any:
    return option(default=",", minLength=1, maxLength=1, description="Field separator.",
                  examples=[",", ";", "\t"])


def _quotechar_option() -> Any:
    return option(default='"', minLength=1, maxLength=1,
                  description="Character that quotes a field holding the separator or a newline.",
                  examples=['"', "'"])


class JsonlSourceOptions(Options):
    path: str = option(minLength=1, description=_path_description("read"),
                       examples=_PATH_EXAMPLES)
    fields: tuple[str, ...] | None = _fields_option()


class CsvSourceOptions(JsonlSourceOptions):
    header: bool = option(default=True, description="Whether the first row holds the column names.",
                          examples=[True, False])
    encoding: str = _encoding_option()
    delimiter: str = _delimiter_option()
    quotechar: str = _quotechar_option()


class JsonlDestinationOptions(Options):
    path: str = option(minLength=1, description=_path_description("write"),
                       examples=_PATH_EXAMPLES)
    mode: Literal["append", "overwrite"] = option(default="append", description=_MODE_DESCRIPTION,
                                                  examples=["append", "overwrite"])


class CsvDestinationOptions(JsonlDestinationOptions):
    fields: tuple[str, ...] | None = _fields_option()
    encoding: str = _encoding_option()
    delimiter: str = _delimiter_option()
    quotechar: str = _quotechar_option()


def _encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise ConfigError(f"encoding: unknown text encoding {name!r}; use e.g. utf-8 or cp1252"
                          ) from exc
    return name


def _resolve(path: str, ctx: ConnectorContext) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(ctx.base_dir or ".") / p


def _since_test(since: Any) -> Any:
    """A predicate ``value >= since`` for text read from a file: numbers compare as numbers,
    anything else as text (ISO-8601 timestamps sort correctly as text)."""
    if isinstance(since, bool) or not isinstance(since, int | float):
        text = str(since)
        return lambda v: v is not None and str(v) >= text

    def numeric(v: Any) -> bool:
        try:
            return v is not None and float(v) >= since
        except (TypeError, ValueError):
            return False

    return numeric


# -- sources --------------------------------------------------------------------------------


class _FileSource:
    # JSON Lines are UTF-8 (RFC 7464 and jsonlines.org); a csv source says its encoding.
    def __init__(self, options: JsonlSourceOptions, ctx: ConnectorContext,
                 encoding: str = "utf-8") -> None:
        self._path = _resolve(options.path, ctx)
        self._encoding = _encoding(encoding)
        self._ctx = ctx
        self._files: list[IO[Any]] = []
        if not self._path.is_file():
            raise FatalError(f"source file {self._path} does not exist; check `path`")

    def pushdown(self, flt: Filter) -> Filter | None:
        return flt  # a file has no query language: the engine filters

    def read(self, request: ReadRequest) -> Iterator[dict[str, Any] | BadRecord]:
        if request.filter is not None:
            raise FatalError("file sources apply no filter; pass the residual to the engine")
        return self._records(request)

    def _records(self, request: ReadRequest) -> Iterator[dict[str, Any] | BadRecord]:
        rows = self._parse()
        if request.cursor is None or request.cursor.since is None:
            yield from rows
            return
        field, keep = request.cursor.field, _since_test(request.cursor.since)
        for row in rows:
            if isinstance(row, BadRecord) or keep(row.get(field)):
                yield row

    def _parse(self) -> Iterator[dict[str, Any] | BadRecord]:
        raise NotImplementedError

    def _open(self, mode: str, **kwargs: Any) -> IO[Any]:
        try:
            fh = open(self._path, mode, **kwargs)  # noqa: SIM115 - closed by the reader or close()
        except OSError as exc:
            raise FatalError(f"cannot open {self._path}: {exc.strerror}") from exc
        self._files.append(fh)
        return fh

    def close(self) -> None:
        while self._files:
            self._files.pop().close()


class CsvSource(_FileSource):
    def __init__(self, options: CsvSourceOptions, ctx: ConnectorContext) -> None:
        super().__init__(options, ctx, options.encoding)
        self._header = options.header
        self._fields = list(options.fields or ())
        if not self._header and not self._fields:
            raise ConfigError("csv source: with header: false, list the columns in `fields`")
        self._delimiter = options.delimiter
        self._quotechar = options.quotechar

    def _parse(self) -> Iterator[dict[str, Any] | BadRecord]:
        # surrogateescape: a byte that is not valid in the encoding becomes a marker we can
        # find per row, so one bad row is quarantined rather than the whole read failing.
        fh = self._open("r", encoding=self._encoding, errors="surrogateescape", newline="")
        try:
            reader = csv.reader(fh, delimiter=self._delimiter, quotechar=self._quotechar)
            names: list[str] = self._fields
            if self._header:
                try:
                    first = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise FatalError(f"{self._path}:1: unreadable header: {exc}") from exc
                names = first
            width = len(names)
            while True:
                line = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield BadRecord(raw="", reason=f"{self._path}:{line}: {exc}")
                    continue
                if not row:
                    continue
                if len(row) != width:
                    yield BadRecord(raw=self._text(row), reason=(
                        f"{self._path}:{line}: expected {width} fields, found {len(row)}"))
                    continue
                try:
                    self._delimiter.join(row).encode("utf-8")
                except UnicodeEncodeError:
                    yield BadRecord(raw=self._text(row), reason=(
                        f"{self._path}:{line}: not valid {self._encoding}"))
                    continue
                yield dict(zip(names, row, strict=True))
        finally:
            fh.close()

    def _text(self, row: list[str]) -> str:
        return self._delimiter.join(row).encode("utf-8", "replace").decode("utf-8")


class JsonlSource(_FileSource):
    def _parse(self) -> Iterator[dict[str, Any] | BadRecord]:
        fh = self._open("rb")
        try:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield BadRecord(raw=line.decode("utf-8", "replace").rstrip("\n"),
                                    reason=f"{self._path}:{number}: {exc}")
                    continue
                if not isinstance(value, dict):
                    yield BadRecord(raw=value, reason=(
                        f"{self._path}:{number}: expected a JSON object, found "
                        f"{type(value).__name__}"))
                    continue
                yield value
        finally:
            fh.close()


# -- sinks ----------------------------------------------------------------------------------


class _FileSink:
    fmt: ClassVar[str] = ""

    def __init__(self, options: JsonlDestinationOptions, ctx: ConnectorContext,
                 encoding: str = "utf-8") -> None:
        self._path = _resolve(options.path, ctx)
        self._mode: str = options.mode
        self._encoding = _encoding(encoding)
        self._ctx = ctx
        self._tmp: str | None = None
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            if self._mode == "overwrite":
                fd, self._tmp = tempfile.mkstemp(
                    prefix=f".{self._path.name}.", suffix=".tmp", dir=self._path.parent)
                self._fh: IO[bytes] | None = os.fdopen(fd, "wb")
            else:
                self._fh = open(self._path, "ab")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise FatalError(f"cannot write {self._path}: {exc.strerror}") from exc
        self._fresh = self._fh.tell() == 0

    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        if self._fh is None:
            raise FatalError(f"{self.fmt} sink for {self._path} is closed")
        outcomes: list[WriteOutcome] = []
        chunks: list[bytes] = []
        for op in ops:
            if op.action in ("delete", "unpublish"):
                outcomes.append(WriteOutcome(ok=False, error=(
                    f"a {self.fmt} file cannot {op.action} records; set the step's delete "
                    "policy to ignore")))
                continue
            try:
                chunks.append(self._encode(op.record))
            except (TypeError, ValueError) as exc:
                outcomes.append(WriteOutcome(ok=False, error=f"cannot write as {self.fmt}: {exc}"))
                continue
            outcomes.append(WriteOutcome(ok=True))
        try:
            self._fh.write(b"".join(chunks))
            self._fh.flush()
            os.fsync(self._fh.fileno())  # acknowledged means on disk
        except OSError as exc:
            raise FatalError(f"cannot write {self._path}: {exc.strerror}") from exc
        return outcomes

    def _encode(self, record: Mapping[str, Any]) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        fh.close()
        if self._tmp is not None:
            os.replace(self._tmp, self._path)
            self._tmp = None
            log.info("files.sink.replaced", extra={
                "job": self._ctx.job, "step": self._ctx.step, "path": str(self._path)})


class JsonlSink(_FileSink):
    fmt = "jsonl"

    def _encode(self, record: Mapping[str, Any]) -> bytes:
        return orjson.dumps(
            dict(record), option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS,
            default=str)


class CsvSink(_FileSink):
    fmt = "csv"

    def __init__(self, options: CsvDestinationOptions, ctx: ConnectorContext) -> None:
        super().__init__(options, ctx, options.encoding)
        self._delimiter = options.delimiter
        self._quotechar = options.quotechar
        self._fields: list[str] | None = list(options.fields or ()) or None
        if not self._fresh and self._mode == "append":
            self._fields = self._existing_header() or self._fields

    def _existing_header(self) -> list[str] | None:
        with open(self._path, encoding=self._encoding, newline="") as fh:
            first = next(csv.reader(fh, delimiter=self._delimiter, quotechar=self._quotechar),
                         None)
        return first or None

    def _line(self, values: Sequence[Any]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, delimiter=self._delimiter, quotechar=self._quotechar,
                   lineterminator="\n").writerow(values)
        return buf.getvalue().encode(self._encoding)

    def _encode(self, record: Mapping[str, Any]) -> bytes:
        head = b""
        if self._fields is None:
            self._fields = list(record)
        extra = [k for k in record if k not in self._fields]
        if extra:
            raise ValueError(
                f"field(s) {', '.join(extra)} are not in the header ({', '.join(self._fields)}); "
                "list every field in `fields`")
        line = self._line(["" if record.get(f) is None else _cell(record.get(f))
                           for f in self._fields])
        if self._fresh:  # only once the first row is known to encode
            head = self._line(self._fields)
            self._fresh = False
        return head + line


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, dt.date | dt.time):  # datetime too: ISO 8601, like the jsonl sink
        return value.isoformat()
    return value


# -- connectors -----------------------------------------------------------------------------


class CsvConnector(Connector):
    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "A CSV file: read it row by row, or append/rewrite one."
    source_options: ClassVar[Mapping[str, Any] | None] = schema_of(CsvSourceOptions)
    destination_options: ClassVar[Mapping[str, Any] | None] = schema_of(CsvDestinationOptions)

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        return CsvSource(CsvSourceOptions.parse(options), ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        return CsvSink(CsvDestinationOptions.parse(options), ctx)


class JsonlConnector(Connector):
    name: ClassVar[str] = "jsonl"
    description: ClassVar[str] = (
        "A JSON Lines file (one object per line): read it line by line, or append/rewrite one."
    )
    source_options: ClassVar[Mapping[str, Any] | None] = schema_of(JsonlSourceOptions)
    destination_options: ClassVar[Mapping[str, Any] | None] = schema_of(JsonlDestinationOptions)

    def open_source(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Source:
        return JsonlSource(JsonlSourceOptions.parse(options), ctx)

    def open_sink(self, options: Mapping[str, Any], ctx: ConnectorContext) -> Sink:
        return JsonlSink(JsonlDestinationOptions.parse(options), ctx)
