"""What a run or a dry run reports back: plain dataclasses the CLI prints and tests inspect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["JobResult", "PlanSample", "StepPlan", "StepResult", "StepStatus"]

StepStatus = Literal["succeeded", "failed", "interrupted", "skipped", "planned"]


@dataclass
class StepResult:
    """Counts of one step of one run. ``duplicates`` are records whose key was already handled
    earlier in the same run (only the first occurrence is written)."""

    job: str
    step: str
    mode: str
    status: StepStatus = "succeeded"
    read: int = 0
    written: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    batches: int = 0
    retries: int = 0
    duration_s: float = 0.0
    error: str | None = None
    run_id: int | None = None

    def summary(self) -> str:
        line = (
            f"{self.job}/{self.step} [{self.mode}] {self.status}: read {self.read}, "
            f"written {self.written} (created {self.created}, updated {self.updated}), "
            f"unchanged {self.unchanged}, removed {self.removed}, "
            f"quarantined {self.quarantined}, duplicates {self.duplicates} "
            f"in {self.duration_s:.2f}s"
        )
        if self.error:
            line = f"{line}: {self.error}"
        return line


@dataclass(frozen=True)
class PlanSample:
    key: tuple[str, ...] | None
    record: dict[str, Any] | None = None
    reason: str | None = None


@dataclass
class StepPlan:
    """What a run of one step would do, judged against state and (where it can be listed) the
    destination. ``samples`` holds the first few of each kind."""

    job: str
    step: str
    mode: str
    read: int = 0
    creates: int = 0
    updates: int = 0
    unchanged: int = 0
    deletes: int = 0
    quarantined: int = 0
    duplicates: int = 0
    delete_action: str = "ignore"
    rewrites_unchanged: bool = False  # full mode writes unchanged records too
    destination_listed: bool = False
    samples: dict[str, list[PlanSample]] = field(
        default_factory=lambda: {"create": [], "update": [], "delete": [], "unchanged": [],
                                 "quarantine": []}
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "step": self.step,
            "mode": self.mode,
            "read": self.read,
            "creates": self.creates,
            "updates": self.updates,
            "unchanged": self.unchanged,
            "deletes": self.deletes,
            "delete_action": self.delete_action,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "rewrites_unchanged": self.rewrites_unchanged,
            "destination_listed": self.destination_listed,
            "samples": {
                kind: [
                    {"key": list(s.key) if s.key is not None else None, "record": s.record,
                     "reason": s.reason}
                    for s in items
                ]
                for kind, items in self.samples.items()
            },
        }


@dataclass
class JobResult:
    """The outcome of ``run_job``. ``status`` is the worst step status; a composite job's
    ``steps`` hold the steps of every job it ran, in order. ``partial``: every step finished
    but records were set aside in quarantine (exit code 3, so a wrapper can tell)."""

    job: str
    status: Literal["succeeded", "partial", "failed", "interrupted", "planned"] = "succeeded"
    steps: list[StepResult] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    run_id: int | None = None
    plan: list[StepPlan] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "partial", "planned")

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.steps)

    def settle(self) -> None:
        """A run that finished its steps but quarantined records is ``partial``."""
        if self.status == "succeeded" and self.quarantined:
            self.status = "partial"
