"""Rewrite version 1 pipeline files in version 2, keeping their comments and layout.

ruamel.yaml's round-trip mode keeps comments, key order, quoting and flow style; each change is
made in place on its tree, so a file's diff is the changes and little else. What it does:

- ``version: 1`` -> ``2``; a step's ``mode`` -> ``sync``, ``batch_size`` -> ``batch``; a
  composite job's ``mode`` -> ``sync``; the SQL destination's ``mode`` -> ``write``;
- a filter's ``not_null: X`` -> ``null: not X``;
- a lookup without ``missing`` gets ``missing: fail``, its version 1 default (version 2's is
  ``quarantine``), so the migrated job behaves as before;
- a SQL ``since_query`` that is its ``query`` plus a WHERE clause becomes
  ``incremental: {where: ...}``;
- connections defined the same way in every file that defines them move to ``project.yaml``;
  a connection's ``retry`` (seconds) becomes ``errors.retry`` (durations): under
  ``defaults.errors`` when every step of every file would get the same, else on each step.

>>> plan = plan_migration([Path("pipelines")])       # doctest: +SKIP
>>> plan.write()                                      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.lang_v2 import PROJECT_FILE, splice_where

__all__ = ["Migration", "plan_migration"]

_V1_RETRY_DEFAULTS = {"attempts": 5, "backoff": "1s", "max_backoff": "60s"}
_WS_RE = re.compile(r"\s+")
_TRAILING_RE = re.compile(r"[ \t]+$", re.M)
_NULL_KEY_RE = re.compile(r"(?<=[{\s,])'null':")
# An editor's schema line follows the file into version 2, and gives a new project.yaml its own.
_SCHEMA_LINE_RE = re.compile(
    r"^# (yaml-language-server: \$schema=\S*?)pipeline(-v1)?\.schema\.json", re.M)


def _yaml() -> Any:
    from ruamel.yaml import YAML  # here: only migrate pays for importing it

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 100  # the shipped files wrap at 100 columns; keep long flow lists wrapped
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _plain(node: Any) -> Any:
    """A ruamel node as plain dicts/lists, to compare two connections."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _rename(mapping: Any, old: str, new: str) -> None:
    """Rename a key where it stands, with its comments."""
    keys = list(mapping)
    position = keys.index(old)
    comment = mapping.ca.items.pop(old, None) if hasattr(mapping, "ca") else None
    value = mapping.pop(old)
    mapping.insert(position, new, value)
    if comment is not None:
        mapping.ca.items[new] = comment


def _seconds(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return f"{value:g}s"


@dataclass
class FileChange:
    path: Path
    original: str
    tree: Any
    notes: list[str] = field(default_factory=list)
    text: str = ""


@dataclass
class Migration:
    """What migrating some files would do: new texts and a note for every change."""

    files: list[FileChange] = field(default_factory=list)
    project_path: Path | None = None
    project_text: str | None = None
    project_original: str | None = None
    project_notes: list[str] = field(default_factory=list)

    def changed(self) -> list[Path]:
        out = [f.path for f in self.files if f.text != f.original]
        if self.project_path is not None and self.project_text != self.project_original:
            out.append(self.project_path)
        return out

    def report(self) -> list[str]:
        lines = [f"{f.path}: {note}" for f in self.files for note in f.notes]
        if self.project_path is not None:
            lines += [f"{self.project_path}: {note}" for note in self.project_notes]
        return lines

    def write(self) -> None:
        for change in self.files:
            if change.text != change.original:
                change.path.write_text(change.text, encoding="utf-8")
        if self.project_path is not None and self.project_text is not None and (
                self.project_text != self.project_original):
            self.project_path.write_text(self.project_text, encoding="utf-8")


def _files(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")
                          and p.name != PROJECT_FILE and p.is_file())
        else:
            out.append(path)
    return out


def plan_migration(paths: Sequence[Path]) -> Migration:
    """Plan the migration of the v1 files under ``paths`` (files or folders; one folder's
    files share one ``project.yaml``). Files already in version 2 are left as they are."""
    yaml = _yaml()
    migration = Migration()
    for path in _files(paths):
        text = path.read_text(encoding="utf-8")
        tree = yaml.load(text)
        if not isinstance(tree, dict) or tree.get("version") != 1:
            continue
        migration.files.append(FileChange(path, text, tree))
    if not migration.files:
        return migration
    folder = migration.files[0].path.parent
    project = _load_project(yaml, folder, migration)
    # The retry each step got in version 1, read before connections move and lose `retry`.
    known = _plain(project.get("connections") or {})
    retries = [(change, step, _legacy_retry(change.tree, step, known))
               for change in migration.files for step in change.tree.get("steps") or ()]
    shared = _share_connections(migration.files, project)
    connections = {**_plain(project.get("connections") or {})}
    _move_retry(migration, project, retries)
    for change in migration.files:
        _drop_connection_retry(change)
        _rewrite(change, connections)
        change.tree["version"] = 2
        change.notes.insert(0, "version: 1 -> 2")
        change.text = _dump(yaml, change.tree)
        if (line := _SCHEMA_LINE_RE.search(change.text)) and line.group(2):
            change.text = _SCHEMA_LINE_RE.sub(r"# \1pipeline.schema.json", change.text, count=1)
            change.notes.append("yaml-language-server: pipeline-v1.schema.json -> "
                                "pipeline.schema.json")
    if shared or project.get("defaults"):
        migration.project_path = folder / PROJECT_FILE
        migration.project_text = _dump(yaml, project)
    return migration


def _load_project(yaml: Any, folder: Path, migration: Migration) -> Any:
    from ruamel.yaml.comments import CommentedMap

    path = folder / PROJECT_FILE
    if path.is_file():
        migration.project_original = path.read_text(encoding="utf-8")
        loaded = yaml.load(migration.project_original)
        if isinstance(loaded, dict):
            return loaded
    project = CommentedMap()
    project["version"] = 2
    header = "Shared by every pipeline file of this folder (written by `commerce-sync migrate`)."
    lines = (_SCHEMA_LINE_RE.search(change.original) for change in migration.files)
    line = next((found for found in lines if found), None)
    if line is not None:  # the pipelines' schema is beside project.schema.json
        header = f"{line.group(1)}project.schema.json\n{header}"
    project.yaml_set_start_comment(header)
    return project


def _share_connections(files: Iterable[FileChange], project: Any) -> list[str]:
    """Move connections defined identically everywhere into the project file."""
    from ruamel.yaml.comments import CommentedMap

    seen: dict[str, list[tuple[FileChange, Any]]] = {}
    for change in files:
        for name, conn in (change.tree.get("connections") or {}).items():
            seen.setdefault(str(name), []).append((change, conn))
    existing = project.get("connections") or {}
    moved = []
    for name, uses in seen.items():
        shapes = [_without_retry(conn) for _, conn in uses]
        if any(shape != shapes[0] for shape in shapes):
            continue  # defined differently somewhere: each file keeps its own
        if name in existing and _without_retry(existing[name]) != shapes[0]:
            continue
        if name not in existing:
            if "connections" not in project:
                project["connections"] = CommentedMap()
            conn = copy.deepcopy(uses[0][1])
            if "retry" in conn:
                del conn["retry"]  # it becomes errors.retry (see _move_retry)
            project["connections"][name] = conn
        moved.append(name)
        for change, _ in uses:
            del change.tree["connections"][name]
            change.notes.append(f"connections.{name} -> {PROJECT_FILE}")
            if not change.tree["connections"]:
                del change.tree["connections"]
    return moved


def _without_retry(conn: Any) -> Any:
    plain = _plain(conn)
    if isinstance(plain, dict):
        plain.pop("retry", None)
    return plain


def _legacy_retry(tree: Any, step: Any, shared: dict[str, Any]) -> dict[str, Any] | None:
    """The retry a v1 step got from its connections (runner.build's rule), in durations."""
    local = _plain(tree.get("connections") or {})
    for role in ("destination", "source"):
        block = step.get(role)
        if not isinstance(block, dict):
            continue
        name = str(block.get("connection"))
        options = dict(local.get(name) or shared.get(name) or {})
        options.update(_plain(block))
        retry = options.get("retry")
        if isinstance(retry, dict):
            return {k: (_seconds(v) if k != "attempts" else v) for k, v in retry.items()
                    if k in ("attempts", "backoff", "max_backoff")}
    return None


def _move_retry(migration: Migration, project: Any,
                retries: list[tuple[FileChange, Any, dict[str, Any] | None]]) -> None:
    from ruamel.yaml.comments import CommentedMap

    needed = [(c, s, r) for c, s, r in retries if not (s.get("errors") or {}).get("retry")]
    kinds = {repr(r) for _, _, r in needed}
    own = any((s.get("errors") or {}).get("retry") for _, s, _ in retries)
    if needed and len(kinds) == 1 and needed[0][2] is not None and not own and (
            "defaults" not in project):
        flow = CommentedMap(needed[0][2])
        flow.fa.set_flow_style()
        project["defaults"] = CommentedMap(errors=CommentedMap(retry=flow))
        migration.project_notes.append("defaults.errors.retry: the connections' retry, "
                                       "in durations")
        return
    for change, step, retry in needed:
        if retry is None:
            continue
        if "errors" not in step:
            step["errors"] = CommentedMap()
            step["errors"].fa.set_flow_style()
        full = CommentedMap({**_V1_RETRY_DEFAULTS, **retry})
        full.fa.set_flow_style()
        step["errors"]["retry"] = full
        change.notes.append(f"steps {step.get('name')!r}: errors.retry from its connection")


def _drop_connection_retry(change: FileChange) -> None:
    for name, conn in (change.tree.get("connections") or {}).items():
        if isinstance(conn, dict) and "retry" in conn:
            del conn["retry"]
            change.notes.append(f"connections.{name}.retry -> errors.retry")


def _rewrite(change: FileChange, shared: dict[str, Any]) -> None:
    tree = change.tree
    notes = change.notes
    if "mode" in tree:
        _rename(tree, "mode", "sync")
        notes.append("mode -> sync (the composite's forced sync mode)")
    connections = {**shared, **_plain(tree.get("connections") or {})}
    for index, step in enumerate(tree.get("steps") or ()):
        where = f"steps[{index}]"
        for old, new in (("mode", "sync"), ("batch_size", "batch")):
            if old in step:
                _rename(step, old, new)
                notes.append(f"{where}.{old} -> {new}")
        _filters(step.get("filter"), f"{where}.filter", notes)
        for name, lookup in (step.get("lookups") or {}).items():
            _filters(lookup.get("filter"), f"{where}.lookups.{name}.filter", notes)
            _source(lookup.get("source"), f"{where}.lookups.{name}.source", connections, notes)
        _source(step.get("source"), f"{where}.source", connections, notes)
        destination = step.get("destination")
        if isinstance(destination, dict) and "mode" in destination and (
                _connector(destination, connections) == "sql"):
            _rename(destination, "mode", "write")
            notes.append(f"{where}.destination.mode -> write")
        _maps(step.get("map"), f"{where}.map", notes)


def _connector(block: Any, connections: dict[str, Any]) -> str | None:
    if isinstance(block.get("connector"), str):
        return str(block["connector"])
    conn = connections.get(block.get("connection")) or {}
    return conn.get("connector") if isinstance(conn, dict) else None


def _filters(node: Any, where: str, notes: list[str]) -> None:
    if not isinstance(node, dict):
        return
    if "not_null" in node:
        value = node["not_null"]
        _rename(node, "not_null", "null")
        node["null"] = not value
        notes.append(f"{where}.not_null: {str(value).lower()} -> null: {str(not value).lower()}")
    for kind in ("all", "any"):
        for index, item in enumerate(node.get(kind) or ()):
            _filters(item, f"{where}.{kind}[{index}]", notes)
    _filters(node.get("not"), f"{where}.not", notes)


def _maps(node: Any, where: str, notes: list[str]) -> None:
    if not isinstance(node, dict):
        return
    for target, spec in node.items():
        if not isinstance(spec, dict):
            continue
        if "lookup" in spec and "missing" not in spec:
            spec["missing"] = "fail"
            notes.append(f"{where}.{target}: missing: fail (version 1's default for a lookup;"
                         " version 2's is quarantine)")
        _maps(spec.get("each"), f"{where}.{target}.each", notes)


def _source(block: Any, where: str, connections: dict[str, Any], notes: list[str]) -> None:
    # ``block`` is a ruamel CommentedMap (it has insert); Any, as ruamel ships no stubs.
    if not isinstance(block, dict) or "since_query" not in block:
        return
    if _connector(block, connections) != "sql":
        return
    clause = _where_of(str(block.get("query") or ""), str(block["since_query"]))
    if clause is None:
        notes.append(f"{where}.since_query: NOT migrated (it is not the query plus a WHERE "
                     "clause); write `incremental: {where: ...}` by hand")
        return
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import LiteralScalarString

    incremental = CommentedMap(where=LiteralScalarString(clause + "\n"))
    mapping: Any = block
    position = list(mapping).index("since_query")
    del mapping["since_query"]
    mapping.insert(position, "incremental", incremental)
    notes.append(f"{where}.since_query -> incremental.where (the query is no longer repeated)")


def _where_of(query: str, since: str) -> str | None:
    """The clause ``since`` adds to ``query`` at its end, when that is all it adds."""
    q, s = _WS_RE.sub(" ", query).strip(), since.strip()
    flat = _WS_RE.sub(" ", s)
    if not flat.startswith(q + " "):
        return None
    rest = flat[len(q):].strip()
    if not rest.upper().startswith("WHERE "):
        return None
    # Keep the clause's own line breaks: find where it starts in the original text.
    start = [m.end() for m in re.finditer(r"\bWHERE\b", s, re.I)]
    clause_flat = rest[len("WHERE "):].strip()
    clause = next((s[i:].strip() for i in reversed(start)
                   if _WS_RE.sub(" ", s[i:]).strip() == clause_flat), None)
    if clause is None or splice_where(q, clause_flat) != f"{q} WHERE ({clause_flat})":
        return None
    return "\n".join(line.strip() if n else line for n, line in enumerate(clause.splitlines()))


def _dump(yaml: Any, tree: Any) -> str:
    out = io.StringIO()
    yaml.dump(tree, out)
    # ruamel re-wraps long flow lists and leaves a space at the end of each broken line.
    # It also quotes a `null` key (YAML 1.1 would read it as no key at all); pipeline files are
    # read with their own resolver, where `null:` is the filter's operator.
    return _NULL_KEY_RE.sub("null:", _TRAILING_RE.sub("", out.getvalue()))
