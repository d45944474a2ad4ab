"""Small pipeline files the CLI tests write: one job copying JSON lines to JSON lines."""

from __future__ import annotations

from pathlib import Path

__all__ = ["COPY_PIPELINE", "copy_pipeline"]

# A version 1 job "copy", step "items", keyed by sku; format it with src and dst paths.
COPY_PIPELINE = """\
version: 1
name: copy
steps:
  - name: items
    source: {{connector: jsonl, path: {src}}}
    destination: {{connector: jsonl, path: {dst}}}
    key: sku
"""


def copy_pipeline(src: Path, dst: Path) -> str:
    """The text of the ``copy`` job from ``src`` to ``dst``."""
    return COPY_PIPELINE.format(src=src, dst=dst)
