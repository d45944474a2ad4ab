"""Small pure helpers the step runner and the planner share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from runner.spec import All, Filter
from runner.transforms.hashing import digest_after

__all__ = ["idempotency_key", "idempotency_keys", "norm_key", "pushed_part"]

_SEP = "\x1f"


def idempotency_key(job: str, step: str, key: tuple[str, ...], row_hash: str) -> str:
    """Stable across retries and reruns of the same change, different for a new change of the
    same record: a replayed batch (crash before commit) sends the keys it sent before.

    >>> idempotency_key("inv", "products", ("A1",), "h1") == idempotency_key(
    ...     "inv", "products", ("A1",), "h1")
    True
    """
    text = _SEP.join((job, step, *key, row_hash))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def idempotency_keys(job: str, step: str) -> Callable[[tuple[str, ...], str], str]:
    """:func:`idempotency_key` for one step, its constant prefix joined once (it runs once per
    record written).

    >>> idempotency_keys("inv", "products")(("A1",), "h1") == idempotency_key(
    ...     "inv", "products", ("A1",), "h1")
    True
    """
    digest = digest_after((_SEP.join((job, step)) + _SEP).encode())

    def key_of(key: tuple[str, ...], row_hash: str) -> str:
        return digest(((key[0] if len(key) == 1 else _SEP.join(key)) + _SEP + row_hash).encode())

    return key_of


def norm_key(key: Any) -> tuple[str, ...]:
    """A natural key as the state store keeps it: a tuple of strings."""
    if isinstance(key, tuple | list):
        return tuple("" if v is None else str(v) for v in key)
    return ("" if key is None else str(key),)


def pushed_part(flt: Filter | None, residual: Filter | None) -> Filter | None:
    """What a source took of ``flt`` when ``pushdown`` left ``residual`` to the engine.

    Only the parts of a top-level ``All`` can be split; for anything else a source either took
    the whole filter or none of it (a partial answer is treated as none, which stays correct
    because the engine then applies the whole filter itself).
    """
    if flt is None:
        return None
    if residual is None:
        return flt
    if residual == flt:
        return None
    if isinstance(flt, All):
        left = residual.items if isinstance(residual, All) else (residual,)
        taken = tuple(item for item in flt.items if item not in left)
        if not taken:
            return None
        return taken[0] if len(taken) == 1 else All(taken)
    return None
