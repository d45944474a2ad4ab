"""Echo guards across steps and jobs: what ``validate`` checks, and which writing steps must
remember what they wrote.

A step's ``echo_guard: {step: W, fields: [...], key: [...]}`` names the step W (of this job,
or ``job.step``) that writes those fields to the side this step reads. W remembers, per key
and field, a hash of each value the destination acknowledged; this step skips a record that
reports exactly that back (see :mod:`runner.engine.echoes`). W learns which of its fields to
remember here, when the project is loaded (:func:`attach_echo_fields`), so that a guard in
another file reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from runner.build import suggest
from runner.config import Document, join_path
from runner.spec import Job, Step

__all__ = ["attach_echo_fields", "check_echo_guards", "guarded_writer"]


def guarded_writer(job: Job, step: Step, by_name: Mapping[str, Job]) -> tuple[Job, Step] | None:
    """The job and step ``step``'s echo guard names, when both exist."""
    guard = step.echo_guard
    if guard is None:
        return None
    owner = by_name.get(guard.job) if guard.job else job
    if owner is None:
        return None
    found = next((s for s in owner.steps if s.name == guard.step), None)
    return (owner, found) if found is not None else None


def _mapped(step: Step) -> list[str] | None:
    return [fm.target for fm in step.mappings] if step.mappings is not None else None


def check_echo_guards(doc: Document, job: Job, by_name: Mapping[str, Job]) -> None:
    """Problems of each step's ``echo_guard`` in ``job`` (``by_name``: every loaded job)."""
    for index, step in enumerate(job.steps):
        guard = step.echo_guard
        if guard is None:
            continue
        path = join_path(join_path("steps", index), "echo_guard")
        where = join_path(path, "step")
        if guard.job is not None and guard.job not in by_name:
            doc.add(where, f"unknown job {guard.job!r} in echo_guard; loaded jobs: "
                           f"{', '.join(sorted(by_name)) or 'none'}{suggest(guard.job, by_name)}")
            continue
        found = guarded_writer(job, step, by_name)
        if found is None:
            owner = by_name.get(guard.job) if guard.job else job
            names = [s.name for s in owner.steps] if owner is not None else []
            doc.add(where, f"unknown step {guard.step!r} in echo_guard; job "
                           f"{(guard.job or job.name)!r} has: {', '.join(names) or 'none'}"
                           f"{suggest(guard.step, names)}")
            continue
        owner, writer = found
        if owner.name == job.name and writer.name == step.name:
            doc.add(where, "a step cannot guard against its own writes: name the step that "
                           "writes these fields to the side this step reads")
            continue
        mine, theirs = _mapped(step), _mapped(writer)
        for findex, name in enumerate(guard.fields):
            fpath = join_path(join_path(path, "fields"), findex)
            if mine is not None and name not in mine:
                doc.add(fpath, f"{name!r} is not mapped by this step; it maps: "
                               f"{', '.join(mine)}{suggest(name, mine)}")
            elif theirs is not None and name not in theirs:
                doc.add(fpath, f"{name!r} is not written by step {writer.name!r}; it writes: "
                               f"{', '.join(theirs)}{suggest(name, theirs)}")
        _check_key(doc, path, step, writer, mine)


def _check_key(doc: Document, path: str, step: Step, writer: Step,
               mine: list[str] | None) -> None:
    key = step.echo_guard.key if step.echo_guard is not None else ()
    kpath = join_path(path, "key")
    if key and len(key) != len(writer.key):
        doc.add(kpath, f"step {writer.name!r} is keyed by {len(writer.key)} field(s) "
                       f"({', '.join(writer.key)}); name as many of this step's fields, in "
                       "that order")
        return
    if mine is None:
        return
    for name in key or writer.key:
        if name not in mine:
            hint = "" if key else (" (the key defaults to the other step's key fields; set "
                                   "echo_guard.key to this step's fields holding it)")
            doc.add(kpath if key else path,
                    f"key field {name!r} is not mapped by this step{hint}; it maps: "
                    f"{', '.join(mine)}{suggest(name, mine)}")


def attach_echo_fields(jobs: Mapping[str, Job]) -> dict[str, Job]:
    """``jobs`` (by file or name) as the engine needs them: each guarded writing step with
    its ``echo_fields`` (the fields any loaded step guards against its writes), and each
    guard without ``key`` with the writing step's key field names."""
    by_name = {job.name: job for job in jobs.values()}
    wanted: dict[tuple[str, str], set[str]] = {}
    keys: dict[tuple[str, str], tuple[str, ...]] = {}
    for job in by_name.values():
        for step in job.steps:
            found = guarded_writer(job, step, by_name)
            if found is not None and step.echo_guard is not None:
                owner, writer = found
                wanted.setdefault((owner.name, writer.name), set()).update(
                    step.echo_guard.fields)
                keys[(job.name, step.name)] = step.echo_guard.key or writer.key
    if not wanted:
        return dict(jobs)
    out: dict[str, Job] = {}
    for where, job in jobs.items():
        steps = tuple(_attached(job.name, s, wanted, keys) for s in job.steps)
        out[where] = replace(job, steps=steps) if steps != job.steps else job
    return out


def _attached(job: str, step: Step, wanted: Mapping[tuple[str, str], set[str]],
              keys: Mapping[tuple[str, str], tuple[str, ...]]) -> Step:
    if (job, step.name) in wanted:
        step = replace(step, echo_fields=tuple(sorted(wanted[(job, step.name)])))
    if step.echo_guard is not None and (job, step.name) in keys:
        step = replace(step, echo_guard=replace(step.echo_guard, key=keys[(job, step.name)]))
    return step
