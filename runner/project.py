"""Load every pipeline file of a project, validate each and all of them together.

>>> project = load_project(["pipelines"])          # doctest: +SKIP
>>> project.raise_for_errors()                     # doctest: +SKIP
>>> project.job("inventory").schedule.cron         # doctest: +SKIP
'*/15 * * * *'
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.config import Document, load_file
from runner.echo import attach_echo_fields
from runner.errors import ConfigError, ConfigProblem, redact
from runner.lang_v2 import PROJECT_FILE, ProjectDefaults, read_project, to_v1
from runner.schema_check import schema_problems
from runner.spec import Job
from runner.validate import Registry, check_document, check_project

__all__ = ["Project", "load_project", "pipeline_files"]


@dataclass
class Project:
    """The jobs that loaded cleanly, and every problem found (errors and warnings)."""

    jobs: dict[str, Job] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[ConfigProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[ConfigProblem]:
        return [p for p in self.problems if p.severity == "warning"]

    def raise_for_errors(self) -> None:
        """Raise :class:`ConfigError` with every error (warnings are not errors)."""
        if self.errors:
            raise ConfigError(self.errors)

    def job(self, name: str) -> Job:
        """The job called ``name``; ConfigError naming the known jobs otherwise."""
        if name in self.jobs:
            return self.jobs[name]
        known = ", ".join(sorted(self.jobs)) or "none"
        close = difflib.get_close_matches(name, list(self.jobs), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown job {name!r}; known jobs: {known}{hint}")


def pipeline_files(
    paths: Sequence[str | Path],
) -> tuple[list[Path], list[ConfigProblem]]:
    """Expand files and folders (``*.yaml``/``*.yml`` directly inside, sorted)."""
    files: list[Path] = []
    problems: list[ConfigProblem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir()
                if p.suffix in (".yaml", ".yml") and p.is_file() and p.name != PROJECT_FILE
            )
            if not found:
                problems.append(
                    ConfigProblem(str(raw), 0, 0, "", "no *.yaml or *.yml pipeline files here")
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(ConfigProblem(str(raw), 0, 0, "", "no such file or folder"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for file in files:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return unique, problems


def _neighbours(paths: Sequence[str | Path], named: set[Path]) -> list[Path]:
    """The other pipeline files in the folder of each file named alone: the project that file
    belongs to, so that its ``depends_on`` and keymap references to other jobs resolve."""
    folders = {Path(p).parent for p in paths if Path(p).is_file()}
    found, _ = pipeline_files(sorted(folders))
    return [f for f in found if f.resolve() not in named]


class _ProjectFiles:
    """The ``project.yaml`` of each folder, read once; its own problems are reported once."""

    def __init__(self, env: Mapping[str, str], strict_env: bool) -> None:
        self.env = env
        self.strict_env = strict_env
        self.read: dict[Path, ProjectDefaults | None] = {}

    def get(self, folder: Path) -> ProjectDefaults | None:
        key = folder.resolve()
        if key not in self.read:
            path = folder / PROJECT_FILE
            project = None
            if path.is_file():
                doc = load_file(path, env=self.env, strict_env=self.strict_env)
                project = read_project(doc) if isinstance(doc.data, dict) else (
                    ProjectDefaults(doc))
            self.read[key] = project
        return self.read[key]

    def problems(self, files: Sequence[Path]) -> list[ConfigProblem]:
        folders = {f.parent.resolve() for f in files}
        return [p for folder, project in self.read.items()
                if project is not None and folder in folders for p in project.doc.problems]


def _read_v2(doc: Document, project: ProjectDefaults | None) -> tuple[
        Document, Callable[[ConfigProblem], ConfigProblem], bool]:
    """A version 2 file checked against its own schema, then read into the version 1 form;
    the function that gives a problem found in that form its version 2 path; and whether the
    version 1 schema must still check the form."""
    if not doc.has_errors:
        schema_problems(doc, "pipeline")
    written = set(doc.problems)  # located and worded as written: no path to give back
    out, back = to_v1(doc, project)

    def back_later(problem: ConfigProblem) -> ConfigProblem:
        return problem if problem in written else back(problem)

    # A valid file that borrows only from a valid project.yaml fits the version 1 schema once
    # read (tests/unit/test_schema_v2.py holds the schemas and runner.lang_v2 to it), so the
    # second pass runs only where project.yaml has errors of its own.
    return out, back_later, project is not None and not project.valid


def load_project(
    paths: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
    neighbours: bool = True,
) -> Project:
    """Load, interpolate and validate the pipeline files under ``paths``.

    ``env`` defaults to ``os.environ``. Only files without errors become jobs; a job is also
    dropped when a check across files (duplicate name, unknown or cyclic depends_on) fails.
    A file named alone is checked against the other pipeline files of its folder (its
    project), whose own problems and jobs are left out; ``neighbours=False`` checks it alone
    (a folder of unrelated examples, such as the golden error cases, is no project).
    """
    environ = os.environ if env is None else env
    files, problems = pipeline_files(paths)
    # A project.yaml named alone is checked as what it is (project.schema.json), not as a job.
    shared_files = [f for f in files if f.name == PROJECT_FILE]
    files = [f for f in files if f.name != PROJECT_FILE]
    docs: list[Document] = []
    built: dict[str, Job] = {}
    registry = Registry.current()
    named = {f.resolve() for f in files}
    context = _neighbours(paths, named) if neighbours else []
    shared = _ProjectFiles(environ, strict_env)
    backs: dict[str, Callable[[ConfigProblem], ConfigProblem]] = {}
    for index, file in enumerate([*files, *context]):
        doc = load_file(file, env=environ, strict_env=strict_env)
        envelope = True
        if isinstance(doc.data, dict) and doc.data.get("version") == 2:
            doc, backs[doc.file], envelope = _read_v2(doc, shared.get(Path(file).parent))
        # A neighbour gives its name, dependencies, entities and guards; what its connectors
        # would say of their blocks is its own problem, reported when it is named (and the
        # GraphQL check alone imports graphql-core: ~0.1 s of a run's start).
        job = check_document(doc, registry, envelope=envelope, ask_connectors=index < len(files))
        docs.append(doc)
        if job is not None:
            built[doc.file] = job
    check_project(docs, built)
    built = attach_echo_fields(built)  # writers learn what the guards of any file need
    jobs: dict[str, Job] = {}
    for file in shared_files:
        shared.get(file.parent)
    problems.extend(shared.problems([*files, *shared_files]))
    for doc in docs[: len(files)]:  # the neighbours only gave context: not reported, not run
        back = backs.get(doc.file)
        if isinstance(doc.data, dict) and doc.data.get("version") == 1 and not doc.problems:
            doc.add("version", f"version 1 still loads, but is retired: `commerce-sync migrate "
                               f"{doc.file}` rewrites it in version 2", key=True,
                    severity="warning")
        problems.extend(map(back, doc.problems) if back else doc.problems)
        job = built.get(doc.file)
        if job is not None and not doc.has_errors:
            jobs[job.name] = job
    # Secrets were registered while loading; no message may carry one.
    cleaned = [replace(p, message=redact(p.message)) for p in problems]
    return Project(jobs=jobs, problems=sorted(set(cleaned)),
                   files=[str(f) for f in [*files, *shared_files]])
