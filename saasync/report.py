"""The run report: every record read has exactly one outcome, and the counts add up.

``read = pushed + unchanged + skipped(reason) + quarantined(reason)``, per kind of record.
Operations on the destination (created, updated, voided, cancelled, reactivated) are
counted separately, because one record can cause several and a rebuild can cause some
for records that were not read in this run (``re_evaluated``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["pushed", "unchanged", "skipped", "quarantined"]


@dataclass(frozen=True)
class Op:
    """One change the destination needs, or would need in a dry run."""

    kind: str  # customer | plan | invoice | cancellation
    external_id: str
    action: str  # create | update | void | cancel | reactivate
    customer_external_id: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "external_id": self.external_id, "action": self.action}
        if self.customer_external_id:
            out["customer"] = self.customer_external_id
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class RecordOutcome:
    kind: str
    external_id: str
    outcome: Outcome
    reason: str | None = None
    message: str | None = None


@dataclass
class RunReport:
    connection: str
    mode: str
    dry_run: bool
    window: dict[str, str | None] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], RecordOutcome] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    failed_ops: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    re_evaluated_ops: int = 0
    status: str = "ok"
    error: str | None = None
    cursor_before: str | None = None
    cursor_after: str | None = None
    duration_s: float = 0.0

    def set(self, kind: str, external_id: str, outcome: Outcome, reason: str | None = None,
            message: str | None = None) -> None:
        self.outcomes[(kind, external_id)] = RecordOutcome(kind, external_id, outcome, reason, message)

    def get(self, kind: str, external_id: str) -> RecordOutcome | None:
        return self.outcomes.get((kind, external_id))

    # -- counts ----------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        by_outcome: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        quarantined: Counter[str] = Counter()
        for rec in self.outcomes.values():
            by_outcome[rec.outcome] += 1
            if rec.outcome == "skipped":
                skipped[rec.reason or "?"] += 1
            elif rec.outcome == "quarantined":
                quarantined[rec.reason or "?"] += 1
        read = len(self.outcomes)
        return {
            "read": read,
            "pushed": by_outcome["pushed"],
            "unchanged": by_outcome["unchanged"],
            "skipped": dict(sorted(skipped.items())),
            "quarantined": dict(sorted(quarantined.items())),
            "balanced": read
            == by_outcome["pushed"] + by_outcome["unchanged"] + sum(skipped.values())
            + sum(quarantined.values()),
        }

    def counts_by_kind(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = {}
        for rec in self.outcomes.values():
            row = table.setdefault(rec.kind, Counter())
            row["read"] += 1
            row[rec.outcome] += 1
        return {kind: dict(row) for kind, row in sorted(table.items())}

    def changes(self) -> dict[str, int]:
        names = {"create": "created", "update": "updated", "void": "voided",
                 "cancel": "cancelled", "reactivate": "reactivated"}
        counter: Counter[str] = Counter(names[op.action] for op in self.ops)
        return {name: counter[name] for name in names.values()}

    def as_dict(self, *, detail: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "connection": self.connection,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "status": self.status,
            "window": self.window,
            "counts": self.counts(),
            "by_kind": self.counts_by_kind(),
            "changes": self.changes(),
            "re_evaluated_ops": self.re_evaluated_ops,
            "cursor": {"before": self.cursor_before, "after": self.cursor_after},
            "duration_s": round(self.duration_s, 3),
        }
        if self.error:
            out["error"] = self.error
        if self.conflicts:
            out["conflicts"] = self.conflicts
        if self.failed_ops:
            out["failed_ops"] = self.failed_ops
        if detail:
            out["ops"] = [op.as_dict() for op in self.ops]
            out["skipped"] = [
                {"kind": r.kind, "external_id": r.external_id, "reason": r.reason}
                for r in self.outcomes.values() if r.outcome == "skipped"
            ]
            out["quarantined"] = [
                {"kind": r.kind, "external_id": r.external_id, "reason": r.reason,
                 "message": r.message}
                for r in self.outcomes.values() if r.outcome == "quarantined"
            ]
        return out
