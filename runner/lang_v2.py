"""Version 2 of the pipeline language, read into the same shape as version 1.

A version 2 pipeline differs from version 1 in its words, not in what it can say, so it is
rewritten here into the version 1 form that ``validate`` and ``build`` already check and build
into the same frozen :mod:`runner.spec` dataclasses; the engine never sees the difference.
Every node keeps the line it was written at, and a node that came from ``project.yaml`` (a
shared connection, a default) keeps that file too, so a problem points where it must be fixed.
Problem paths are given back in version 2 words (``steps[0].sync``, not ``steps[0].mode``).

What a file may say is ``schemas/pipeline.schema.json`` (and ``project.schema.json``), checked
before the rewrite, in the words written (:mod:`runner.schema_check`); the version 1 words are
refused there. The rewrite checks only what needs more than the file's shape: a ``mode`` on a
SQL destination (the connector decides), and an ``incremental`` clause its query cannot take.
The rename tables below are what a test holds the two schemas and this module to.

What version 2 changes (docs/pipeline-language.md has the why of each):

- ``project.yaml`` holds ``connections`` and ``defaults`` (``errors``, ``batch``,
  ``schedule.timezone|overlap|missed``) shared by every pipeline of its folder;
- a step's ``sync`` (v1 ``mode``), a composite job's ``sync``, the SQL destination's
  ``write`` (v1 ``mode``): three words for three things;
- ``batch`` is the step's one batch key (v1 ``batch_size``);
- ``errors.retry`` (durations) is the one retry key: a connection's ``retry`` is refused;
- not-null is said one way: ``null: true|false`` (v1 also took ``not_null``);
- ``missing`` defaults to ``quarantine`` for lookups and key maps alike;
- a SQL source has one ``query`` and an ``incremental: {where: ...}`` clause, spliced into the
  query for an incremental read (v1 repeated the query as ``since_query``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.config import Document, join_path
from runner.errors import ConfigProblem

__all__ = [
    "DEFAULT_KEYS",
    "JOB_RENAMES",
    "PROJECT_FILE",
    "PROJECT_KEYS",
    "SCHEDULE_DEFAULTS",
    "SQL_DESTINATION_RENAMES",
    "STEP_RENAMES",
    "ProjectDefaults",
    "read_project",
    "splice_where",
    "to_v1",
]

PROJECT_FILE = "project.yaml"
PROJECT_KEYS = ("version", "description", "connections", "defaults")
DEFAULT_KEYS = ("errors", "batch", "schedule")
SCHEDULE_DEFAULTS = ("timezone", "overlap", "missed")
# Version 2 word -> the version 1 word it is read into (every other key keeps its name).
JOB_RENAMES = {"sync": "mode"}
STEP_RENAMES = {"sync": "mode", "batch": "batch_size"}
SQL_DESTINATION_RENAMES = {"write": "mode"}
_TAIL_RE = re.compile(r"\b(GROUP\s+BY|ORDER\s+BY|HAVING|LIMIT|OFFSET|FETCH|WINDOW|FOR)\b", re.I)
_SET_RE = re.compile(r"\b(UNION|INTERSECT|EXCEPT)\b", re.I)
_WHERE_RE = re.compile(r"\bWHERE\b", re.I)


@dataclass
class ProjectDefaults:
    """A folder's ``project.yaml``: its document (for marks) and what it shares."""

    doc: Document
    connections: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """The file fits its schema: what it lends a pipeline needs no second check."""
        return not self.doc.has_errors


def read_project(doc: Document) -> ProjectDefaults:
    """Check a loaded ``project.yaml`` against ``schemas/project.schema.json`` (problems go to
    ``doc.problems``) and take what it shares; a part of the wrong shape is left out."""
    # Imported here: `migrate` uses this module's splice_where and needs no JSON Schema.
    from runner.schema_check import schema_problems

    schema_problems(doc, "project")
    data = doc.data if isinstance(doc.data, dict) else {}
    connections = data.get("connections")
    defaults = data.get("defaults")
    return ProjectDefaults(doc, connections if isinstance(connections, dict) else {},
                           defaults if isinstance(defaults, dict) else {})


def splice_where(query: str, where: str) -> str | None:
    """The query with ``where`` added to its top-level WHERE (or as one), before any GROUP BY,
    ORDER BY, LIMIT...; None when the query's shape makes that unsafe (UNION at top level).

    >>> splice_where("SELECT a FROM t ORDER BY a", "m >= :since")
    'SELECT a FROM t WHERE (m >= :since) ORDER BY a'
    >>> splice_where("SELECT (SELECT 1 FROM u WHERE x) FROM t WHERE b", "m >= :since")
    'SELECT (SELECT 1 FROM u WHERE x) FROM t WHERE (m >= :since) AND (b)'
    """
    text = query.rstrip().rstrip(";")
    depth, spans, start = 0, [], 0
    quote: str | None = None
    for index, char in enumerate(text):  # top-level (depth 0, unquoted) stretches of text
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            if depth == 0:
                spans.append((start, index))
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                start = index + 1
    if depth != 0 or quote:
        return None
    spans.append((start, len(text)))

    def first(regex: re.Pattern[str]) -> re.Match[str] | None:
        for lo, hi in spans:
            found = regex.search(text, lo, hi)
            if found:
                return found
        return None

    if first(_SET_RE):
        return None
    tail = first(_TAIL_RE)
    cut = tail.start() if tail else len(text)
    existing = first(_WHERE_RE)
    if existing is not None and existing.start() < cut:
        body = text[existing.end():cut].strip()
        head = text[: existing.start()].rstrip()
        spliced = f"{head} WHERE ({where}) AND ({body})"
    else:
        spliced = f"{text[:cut].rstrip()} WHERE ({where})"
    rest = text[cut:].strip()
    return f"{spliced} {rest}" if rest else spliced


class _Rewriter:
    """Rewrites one v2 document's data and marks into the v1 shape."""

    def __init__(self, doc: Document, project: ProjectDefaults | None) -> None:
        self.src = doc
        self.project = project
        self.data: dict[str, Any] = copy.deepcopy(doc.data)
        self.out = Document(file=doc.file, data=self.data, marks=dict(doc.marks),
                            key_marks=dict(doc.key_marks), problems=list(doc.problems),
                            base_dir=doc.base_dir)
        self.renames: list[tuple[str, str]] = []  # (v1 path, v2 path)

    # -- moving nodes and their marks -------------------------------------------------------

    def rename(self, parent: dict[str, Any], ppath: str, old: str, new: str) -> None:
        parent[new] = parent.pop(old)
        src, dst = join_path(ppath, old), join_path(ppath, new)
        for table in (self.out.marks, self.out.key_marks):
            for key in [k for k in table if _under(k, src)]:
                table[dst + key[len(src):]] = table.pop(key)
        self.renames.append((dst, src))

    def borrow(self, src_path: str, dst_path: str) -> None:
        """Marks of a project.yaml node (and below) for the node placed at ``dst_path``."""
        assert self.project is not None
        pdoc = self.project.doc
        for table, out in ((pdoc.marks, self.out.marks), (pdoc.key_marks, self.out.key_marks)):
            for key, mark in table.items():
                if _under(key, src_path):
                    target = dst_path + key[len(src_path):]
                    out[target] = mark
                    self.out.mark_files[target] = pdoc.file
        self.renames.append((dst_path, src_path))

    def refuse(self, path: str, message: str) -> None:
        self.out.add(path, message, key=True)

    # -- the rewrite --------------------------------------------------------------------------

    def run(self) -> Document:
        data = self.data
        for new, old in JOB_RENAMES.items():
            if new in data:
                self.rename(data, "", new, old)
        self.connections()
        self.schedule_defaults()
        steps = data.get("steps")
        for index, step in enumerate(steps if isinstance(steps, list) else ()):
            if isinstance(step, dict):
                self.step(step, join_path("steps", index))
        return self.out

    def connections(self) -> None:
        local = self.data.get("connections")
        if self.project is None or not self.project.connections:
            return
        merged = dict(local) if isinstance(local, dict) else {}
        for name, conn in self.project.connections.items():
            if name not in merged:  # a pipeline's own connection of that name wins
                merged[name] = copy.deepcopy(conn)
                self.borrow(join_path("connections", name), join_path("connections", name))
        self.data["connections"] = merged

    def schedule_defaults(self) -> None:
        defaults = self.project.defaults.get("schedule") if self.project else None
        if not isinstance(defaults, dict) or not defaults:
            return
        schedule = self.data.setdefault("schedule", {})
        if not isinstance(schedule, dict):
            return
        for key, value in defaults.items():
            if key in SCHEDULE_DEFAULTS and key not in schedule:
                schedule[key] = value
                self.borrow(join_path("defaults.schedule", key), join_path("schedule", key))

    def step(self, step: dict[str, Any], path: str) -> None:
        for new, old in STEP_RENAMES.items():
            if new in step:
                self.rename(step, path, new, old)
        self.step_defaults(step, path)
        lookups = step.get("lookups")
        for name, lookup in (lookups.items() if isinstance(lookups, dict) else ()):
            if isinstance(lookup, dict):
                lpath = join_path(join_path(path, "lookups"), name)
                self.block(lookup.get("source"), join_path(lpath, "source"), "source")
        self.block(step.get("source"), join_path(path, "source"), "source")
        self.block(step.get("destination"), join_path(path, "destination"), "destination")
        self.maps(step.get("map"), join_path(path, "map"))

    def step_defaults(self, step: dict[str, Any], path: str) -> None:
        defaults = self.project.defaults if self.project else {}
        if "batch" in defaults and "batch_size" not in step:
            step["batch_size"] = defaults["batch"]
            self.borrow("defaults.batch", join_path(path, "batch_size"))
        shared = defaults.get("errors")
        if not isinstance(shared, dict):
            return
        own = step.get("errors")
        if own is not None and not isinstance(own, dict):
            return
        merged = dict(own or {})
        epath = join_path(path, "errors")
        for key, value in shared.items():
            if key not in merged:
                merged[key] = copy.deepcopy(value)
                self.borrow(join_path("defaults.errors", key), join_path(epath, key))
            elif key == "retry" and isinstance(value, dict) and isinstance(merged[key], dict):
                retry = dict(merged[key])
                for rkey, rvalue in value.items():
                    if rkey not in retry:
                        retry[rkey] = rvalue
                        self.borrow(join_path("defaults.errors.retry", rkey),
                                    join_path(join_path(epath, "retry"), rkey))
                merged[key] = retry
        step["errors"] = merged

    def maps(self, node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for target, spec in node.items():
            if not isinstance(spec, dict):
                continue
            tpath = join_path(path, target)
            if ("lookup" in spec or "keymap" in spec) and "missing" not in spec:
                # One default for both: a record whose reference is missing is set aside with
                # its reason and the batch goes on (v1 stopped the run for a lookup).
                spec["missing"] = "quarantine"
            self.maps(spec.get("each"), join_path(tpath, "each"))

    def connector_of(self, block: Mapping[str, Any]) -> str | None:
        if isinstance(block.get("connector"), str):
            return str(block["connector"])
        conns = self.data.get("connections")
        name = block.get("connection")  # a list here is the schema's to report, not a crash
        conn = conns.get(name) if isinstance(conns, dict) and isinstance(name, str) else None
        return conn.get("connector") if isinstance(conn, dict) else None

    def block(self, block: Any, path: str, role: str) -> None:
        if not isinstance(block, dict) or self.connector_of(block) != "sql":
            return
        if role == "destination":
            if "mode" in block:
                self.refuse(join_path(path, "mode"), "`mode` is version 1 here; write "
                                                     "`write: upsert|insert|...`")
            for new, old in SQL_DESTINATION_RENAMES.items():
                if new in block:
                    self.rename(block, path, new, old)
            return
        self.incremental(block, path)

    def incremental(self, block: dict[str, Any], path: str) -> None:
        inc = block.get("incremental")
        if inc is None:
            return
        ipath = join_path(path, "incremental")
        where = inc.get("where") if isinstance(inc, dict) else None
        if not isinstance(where, str) or set(inc) != {"where"} or ":since" not in where:
            return  # the schema said what is wrong with its shape
        query = block.get("query")
        if not isinstance(query, str):
            self.out.add(ipath, "incremental needs the source's `query` to add its condition to"
                                " (with `table:`, the cursor field is filtered for you)")
            return
        spliced = splice_where(query, where)
        if spliced is None:
            self.out.add(ipath, "cannot add the condition to this query (a UNION or unbalanced "
                                "brackets at its top level); wrap the query in "
                                "SELECT * FROM (...) AS q")
            return
        del block["incremental"]
        block["since_query"] = spliced
        where_path = join_path(ipath, "where")
        since = join_path(path, "since_query")
        if where_path in self.out.marks:
            self.out.marks[since] = self.out.marks[where_path]
        self.renames.append((since, ipath))


def _under(key: str, prefix: str) -> bool:
    if not prefix:
        return True
    return key == prefix or (key.startswith(prefix) and key[len(prefix)] in ".[")


def _back(path: str, renames: list[tuple[str, str]]) -> str:
    for v1, v2 in reversed(renames):
        if _under(path, v1):
            return v2 + path[len(v1):]
    return path


def to_v1(doc: Document, project: ProjectDefaults | None) -> tuple[Document, Callable[
        [ConfigProblem], ConfigProblem]]:
    """The v1-shaped document of a version 2 pipeline, and the function that gives a problem
    found in it back its version 2 path."""
    rewriter = _Rewriter(doc, project)
    out = rewriter.run()
    renames = rewriter.renames

    def back(problem: ConfigProblem) -> ConfigProblem:
        path = _back(problem.path, renames)
        if path == problem.path:
            return problem
        return ConfigProblem(problem.file, problem.line, problem.col, path, problem.message,
                             problem.severity)

    return out, back
