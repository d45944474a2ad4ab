"""Whether a cron expression is valid, without importing croniter for the plain ones.

croniter (with dateutil) costs ~12 ms of a ``validate`` start. The schedules people write
are nearly always plain: each of the five fields ``*``, ``*/N``, a number, ``A-B`` or a list
of those, within the field's range. Those croniter accepts (tests/unit/test_cron_check.py
holds this to croniter); anything else is croniter's to judge, as before.
"""

from __future__ import annotations

import re

__all__ = ["valid_cron"]

# (lowest, highest) of minute, hour, day of month, month, day of week (0 = Sunday).
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_PART = re.compile(r"([0-9]{1,2})(?:-([0-9]{1,2}))?")
_STEP = re.compile(r"\*/([0-9]{1,2})")


def _plain_field(text: str, low: int, high: int) -> bool:
    if text == "*":
        return True
    if step := _STEP.fullmatch(text):
        return 1 <= int(step.group(1)) <= high
    for part in text.split(","):
        match = _PART.fullmatch(part)
        if match is None:
            return False
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if not low <= first <= last <= high:
            return False
    return True


def _plain(cron: str) -> bool:
    # ASCII only: str.split() also splits at a no-break space, which croniter does not.
    fields = cron.split() if cron.isascii() else ()
    return len(fields) == 5 and all(
        _plain_field(text, low, high) for text, (low, high) in zip(fields, _RANGES, strict=True)
    )


def valid_cron(cron: str) -> bool:
    """True when ``cron`` is a valid 5-field cron expression, as croniter reads it."""
    if len(cron.split()) != 5:
        return False
    if _plain(cron):
        return True
    from croniter import croniter  # here: only an expression out of the plain forms needs it

    return bool(croniter.is_valid(cron))
