"""The long-lived scheduler: cron timing with time as a parameter, the serve loop, reload,
metrics and status. See :mod:`runner.scheduler.timing` for the DST and missed-run policies."""

from runner.scheduler.service import Due, Scheduler, parse_trigger_token, trigger_token
from runner.scheduler.timing import (
    DueDecision,
    decide,
    dependency_order,
    in_window,
    latest_slot,
    next_slot,
    slots_between,
)

__all__ = [
    "Due",
    "DueDecision",
    "Scheduler",
    "decide",
    "dependency_order",
    "in_window",
    "latest_slot",
    "next_slot",
    "parse_trigger_token",
    "slots_between",
    "trigger_token",
]
