"""The producers of ``map`` that read paths of the source row: ``field``, ``coalesce`` and the
bare ``target:`` form, with their ``missing`` policy.

Paths follow :mod:`runner.paths`. An absent path (its root present, its tail not) raises
RecordError, which quarantines the record; ``missing: null`` makes it null and ``missing:
fail`` stops the run. ``coalesce`` passes over an absent path, and only when every one of its
paths was absent is the first absence the record's error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import RecordError, RunFailed
from runner.paths import getter, is_plain
from runner.spec import FieldMap

__all__ = ["coalesce_reader", "path_reader"]

FieldFn = Callable[[Mapping[str, Any]], Any]

def path_reader(fm: FieldMap, path: str) -> FieldFn:
    """The reader of a field's path, with its ``missing`` policy (quarantine by default)."""
    read = getter(path, where=fm.target, optional=fm.missing == "null")
    if fm.missing != "fail" or is_plain(path):
        return read
    return _failing(fm.target, read)


def _failing(target: str, read: FieldFn) -> FieldFn:
    """``missing: fail``: an absent path stops the run instead of quarantining the record."""

    def read_or_fail(row: Mapping[str, Any]) -> Any:
        try:
            return read(row)
        except RecordError as exc:
            raise RunFailed(f"{exc}; the run stops because of `missing: fail` (fix the path "
                            "or use missing: null / quarantine)") from exc

    return read_or_fail


def coalesce_reader(fm: FieldMap) -> FieldFn:
    """The first value that is neither null nor ``""``. An absent path is passed over; when
    every path was absent, the first absence is the record's error (see ``missing``)."""
    getters = tuple(getter(f, where=fm.target) for f in fm.coalesce)
    optional = fm.missing == "null"

    def coalesce(row: Mapping[str, Any]) -> Any:
        absent: RecordError | None = None
        present = False
        for get in getters:
            try:
                value = get(row)
            except RecordError as exc:
                absent = absent or exc
                continue
            present = True
            if value is not None and value != "":
                return value
        if absent is not None and not present and not optional:
            raise absent
        return None

    return coalesce if fm.missing != "fail" else _failing(fm.target, coalesce)

