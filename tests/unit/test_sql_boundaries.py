"""The sql, csv/jsonl connectors and the conformance suite depend only on the public
connector API, the errors and the job model: never on the engine, state or CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import connectors

ROOT = Path(connectors.__file__).parent
MINE = [*sorted((ROOT / "sql").glob("*.py")), ROOT / "files.py", ROOT / "testing.py"]
ALLOWED = ("connectors.api", "connectors.sql", "runner.errors", "runner.spec")


def project_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found.update(n for n in names if n.split(".")[0] in ("runner", "connectors"))
    return found


def test_connectors_import_only_the_public_api() -> None:
    assert len(MINE) >= 7
    bad = {f"{p.relative_to(ROOT.parent)}: {name}" for p in MINE
           for name in project_imports(p) if not name.startswith(ALLOWED)}
    assert not bad, sorted(bad)
