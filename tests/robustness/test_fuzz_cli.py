"""Issue #8, bad input: generated and mutated pipeline files through the CLI entry point.

Seeds are the five shipped pipelines and the invalid fixtures; each input is one of: a seed
mutated at the YAML level (a key dropped, a value replaced by a random scalar or structure, a
list emptied), at the text level (truncated, a line duplicated, re-indented or deleted, random
bytes spliced in, broken UTF-8), or a random document. Every input goes to ``validate`` and to
``run`` through ``runner.cli.main.main``: neither may raise; ``validate`` exits 0 or 2, and
every input it refuses is refused by ``run`` too, with exit 2 and only located lines
(``file:line:col: ...``) on stderr. A handful also go through real subprocesses.

Default run: 100 inputs; soak (``COMMERCE_SYNC_SOAK=1 pytest -m soak tests/robustness``): 1,200.
"""

from __future__ import annotations

import copy
import io
import json
import random
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cli.main import main
from tests.robustness.harness import soak
from tests.support.trees import node_paths

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "pipelines").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "fixtures" / "invalid").glob("*.yaml"))
SUMMARY = re.compile(r"^\d+ files?, \d+ errors?, \d+ warnings?$")

SCALARS: list[Any] = [
    None, True, False, 0, -1, 10**20, 1.5, float("nan"), float("inf"), "", " ", "yes", "~",
    "${MISSING_VAR}", "${", "$${X}", "*/15 * * * *", "61 * * * *", "5m", "-3h", "1970-01-01",
    "25:99", "'; DROP TABLE products; --", "{record}", "{", "\u0000", "\ud800x", "é" * 300,
    [], {}, [1, [2, [3]]], {"connector": "nope"}, {"field": None},
]


def _tree_mutant(doc: Any, rng: random.Random) -> str:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = node_paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        roll = rng.random()
        if roll < 0.35 and isinstance(parent, dict):
            del parent[last]
        elif roll < 0.45 and isinstance(parent[last], list):
            parent[last] = []
        elif roll < 0.55 and isinstance(parent, dict):
            parent[f"{last}_{rng.randint(0, 9)}"] = copy.deepcopy(rng.choice(SCALARS))
        else:
            parent[last] = copy.deepcopy(rng.choice(SCALARS))
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return yaml.safe_dump({"version": 1, "name": "x"})


def _text_mutant(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines(keepends=True) or [""]
    roll = rng.random()
    if roll < 0.2:
        return text.encode()[: rng.randint(0, len(text.encode()))]
    if roll < 0.4:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif roll < 0.55:
        i = rng.randrange(len(lines))
        lines[i] = " " * rng.randint(1, 5) + lines[i]
    elif roll < 0.7:
        del lines[rng.randrange(len(lines))]
    elif roll < 0.85:
        data = bytearray("".join(lines).encode())
        for _ in range(rng.randint(1, 4)):
            data.insert(rng.randint(0, len(data)), rng.randint(0, 255))
        return bytes(data)
    else:
        i = rng.randrange(len(lines))
        junk = rng.choice([": :", "- - -", "{[", "&a *a", "!!python/object:os.system ls",
                           "\t\tkey: value", "version: 2", "<<: *x", "? ? ?"])
        lines.insert(i, junk + "\n")
    return "".join(lines).encode()


def _random_doc(rng: random.Random) -> str:
    def value(depth: int) -> Any:
        if depth > 2 or rng.random() < 0.4:
            return rng.choice(SCALARS)
        if rng.random() < 0.5:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        keys = ["version", "name", "steps", "jobs", "schedule", "source", "destination", "map",
                "key", "mode", "connections", "cursor", "filter", "x"]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 4))}

    doc = {"version": 1, "name": "fuzz", **{k: value(0) for k in ("steps", "schedule")}}
    return yaml.safe_dump(doc, sort_keys=False)


def inputs(count: int, seed: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    texts = [(p.stem, p.read_text(encoding="utf-8", errors="replace")) for p in SEEDS]
    docs = []
    for name, text in texts:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        try:
            # Alias cycles and alias bombs among the invalid fixtures stay text-level seeds.
            small = isinstance(doc, dict) and len(json.dumps(doc, default=str)) < 100_000
        except (ValueError, RecursionError):
            small = False
        if small:
            docs.append((name, doc))
    made: list[tuple[str, bytes]] = []
    while len(made) < count:
        roll = rng.random()
        if roll < 0.45:
            name, doc = rng.choice(docs)
            made.append((str(doc.get("name", name)), _tree_mutant(doc, rng).encode()))
        elif roll < 0.9:
            name, text = rng.choice(texts)
            made.append((name, _text_mutant(text, rng)))
        else:
            made.append(("fuzz", _random_doc(rng).encode()))
    return made


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _located_only(text: str, path: Path) -> int:
    """Every line names the file, line and column (or is validate's summary); returns how
    many located lines there were."""
    lines = [line for line in text.splitlines() if line.strip()]
    located = re.compile(rf"^{re.escape(str(path))}:\d+:\d+: \S")
    for line in lines:
        assert located.match(line) or SUMMARY.match(line), f"unlocated line: {line!r}"
    assert "Traceback" not in text
    found = sum(1 for line in lines if located.match(line))
    assert found, f"no located message in {text!r}"
    return found


def fuzz(tmp: Path, count: int, seed: int) -> dict[str, int]:
    tally = {"tried": 0, "refused": 0, "accepted": 0}
    state = tmp / "state.db"
    for index, (job, data) in enumerate(inputs(count, seed)):
        folder = tmp / f"in{index}"
        folder.mkdir()
        path = folder / "pipeline.yaml"
        path.write_bytes(data)
        tally["tried"] += 1
        code, out, err = _cli(["validate", str(path)])
        assert code in (0, 2), (code, err, data[:400])
        if code == 0:
            tally["accepted"] += 1
            continue
        tally["refused"] += 1
        # validate prints the problems on stdout and its summary on stderr
        assert SUMMARY.match(err.strip()), err
        _located_only(out, path)
        code, out, err = _cli(["run", job, "--pipelines", str(path), "--state", str(state)])
        assert code == 2, (code, out, err, data[:400])
        _located_only(err, path)
        assert out == ""
    return tally


@pytest.fixture(autouse=True)
def _no_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # A mutant that still validates is never run, but keep every URL unreachable anyway.
    monkeypatch.setenv("COMMERCE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ERP_DATABASE_URL", "sqlite:////nonexistent/erp.db")


def test_fuzzed_pipelines_through_validate_and_run(tmp_path: Path) -> None:
    tally = fuzz(tmp_path, 100, seed=8)
    print(f"fuzz: {tally}")
    assert tally["refused"] >= 60


@pytest.mark.soak
@pytest.mark.skipif(not soak(), reason="set COMMERCE_SYNC_SOAK=1 for the full count")
def test_fuzz_soak(tmp_path: Path) -> None:
    tally = fuzz(tmp_path, 1200, seed=88)
    print(f"fuzz soak: {tally}")
    assert tally["tried"] == 1200 and tally["refused"] >= 800


def test_a_handful_as_real_subprocesses(tmp_path: Path) -> None:
    for index, (job, data) in enumerate(inputs(1, seed=9)):
        path = tmp_path / f"p{index}.yaml"
        path.write_bytes(data)
        if _cli(["validate", str(path)])[0] != 2:
            continue
        for argv in (["validate", str(path)], ["run", job, "--pipelines", str(path)]):
            done = subprocess.run([sys.executable, "-m", "runner", *argv], capture_output=True,
                                  text=True, timeout=60, cwd=tmp_path)
            assert done.returncode == 2, (argv, done.stderr)
            _located_only(done.stdout + done.stderr, path)
