"""Test hooks, installed by a test as callbacks; production code only calls what is there.

The crash tests kill a run at exact points ("after the destination acknowledged the Nth write,
before it was committed"): a test installs a callback here (in-process, or through the test
launcher ``tests/support/crashing_cli.py`` for a CLI subprocess). Nothing reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["after_write", "install_after_write"]

_after_write: list[Callable[[int], None]] = []


def install_after_write(callback: Callable[[int], None]) -> Callable[[], None]:
    """Call ``callback(n)`` after each acknowledged write of this process (``n`` counts them
    from 1), before its batch is committed. Returns the function that removes it."""
    _after_write.append(callback)
    return lambda: _after_write.remove(callback)


_count = [0]


def after_write() -> None:
    if not _after_write:
        return
    _count[0] += 1
    for callback in tuple(_after_write):
        callback(_count[0])
