"""An in-memory layer over a state store, for ``plan``: a run that records nothing.

Reads see the real store with this run's own commits laid over it; writes stay in memory. A
job's plan runs its steps in order on one overlay, so a later step finds the ids (placeholders)
that an earlier step's creates would have recorded, and the plan is what the run will do.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from runner.state.base import BatchCommit, Key, StateStore

__all__ = ["OverlayState"]

_GONE = object()


class OverlayState:
    """A :class:`StateStore` for dry runs. Scheduling, locks and quarantine are read from the
    real store (a plan never claims, locks or quarantines anything)."""

    def __init__(self, real: StateStore) -> None:
        self._real = real
        self._runs = itertools.count(-1, -1)
        self._cursors: dict[tuple[str, str], Any] = {}
        self._hashes: dict[tuple[str, str], dict[Key, Any]] = {}
        self._sources: dict[tuple[str, str], dict[Key, Any]] = {}  # _GONE: none stored
        self._keymap: dict[tuple[str, str], dict[Key, Any]] = {}
        self._intents: dict[tuple[str, str], dict[Key, tuple[str, str]]] = {}
        self._resolved: dict[tuple[str, str], set[Key]] = {}
        # echo memory: (job, step) -> key -> field -> value hash, or _GONE when used up
        self._echoes: dict[tuple[str, str], dict[Key, dict[str, Any]]] = {}

    def __getattr__(self, name: str) -> Any:
        # Everything a plan only reads (runs, quarantine_list, schedule...) is the real store's.
        return getattr(self._real, name)

    # runs: numbered apart from real ones, never stored
    def begin_run(self, job: str, step: str, mode: str) -> int:
        return next(self._runs)

    def finish_run(self, run_id: int, status: Any, error: str | None = None) -> None:
        return None

    def abandon_runs(self, job: str) -> int:
        return 0

    def job_lock(self, job: str, owner: str, wait_s: float = 0.0) -> AbstractContextManager[None]:
        return nullcontext()

    # progress
    def get_cursor(self, job: str, step: str) -> Any:
        if (job, step) in self._cursors:
            return self._cursors[(job, step)]
        return self._real.get_cursor(job, step)

    @staticmethod
    def _merged(layer: Mapping[Key, Any], real: dict[Key, str], keys: list[Key]) -> dict[Key, str]:
        for key in keys:
            if key in layer:
                value = layer[key]
                if value is _GONE:
                    real.pop(key, None)
                else:
                    real[key] = value
        return real

    def get_hashes(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, str]:
        wanted = list(keys)
        layer = self._hashes.get((job, step), {})
        return self._merged(layer, self._real.get_hashes(job, step, wanted), wanted)

    def get_source_hashes(self, job: str, step: str, keys: Iterable[Key]) -> dict[Key, str]:
        wanted = list(keys)
        layer = self._sources.get((job, step), {})
        return self._merged(layer, self._real.get_source_hashes(job, step, wanted), wanted)

    def iter_keys(self, job: str, step: str) -> Iterator[Key]:
        layer = self._hashes.get((job, step), {})
        for key in self._real.iter_keys(job, step):
            if layer.get(key) is not _GONE:
                yield key
        real_seen = set(self._real.get_hashes(job, step, list(layer)))
        for key, value in layer.items():
            if value is not _GONE and key not in real_seen:
                yield key

    def commit_batch(self, commit: BatchCommit) -> None:
        scope = (commit.job, commit.step)
        if commit.cursor is not None:
            self._cursors[scope] = commit.cursor
        hashes = self._hashes.setdefault(scope, {})
        hashes.update(commit.hashes)
        sources = self._sources.setdefault(scope, {})
        given = commit.source_hashes
        for key in commit.hashes:
            sources[key] = given.get(key, _GONE)
        sources.update(given)
        for key in commit.removed:
            hashes[key] = _GONE
            sources[key] = _GONE
        ids = self._keymap.setdefault((commit.job, commit.entity), {})
        ids.update(commit.keymap)
        for key in commit.unmapped:
            ids[key] = _GONE
        for job, step, key, fields in commit.echoes_used:
            used = self._echoes.setdefault((job, step), {}).setdefault(key, {})
            used.update(dict.fromkeys(fields, _GONE))
        for key, values in commit.echoes.items():
            self._echoes.setdefault(scope, {}).setdefault(key, {}).update(values)
        resolved = list(commit.resolved)
        if resolved:
            intents = self._intents.get(scope, {})
            for key in resolved:
                intents.pop(key, None)
            self._resolved.setdefault(scope, set()).update(resolved)

    def reset_step(self, job: str, step: str) -> None:
        self._cursors[(job, step)] = None
        layer = self._hashes.setdefault((job, step), {})
        sources = self._sources.setdefault((job, step), {})
        for key in self._real.iter_keys(job, step):
            layer[key] = _GONE
            sources[key] = _GONE

    # echo guards
    def echoes_get(self, job: str, step: str, keys: Iterable[Key],
                   fields: Iterable[str]) -> dict[Key, dict[str, str]]:
        wanted, names = list(keys), list(fields)
        found = self._real.echoes_get(job, step, wanted, names)
        layer = self._echoes.get((job, step), {})
        for key in wanted:
            for name, value in layer.get(key, {}).items():
                if name not in names:
                    continue
                if value is _GONE:
                    found.get(key, {}).pop(name, None)
                else:
                    found.setdefault(key, {})[name] = value
            if key in found and not found[key]:
                del found[key]
        return found

    # key map
    def keymap_get(self, job: str, entity: str, keys: Iterable[Key]) -> dict[Key, str]:
        wanted = list(keys)
        layer = self._keymap.get((job, entity), {})
        return self._merged(layer, self._real.keymap_get(job, entity, wanted), wanted)

    def keymap_put(self, job: str, entity: str, pairs: Mapping[Key, str]) -> None:
        self._keymap.setdefault((job, entity), {}).update(pairs)

    def keymap_any(self, job: str, entity: str) -> bool:
        layer = self._keymap.get((job, entity), {})
        return any(v is not _GONE for v in layer.values()) or self._real.keymap_any(job, entity)

    # write-ahead intents
    def intents_put(self, job: str, step: str, intents: Mapping[Key, str], run_id: int,
                    status: str = "pending") -> None:
        layer = self._intents.setdefault((job, step), {})
        gone = self._resolved.get((job, step), set())
        for key, idem in intents.items():
            layer[key] = (idem, status)
            gone.discard(key)

    def intents_pending(self, job: str, step: str) -> dict[Key, tuple[str, str]]:
        gone = self._resolved.get((job, step), set())
        found = {k: v for k, v in self._real.intents_pending(job, step).items() if k not in gone}
        found.update(self._intents.get((job, step), {}))
        return found

    def duplicates_put(self, job: str, entity: str, found: Mapping[Key, list[str]],
                       kept: Mapping[Key, str]) -> None:
        return None
