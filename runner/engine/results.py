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
    written: int = 0  # created + updated + upserted
    created: int = 0
    updated: int = 0
    upserted: int = 0  # sent as an upsert: the destination did not say whether it was new
    ignored: int = 0  # acknowledged by a response rule that ignores the answer
    skipped: int = 0  # not sent (e.g. a create that may already exist): quarantined with why
    echoed: int = 0  # not sent: they only reported back what another step wrote (echo_guard)
    unchanged: int = 0
    removed: int = 0
    quarantined: int = 0
    duplicates: int = 0
    duplicate_keys: int = 0  # natural keys the destination holds more than once
    batches: int = 0
    retries: int = 0
    duration_s: float = 0.0
    error: str | None = None
    run_id: int | None = None
    planned: Any = None  # a dry run's recording sink (writes it would have sent)
    # a dry run's first few quarantined records: (key, source record, reason)
    quarantine_samples: list[tuple[Any, Any, str]] = field(default_factory=list)

    def written_parts(self) -> str:
        parts = [f"{name} {getattr(self, name)}" for name in ("created", "updated", "upserted")
                 if getattr(self, name) or name != "upserted"]
        return ", ".join(parts)

    def summary(self) -> str:
        extra = "".join(f", {name} {getattr(self, name)}"
                        for name in ("ignored", "skipped", "echoed") if getattr(self, name))
        if self.duplicate_keys:
            extra += f", {self.duplicate_keys} keys held twice at the destination"
        line = (
            f"{self.job}/{self.step} [{self.mode}] {self.status}: read {self.read}, "
            f"written {self.written} ({self.written_parts()}), "
            f"unchanged {self.unchanged}, removed {self.removed}, "
            f"quarantined {self.quarantined}, duplicates {self.duplicates}{extra} "
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
    dest_id: str | None = None


@dataclass
class StepPlan:
    """What a run of one step would do: the counts of the dry run (the run's own code with a
    recording sink) and, per action, the first few writes it would have sent."""

    job: str
    step: str
    mode: str
    read: int = 0
    creates: int = 0
    updates: int = 0
    upserts: int = 0
    unchanged: int = 0
    deletes: int = 0
    quarantined: int = 0
    skipped: int = 0
    echoed: int = 0
    duplicates: int = 0
    delete_action: str = "ignore"
    rewrites_unchanged: bool = False  # full mode writes unchanged records too
    destination_listed: bool = False
    error: str | None = None  # the dry run failed (e.g. the source could not be read)
    samples: dict[str, list[PlanSample]] = field(
        default_factory=lambda: {"create": [], "update": [], "upsert": [], "delete": [],
                                 "unchanged": [], "quarantine": []}
    )

    @property
    def failed(self) -> bool:
        return self.error is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "step": self.step,
            "mode": self.mode,
            "read": self.read,
            "creates": self.creates,
            "updates": self.updates,
            "upserts": self.upserts,
            "unchanged": self.unchanged,
            "deletes": self.deletes,
            "delete_action": self.delete_action,
            "quarantined": self.quarantined,
            "skipped": self.skipped,
            "echoed": self.echoed,
            "duplicates": self.duplicates,
            "rewrites_unchanged": self.rewrites_unchanged,
            "destination_listed": self.destination_listed,
            "error": self.error,
            "samples": {
                kind: [
                    {"key": list(s.key) if s.key is not None else None, "record": s.record,
                     "reason": s.reason, "dest_id": s.dest_id}
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
