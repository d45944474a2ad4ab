"""csv and jsonl connectors on real files in a temp folder."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from connectors.api import BadRecord, ConnectorContext, CursorWindow, ReadRequest, WriteOp
from connectors.files import CsvConnector, JsonlConnector
from runner.errors import ConfigError, FatalError
from runner.spec import Compare


def ctx(base: Path) -> ConnectorContext:
    return ConnectorContext(job="j", step="s", key_fields=("sku",), base_dir=str(base))


def test_jsonl_streams_and_hands_broken_lines_over_as_bad_records(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(
        b'{"sku": "A", "qty": 1}\n'
        b'{"sku": "B", "qty": \n'  # truncated
        b"\n"
        b"[1, 2]\n"
        b'{"sku": "C", "qty": 3}\n'
    )
    src = JsonlConnector().open_source({"path": "in.jsonl"}, ctx(tmp_path))
    stream = src.read(ReadRequest())
    assert next(stream) == {"sku": "A", "qty": 1}
    rest = list(stream)
    bad = [r for r in rest if isinstance(r, BadRecord)]
    assert [b.reason.split(":")[1] for b in bad] == ["2", "4"]
    assert bad[0].raw == '{"sku": "B", "qty": '
    assert "expected a JSON object" in bad[1].reason
    assert rest[-1] == {"sku": "C", "qty": 3}
    src.close()
    src.close()


def test_csv_reads_header_delimiter_and_quarantines_ragged_and_undecodable_rows(
        tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(
        b"sku;name;modified_at\n"
        b'A;"semi;colon";2024-01-01\n'
        b"B;too;many;fields\n"
        b"C;caf\xe9;2024-03-01\n"  # latin-1 byte in a utf-8 file
        b'D;"multi\nline";2024-04-01\n'
    )
    src = CsvConnector().open_source({"path": "in.csv", "delimiter": ";"}, ctx(tmp_path))
    rows = list(src.read(ReadRequest()))
    assert rows[0] == {"sku": "A", "name": "semi;colon", "modified_at": "2024-01-01"}
    assert isinstance(rows[1], BadRecord) and "expected 3 fields, found 4" in rows[1].reason
    assert isinstance(rows[2], BadRecord) and "in.csv:4: not valid utf-8" in rows[2].reason
    assert rows[3] == {"sku": "D", "name": "multi\nline", "modified_at": "2024-04-01"}
    since = list(src.read(ReadRequest(cursor=CursorWindow("modified_at", "2024-02-01"))))
    assert [r["sku"] for r in since if isinstance(r, dict)] == ["D"]
    assert src.pushdown(Compare("sku", "equals", "A")) == Compare("sku", "equals", "A")
    src.close()


def test_csv_without_header_takes_names_from_fields(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("1,a\n2,b\n")
    src = CsvConnector().open_source({"path": str(tmp_path / "in.csv"), "header": False,
                                      "fields": ["id", "v"]}, ctx(Path("/nonexistent")))
    assert list(src.read(ReadRequest(cursor=CursorWindow("id", 2)))) == [{"id": "2", "v": "b"}]
    with pytest.raises(ConfigError, match="fields"):
        CsvConnector().open_source({"path": "in.csv", "header": False}, ctx(tmp_path))
    with pytest.raises(FatalError, match="does not exist"):
        CsvConnector().open_source({"path": "missing.csv"}, ctx(tmp_path))
    with pytest.raises(ConfigError, match="unknown text encoding 'utf-99'"):
        CsvConnector().open_sink({"path": "o.csv", "encoding": "utf-99"}, ctx(tmp_path))


def test_csv_in_a_legacy_encoding_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    sink = CsvConnector().open_sink({"path": "o.csv", "encoding": "cp1252", "delimiter": ";"},
                                    ctx(tmp_path))
    res = sink.write(ops({"sku": "B", "name": "茶"}, {"sku": "A", "name": "café"}))
    assert [o.ok for o in res] == [False, True]
    sink.close()
    assert (tmp_path / "o.csv").read_bytes() == b"sku;name\nA;caf\xe9\n"
    src = CsvConnector().open_source({"path": "o.csv", "encoding": "cp1252", "delimiter": ";"},
                                     ctx(tmp_path))
    assert list(src.read(ReadRequest())) == [{"sku": "A", "name": "café"}]


def ops(*records: dict[str, object]) -> list[WriteOp]:
    return [WriteOp("upsert", (r["sku"],), dict(r)) for r in records]


def test_jsonl_sink_appends_and_refuses_deletes(tmp_path: Path) -> None:
    sink = JsonlConnector().open_sink({"path": "out/o.jsonl"}, ctx(tmp_path))
    res = sink.write([*ops({"sku": "A", "n": 1}), WriteOp("delete", ("B",), {"sku": "B"})])
    assert [o.ok for o in res] == [True, False] and "delete" in (res[1].error or "")
    sink.close()
    sink = JsonlConnector().open_sink({"path": "out/o.jsonl"}, ctx(tmp_path))
    sink.write(ops({"sku": "C", "n": 2}))
    sink.close()
    lines = (tmp_path / "out/o.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x) for x in lines] == [{"sku": "A", "n": 1}, {"sku": "C", "n": 2}]


def test_csv_sink_writes_one_header_and_refuses_unknown_fields(tmp_path: Path) -> None:
    opts = {"path": "o.csv"}
    sink = CsvConnector().open_sink(opts, ctx(tmp_path))
    res = sink.write(ops({"sku": "A", "ok": True, "note": 'a,"b"'}, {"sku": "B", "ok": None},
                         {"sku": "C", "extra": 1}))
    assert [o.ok for o in res] == [True, True, False]
    sink.close()
    sink = CsvConnector().open_sink(opts, ctx(tmp_path))  # append: header read back, not rewritten
    sink.write(ops({"sku": "D", "note": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)}))
    sink.close()
    assert (tmp_path / "o.csv").read_text() == (
        'sku,ok,note\nA,true,"a,""b"""\nB,,\nD,,2024-05-01T12:30:00+00:00\n')


def test_overwrite_replaces_the_file_only_at_close(tmp_path: Path) -> None:
    target = tmp_path / "o.jsonl"
    target.write_text('{"old": 1}\n')
    sink = JsonlConnector().open_sink({"path": "o.jsonl", "mode": "overwrite"}, ctx(tmp_path))
    sink.write(ops({"sku": "A"}))
    assert target.read_text() == '{"old": 1}\n'  # a crash now would leave the old file whole
    sink.close()
    sink.close()
    assert target.read_text() == '{"sku":"A"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["o.jsonl"]


def test_a_killed_overwrite_leaves_the_old_file_and_acknowledged_appends_survive(
        tmp_path: Path) -> None:
    (tmp_path / "o.jsonl").write_text('{"old": 1}\n')
    script = textwrap.dedent(f"""
        import os, signal
        from connectors.api import ConnectorContext, WriteOp
        from connectors.files import JsonlConnector
        ctx = ConnectorContext(job="j", step="s", base_dir={str(tmp_path)!r})
        over = JsonlConnector().open_sink({{"path": "o.jsonl", "mode": "overwrite"}}, ctx)
        app = JsonlConnector().open_sink({{"path": "a.jsonl"}}, ctx)
        over.write([WriteOp("upsert", ("A",), {{"sku": "A"}})])
        app.write([WriteOp("upsert", ("A",), {{"sku": "A"}})])
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert proc.returncode == -9
    assert (tmp_path / "o.jsonl").read_text() == '{"old": 1}\n'
    assert (tmp_path / "a.jsonl").read_text() == '{"sku":"A"}\n'
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) == 1  # the abandoned temp file, never renamed over the target
