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


DETAIL_CAP = 20_000  # records and changes listed one by one; beyond, only counted


@dataclass
class RunReport:
    """Counts are exact for any run size; the per-record lists stop at ``DETAIL_CAP``.

    Outcomes are set while a customer is processed and sealed into counters after it, so a
    backfill of millions of records keeps a bounded memory.
    """

    connection: str
    mode: str
    dry_run: bool
    window: dict[str, str | None] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    failed_ops: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    re_evaluated_ops: int = 0
    status: str = "ok"
    error: str | None = None
    cursor_before: str | None = None
    cursor_after: str | None = None
    duration_s: float = 0.0
    source_unchanged: bool = False  # the connector's fingerprint matched: nothing was read
    # how the changes went to the destination (bulk | per_customer) and why (saasync.runner)
    import_mode: str | None = None
    import_mode_reason: str | None = None
    # bulk imports an earlier run left in flight, settled first (saasync.inflight)
    settled_imports: list[dict[str, Any]] = field(default_factory=list)
    _open: dict[tuple[str, str], RecordOutcome] = field(default_factory=dict, repr=False)
    _details: dict[tuple[str, str], RecordOutcome] = field(default_factory=dict, repr=False)
    _tally: Counter[tuple[str, str, str]] = field(default_factory=Counter, repr=False)
    _changes: Counter[str] = field(default_factory=Counter, repr=False)
    _ops_seen: int = 0
    _plan_ops: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def set(self, kind: str, external_id: str, outcome: Outcome, reason: str | None = None,
            message: str | None = None) -> None:
        key = (kind, external_id)
        sealed = self._details.get(key) if key not in self._open else None
        if sealed is not None:  # changed after sealing (a bulk import settled it)
            self._tally[(kind, sealed.outcome, sealed.reason or "")] -= 1
            record = RecordOutcome(kind, external_id, outcome, reason, message)
            self._details[key] = record
            self._tally[(kind, outcome, reason or "")] += 1
            return
        self._open[key] = RecordOutcome(kind, external_id, outcome, reason, message)

    def amend(self, kind: str, external_id: str, was: Outcome, outcome: Outcome,
              reason: str | None = None) -> None:
        """Change a sealed outcome whose detail may be past the cap: the caller knows ``was``."""
        key = (kind, external_id)
        if key in self._open or key in self._details:
            self.set(kind, external_id, outcome, reason)
            return
        self._tally[(kind, was, "")] -= 1
        self._tally[(kind, outcome, reason or "")] += 1

    def get(self, kind: str, external_id: str) -> RecordOutcome | None:
        key = (kind, external_id)
        return self._open.get(key) or self._details.get(key)

    def seal(self) -> None:
        """Count what is open; keep its detail while under the cap."""
        for key, record in self._open.items():
            self._tally[(record.kind, record.outcome, record.reason or "")] += 1
            if len(self._details) < DETAIL_CAP or record.outcome == "quarantined":
                self._details[key] = record
        self._open.clear()

    def lead_with(self, keys: list[tuple[str, str]]) -> None:
        """List the records ``keys`` (sealed) first, and keep the others listed as if they had
        been sealed after them: a run that read and built in one pass (``saasync.lean``)
        then lists what a run that read everything first would."""
        self.seal()
        first = {key: self._details[key] for key in keys if key in self._details}
        listed = dict(first)
        for key, record in self._details.items():
            if key not in first and (len(listed) < DETAIL_CAP or record.outcome == "quarantined"):
                listed[key] = record
        self._details = listed

    def add_op(self, op: Op) -> None:
        if op.kind == "plan":
            self._plan_ops.add((op.external_id, op.action))
        self._changes[op.action] += 1
        self._ops_seen += 1
        if len(self.ops) < DETAIL_CAP:
            self.ops.append(op)

    def merge(self, part: RunReport) -> None:
        """Add another partition of the same run (see ``saasync.parallel``): counts add up,
        lists stay under the cap, and a plan change both partitions found counts once."""
        self.seal()
        part.seal()
        self._tally.update(part._tally)
        for key, record in part._details.items():
            if len(self._details) < DETAIL_CAP or record.outcome == "quarantined":
                self._details[key] = record
        twice = part._plan_ops & self._plan_ops  # a plan needed by customers of both
        for _, action in twice:
            self._changes[action] -= 1
            self._ops_seen -= 1
            self.re_evaluated_ops -= 1  # only partition 0 reports the plans it read
        self._changes.update(part._changes)
        self._ops_seen += part._ops_seen
        self.re_evaluated_ops += part.re_evaluated_ops
        self._plan_ops |= part._plan_ops
        ops = [op for op in part.ops
               if not (op.kind == "plan" and (op.external_id, op.action) in twice)]
        self.ops = sorted([*self.ops, *ops], key=_customer_order)[:DETAIL_CAP]
        self.failed_ops += part.failed_ops
        self.conflicts += part.conflicts
        rank = {"ok": 0, "partial": 1, "stopped": 2, "failed": 3}
        if rank.get(part.status, 0) > rank.get(self.status, 0):
            self.status = part.status
        self.error = self.error or part.error

    @property
    def ops_total(self) -> int:
        return self._ops_seen

    def _records(self) -> list[RecordOutcome]:
        return [*self._details.values(), *self._open.values()]

    def _all_tally(self) -> Counter[tuple[str, str, str]]:
        tally = Counter(self._tally)
        for record in self._open.values():
            tally[(record.kind, record.outcome, record.reason or "")] += 1
        return tally

    # -- counts ----------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        by_outcome: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        quarantined: Counter[str] = Counter()
        by_kind: dict[str, dict[str, Counter[str]]] = {"skipped": {}, "quarantined": {}}
        for (kind, outcome, reason), n in self._all_tally().items():
            if not n:
                continue
            by_outcome[outcome] += n
            if outcome == "skipped":
                skipped[reason or "?"] += n
            elif outcome == "quarantined":
                quarantined[reason or "?"] += n
            if outcome in by_kind:
                by_kind[outcome].setdefault(kind, Counter())[reason or "?"] += n
        read = sum(by_outcome.values())
        return {
            "read": read,
            "pushed": by_outcome["pushed"],
            "unchanged": by_outcome["unchanged"],
            "skipped": dict(sorted(skipped.items())),
            "quarantined": dict(sorted(quarantined.items())),
            # the same counts split by the kind of record each counts (invoice, subscription...)
            "skipped_by_kind": _nested(by_kind["skipped"]),
            "quarantined_by_kind": _nested(by_kind["quarantined"]),
            "balanced": read
            == by_outcome["pushed"] + by_outcome["unchanged"] + sum(skipped.values())
            + sum(quarantined.values()),
        }

    def counts_by_kind(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = {}
        for (kind, outcome, _), n in self._all_tally().items():
            if not n:
                continue
            row = table.setdefault(kind, Counter())
            row["read"] += n
            row[outcome] += n
        return {kind: dict(row) for kind, row in sorted(table.items())}

    def changes(self) -> dict[str, int]:
        names = {"create": "created", "update": "updated", "void": "voided",
                 "cancel": "cancelled", "reactivate": "reactivated"}
        return {name: self._changes[action] for action, name in names.items()}

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
        if self.source_unchanged:
            out["source_unchanged"] = True
        if self.import_mode is not None:
            out["import_mode"] = self.import_mode
            out["import_mode_reason"] = self.import_mode_reason
        if self.settled_imports:
            out["settled_imports"] = self.settled_imports
        if self.error:
            out["error"] = self.error
        if self.conflicts:
            out["conflicts"] = self.conflicts
        if self.failed_ops:
            out["failed_ops"] = self.failed_ops
        if detail:
            records = self._records()
            out["ops"] = [op.as_dict() for op in self.ops]
            # the records one by one; their counts by reason are counts.skipped/.quarantined
            out["skipped_records"] = [
                {"kind": r.kind, "external_id": r.external_id, "reason": r.reason,
                 **({"message": r.message} if r.message else {})}
                for r in records if r.outcome == "skipped"
            ]
            out["quarantined_records"] = [
                {"kind": r.kind, "external_id": r.external_id, "reason": r.reason,
                 "message": r.message}
                for r in records if r.outcome == "quarantined"
            ]
            if self._ops_seen > len(self.ops) or len(records) < out["counts"]["read"]:
                out["truncated"] = {"ops_listed": len(self.ops), "ops": self._ops_seen,
                                    "records_listed": len(records)}
        return out


def _nested(table: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {kind: dict(sorted(row.items())) for kind, row in sorted(table.items())}


def _customer_order(op: Op) -> tuple[bool, str]:
    """Plans first, then customer by customer, as one process lists them."""
    return (op.customer_external_id is not None, op.customer_external_id or "")
