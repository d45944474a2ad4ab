"""``validate`` asks each connector what it would refuse when it opens (``Connector.check``).

Everything a run could raise from configuration must be a located ``validate`` error first: a
run that fails mid-job on a bad request template has already written its earlier steps. The
connector knows its own rules; this module gives it what the step says (the fields each record
will carry, the key) and places each problem at the line the option was written on.
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.api import CheckContext, Connector, OptionProblem
from runner.build import ResolvedBlock
from runner.config import Document, join_path
from runner.spec import Step

__all__ = ["check_connector_block", "record_fields"]


def record_fields(step: Step, source_fields: Sequence[str] | None) -> frozenset[str] | None:
    """The fields each record reaching the destination carries, when knowable: the mapping's
    targets, or the source's fields for a step without a mapping. Plugins and flattening make
    fields no one can know without running them."""
    if step.transforms or step.flatten is not None:
        return None
    if step.mappings is not None:
        return frozenset(fm.target for fm in step.mappings)
    if source_fields is None:
        return None
    return frozenset(source_fields) | ({step.nest.into} if step.nest else set())


def _place(block: ResolvedBlock, dotted: str) -> str:
    parts = [p for p in dotted.split(".") if p] if dotted else []
    if not parts:
        return block.path
    base = block.origin.get(parts[0], join_path(block.path, parts[0]))
    for part in parts[1:]:
        base = join_path(base, int(part) if part.isdigit() else part)
    return base


def check_connector_block(doc: Document, cls: type[Connector], block: ResolvedBlock,
                          ctx: CheckContext) -> None:
    try:
        problems: list[OptionProblem] = cls().check(block.options, ctx)
    except Exception as exc:  # a plugin's bug must not become a traceback in validate
        doc.add(block.path, f"connector {block.connector!r} failed to check its options: "
                            f"{type(exc).__name__}: {exc}; report this to its author",
                severity="warning")
        return
    for problem in problems:
        doc.add(_place(block, problem.path), problem.message, severity=problem.severity)
