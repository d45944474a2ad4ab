"""Load one pipeline file: YAML with a line/column for every node, ``${ENV}`` interpolation.

The result is a :class:`Document`: plain Python values (dicts, lists, str, int, float, bool,
None) plus a map from JSON path (``steps[0].source.table``) to where that node was written, so
that every later check can say ``file:line:col``. Nothing here raises for a bad file: every
problem (syntax error, tab, duplicate key, binary garbage, missing variable) becomes a located
:class:`~runner.errors.ConfigProblem` in ``Document.problems``.

YAML 1.1 turns ``yes``/``no``/``on``/``off`` into booleans, ``22:00`` into 1320 and
``2024-01-01`` into a date; pipeline files are written by people who do not expect that, so the
resolver here knows only ``true``/``false``, ``null``, decimal numbers and strings.

>>> doc = load_text("name: ${JOB:-inventory}\\nwindow: 22:00\\non: x\\n", "p.yaml", env={})
>>> doc.data
{'name': 'inventory', 'window': '22:00', 'on': 'x'}
>>> doc.locate("window")
(2, 9)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from runner.errors import ConfigProblem, register_secret, register_url_secrets

__all__ = [
    "Document",
    "interpolate",
    "join_path",
    "load_file",
    "load_text",
    "secret_env_name",
]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT_RE = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
# Words YAML 1.1 reads as booleans; here they stay strings, and checks that expect a boolean
# mention them in their message.
YAML11_BOOLEAN_WORDS = frozenset(
    {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF"}
)

_MAX_NODES = 200_000  # alias expansion ("billion laughs") stops here
_MAX_DEPTH = 200

_VAR_RE = re.compile(r"\$(\$)?\{([^}]*)\}")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that resolves only true/false, null, decimal numbers and strings."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _regexp, _first in (
    (_BOOL, _BOOL_RE, list("tTfF")),
    (_NULL, _NULL_RE, ["~", "n", "N", ""]),
    (_INT, _INT_RE, list("-+0123456789")),
    (_FLOAT, _FLOAT_RE, list("-+0123456789.")),
):
    _Loader.add_implicit_resolver(_tag, _regexp, _first)


@dataclass
class Document:
    """One loaded file: its data, where each node was written, and what went wrong."""

    file: str
    data: Any = None
    # JSON path -> (line, col) of the value; keys -> (line, col) of the key itself.
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    base_dir: str = "."
    # Nodes written in another file (a version 2 pipeline's shared connections and defaults
    # come from project.yaml): JSON path here -> that file, so a problem points at ITS line.
    mark_files: dict[str, str] = field(default_factory=dict)

    def _find(self, path: str, key: bool) -> tuple[str, tuple[int, int]]:
        current = path
        while True:
            if key and current in self.key_marks:
                return current, self.key_marks[current]
            if current in self.marks:
                return current, self.marks[current]
            if not current:
                return current, (1, 1) if self.data is not None else (0, 0)
            current = parent_path(current)

    def locate(self, path: str, *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest written ancestor."""
        return self._find(path, key)[1]

    def problem(
        self, path: str, message: str, *, key: bool = False, severity: str = "error"
    ) -> ConfigProblem:
        found, (line, col) = self._find(path, key)
        file = self.mark_files.get(found, self.file)
        return ConfigProblem(file, line, col, path, message, severity)

    def add(self, path: str, message: str, *, key: bool = False, severity: str = "error") -> None:
        self.problems.append(self.problem(path, message, key=key, severity=severity))

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def join_path(parent: str, part: str | int) -> str:
    """``join_path("steps[0]", "source") == "steps[0].source"``; odd keys are quoted."""
    if isinstance(part, int):
        return f"{parent}[{part}]"
    if _IDENT_RE.match(part):
        return f"{parent}.{part}" if parent else part
    escaped = part.replace("\\", "\\\\").replace('"', '\\"')
    return f'{parent}["{escaped}"]'


def parent_path(path: str) -> str:
    """The path one level up (``steps[0].source`` -> ``steps[0]`` -> ``steps`` -> ``""``)."""
    if path.endswith("]"):
        quoted = path.endswith('"]')
        start = path.rfind('["') if quoted else path.rfind("[")
        return path[: max(start, 0)]
    cut = path.rfind(".")
    return path[:cut] if cut >= 0 else ""


def secret_env_name(name: str) -> bool:
    """Environment variables whose value must never be shown (``COMMERCE_API_KEY``...)."""
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def interpolate(
    text: str, env: Mapping[str, str]
) -> tuple[str, list[tuple[str, str]]]:
    """Replace ``${VAR}`` and ``${VAR:-default}``; ``$${`` is a literal ``${``.

    Returns the text and a list of ``(kind, detail)`` issues: ``("missing", NAME)`` for an
    unset variable without default, ``("malformed", FRAGMENT)`` for a bad reference.

    >>> interpolate("${HOST:-localhost}:${PORT}", {"PORT": "80"})
    ('localhost:80', [])
    >>> interpolate("$${NOT}", {})
    ('${NOT}', [])
    """
    issues: list[tuple[str, str]] = []
    if "$" not in text:
        return text, issues

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        inner = match.group(2)
        name, sep, default = inner.partition(":-")
        if not _NAME_RE.match(name):
            issues.append(("malformed", match.group(0)))
            return match.group(0)
        value = env.get(name)
        if value and secret_env_name(name):
            register_secret(value)
        if value and "://" in value:  # a URL may carry a password whatever its name
            register_url_secrets(value)
        if sep:
            return value if value else default
        if value is None:
            issues.append(("missing", name))
            return ""
        return value

    result = _VAR_RE.sub(replace, text)
    # A "${" left without its closing brace is a typo, not a literal.
    stripped = _VAR_RE.sub("", text)
    if "${" in stripped.replace("$${", ""):
        issues.append(("malformed", "${"))
    return result, issues


class _Builder:
    """Turns composed YAML nodes into plain values, recording marks and problems."""

    def __init__(self, doc: Document, env: Mapping[str, str], strict_env: bool) -> None:
        self.doc = doc
        self.env = env
        self.strict_env = strict_env
        self.count = 0
        self.too_big = False
        self.active: set[int] = set()  # collections being built, to catch recursive aliases

    def mark(self, node: Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: Node, path: str, depth: int = 0) -> Any:
        self.count += 1
        if self.count > _MAX_NODES or depth > _MAX_DEPTH:
            if not self.too_big:
                self.too_big = True
                self.doc.add(
                    path,
                    "the document is too large or too deeply nested (recursive or repeated "
                    "aliases?); write the pipeline out without them",
                )
            return None
        self.doc.marks.setdefault(path, self.mark(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.doc.add(path, "recursive alias: this node contains itself; remove the alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.doc.add(path, f"unsupported YAML tag {node.tag!r}; remove it")
                return [
                    self.build(item, join_path(path, index), depth + 1)
                    for index, item in enumerate(node.value)
                ]
            if isinstance(node, MappingNode):
                return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))
        self.doc.add(path, "unsupported YAML node")
        return None

    def mapping(self, node: MappingNode, path: str, depth: int) -> dict[str, Any]:
        if node.tag != _MAP:
            self.doc.add(path, f"unsupported YAML tag {node.tag!r}; remove it")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                line, col = self.mark(key_node)
                self.doc.problems.append(
                    ConfigProblem(
                        self.doc.file, line, col, path,
                        "a key must be a plain word, not a list or a mapping",
                    )
                )
                continue
            key = str(key_node.value)
            child = join_path(path, key)
            if key in result:
                first = self.doc.key_marks.get(child, (0, 0))[0]
                line, col = self.mark(key_node)
                self.doc.problems.append(
                    ConfigProblem(
                        self.doc.file, line, col, child,
                        f"duplicate key {key!r} (first written on line {first}); "
                        "keep one of them",
                    )
                )
                continue
            self.doc.key_marks[child] = self.mark(key_node)
            result[key] = self.build(value_node, child, depth + 1)
        return result

    def scalar(self, node: ScalarNode, path: str) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:
            value, issues = interpolate(text, self.env)
            for kind, detail in issues:
                self.report_env_issue(path, kind, detail)
            if value != text and not node.style:  # plain: None (Python) or "" (libyaml)
                # An unquoted ${PORT} that expands to 8080 is the number the author meant.
                return self.resolve_plain(value)
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        if tag == _INT:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                self.doc.add(path, f"{text!r} is not an integer")
                return None
        if tag == _FLOAT:
            try:
                return float(text.replace("_", ""))
            except ValueError:
                self.doc.add(path, f"{text!r} is not a number")
                return None
        self.doc.add(path, f"unsupported YAML tag {tag!r}; remove it or quote the value")
        return text

    def resolve_plain(self, text: str) -> Any:
        if _BOOL_RE.match(text):
            return text.lower() == "true"
        if text in ("null", "~"):
            return None
        if _INT_RE.match(text):
            return int(text.replace("_", ""))
        if _FLOAT_RE.match(text):
            try:
                return float(text.replace("_", ""))
            except ValueError:
                return text
        return text

    def report_env_issue(self, path: str, kind: str, detail: str) -> None:
        if kind == "missing":
            self.doc.add(
                path,
                f"environment variable {detail} is not set; set it, or give a default with "
                f"${{{detail}:-value}}",
                severity="error" if self.strict_env else "warning",
            )
        else:
            self.doc.add(
                path,
                f"malformed reference {detail!r}; write ${{NAME}} or ${{NAME:-default}}, "
                "or $${ for a literal ${",
            )


def _yaml_problem(file: str, exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}, {problem}" if context else str(problem)
    if "'\\t'" in message or "\t" in message:
        message = "tab character: YAML indentation must use spaces, not tabs"
    elif "expected a single document" in message:
        message = "more than one YAML document ('---'); put one pipeline in each file"
    else:
        message = f"YAML syntax error: {message}"
        # YAML notices an unclosed bracket or quote where it gives up, often lines later:
        # say where the construct began, which is usually the line to fix.
        start = getattr(exc, "context_mark", None)
        if start is not None and mark is not None and start.line != mark.line:
            message += f" (it began at line {start.line + 1}, column {start.column + 1})"
    return ConfigProblem(file, line, col, "", message)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def load_text(
    text: str,
    file: str,
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
    base_dir: str = ".",
) -> Document:
    """Parse ``text`` (the content of ``file``) into a :class:`Document`."""
    doc = Document(file=file, base_dir=base_dir)
    if "\t" in text:
        # PyYAML's own message for a tab ("cannot start any token") hides the cause.
        for lineno, raw_line in enumerate(text.splitlines(), start=1):
            indent = len(raw_line) - len(raw_line.lstrip(" \t"))
            if raw_line.strip() and "\t" in raw_line[:indent]:
                doc.problems.append(
                    ConfigProblem(
                        file, lineno, raw_line.index("\t") + 1, "",
                        "tab character: YAML indentation must use spaces, not tabs",
                    )
                )
                return doc
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line, col = _position(text, exc.position)
        doc.problems.append(
            ConfigProblem(
                file, line, col, "",
                f"the file contains a control character (#x{exc.character:04x}) "
                "that YAML does not allow; is this a text file?",
            )
        )
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(_yaml_problem(file, exc))
        return doc
    except RecursionError:
        doc.problems.append(
            ConfigProblem(file, 1, 1, "", "the document is nested too deeply to read")
        )
        return doc
    if root is None:
        doc.problems.append(
            ConfigProblem(
                file, 1, 1, "",
                "the file is empty; a pipeline needs at least version, name, and steps or jobs",
            )
        )
        return doc
    data = _Builder(doc, env if env is not None else {}, strict_env).build(root, "")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        doc.add(
            "",
            f"the top level must be a mapping of keys (version, name, steps...), not {kind}",
        )
        return doc
    doc.data = data
    return doc


def load_file(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
) -> Document:
    """Read and parse one pipeline file; unreadable or undecodable files become problems."""
    file = str(path)
    base_dir = str(Path(path).parent)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Document(
            file=file,
            base_dir=base_dir,
            problems=[ConfigProblem(file, 0, 0, "", f"cannot read the file: {reason}")],
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8", errors="replace")
        line, col = _position(before, len(before))
        return Document(
            file=file,
            base_dir=base_dir,
            problems=[
                ConfigProblem(
                    file, line, col, "",
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                    "save it as UTF-8",
                )
            ],
        )
    return load_text(text, file, env=env, strict_env=strict_env, base_dir=base_dir)
