"""The run's bookkeeping: each record's outcome, the destination's refusals, the review
queue's notes, and the ids quarantined.

The engine decides; the book writes it down. One book per run, so nothing carries over
from one run to the next. A dry run keeps the same book but writes nothing to the review
queue (``writes=False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saasync.connector import Quarantined
from saasync.errors import ConflictError
from saasync.mirror import ReadSet
from saasync.reasons import Reason
from saasync.rules.reconcile import quarantined_ids
from saasync.run_report import Op, RunReport
from saasync.state import ReviewItem, StateStore, now_iso


class RunBook:
    def __init__(self, state: StateStore, connection: str, report: RunReport, *,
                 writes: bool) -> None:
        self.state = state
        self.connection = connection
        self.report = report
        self.writes = writes
        self.accepted: set[str] = set()  # review keys of records the destination accepted
        self.review_keys: set[str] = set()
        # ids of quarantined records (and the subscriptions their raw lines name): a
        # subscription they leave out is QUARANTINED in the report, as in reconcile
        self.quarantined: set[str] = set()

    # -- what the source could not give -------------------------------------------------------
    def quarantine_read(self, item: Quarantined) -> None:
        """A record the connector could not normalize: in the report at once; queued for
        review once the read went through (``queue_read``)."""
        self.report.set(item.kind, item.key.split(":", 1)[1], "quarantined", item.reason.value,
                        item.message)
        self.quarantined |= quarantined_ids([(item.external_id, item.raw)])

    def queue_read(self, item: Quarantined) -> None:
        self.queue(item.kind, item.external_id, _customer_of(item), item.reason.value,
                   item.message, field=item.field, location=item.location, raw=item.raw,
                   key=item.key)

    def queue(self, kind: str, external_id: str | None, customer: str | None, reason: str,
              message: str, *, field: str | None = None, location: str | None = None,
              raw: Mapping[str, Any] | None = None, key: str | None = None) -> None:
        """An entry in the review queue (a real run only)."""
        if not self.writes:
            return
        stamp = now_iso()
        self.state.upsert_review(self.connection, ReviewItem(
            key=key or f"{kind}:{external_id}", kind=kind, external_id=external_id,
            customer_external_id=customer, reason=reason, field=field, message=message,
            location=location, raw=dict(raw) if raw is not None else None,
            first_seen=stamp, last_seen=stamp,
        ))

    # -- the review queue ---------------------------------------------------------------------
    def load_review(self) -> None:
        """What the review queue holds at the start of building: what may be resolved by
        this run, and the ids it keeps quarantined."""
        queued = self.state.review_items(self.connection)
        self.review_keys = {item.key for item in queued} if self.writes else set()
        self.quarantined |= quarantined_ids((item.external_id, item.raw) for item in queued)

    def accept(self, key: str) -> None:
        if key in self.review_keys:  # only what the review queue holds needs remembering
            self.accepted.add(key)

    def note_review(self, read: ReadSet) -> None:
        """Review entries of records read fine in this run are resolved at the end."""
        for key in self.review_keys:
            kind, _, ext = key.partition(":")
            outcome = self.report.get(kind, ext)
            if (kind, ext) in read and (outcome is None or outcome.outcome != "quarantined"):
                self.accepted.add(key)

    def resolve_review(self) -> None:
        if not self.writes:
            return
        self.state.resolve_review(self.connection, self.accepted & self.review_keys)

    # -- what the destination said ------------------------------------------------------------
    def refused(self, op: Op, exc: Exception) -> None:
        """The destination refused one change: listed in the report and queued for review."""
        conflict = isinstance(exc, ConflictError)
        reason = Reason.DESTINATION_CONFLICT if conflict else Reason.DESTINATION_REJECTED
        entry = {**op.as_dict(), "error": str(exc)}
        (self.report.conflicts if conflict else self.report.failed_ops).append(entry)
        self.queue(op.kind, op.external_id, op.customer_external_id, reason.value, str(exc))

    def outcome(self, kind: str, external_id: str, accepted: bool | None, read: bool,
                reason: str | None = None) -> None:
        """A record read in this run is pushed (or would be, in a dry run) or, refused,
        quarantined with the destination's reason."""
        if not read:
            return
        report = self.report
        if accepted is False:
            conflicted = any(c["external_id"] == external_id for c in report.conflicts)
            reason = Reason.DESTINATION_CONFLICT if conflicted else Reason.DESTINATION_REJECTED
            report.set(kind, external_id, "quarantined", reason.value)
        else:
            report.set(kind, external_id, "pushed", reason)


def _customer_of(item: Quarantined) -> str | None:
    """The customer a quarantined record belongs to, when its source row says."""
    if item.kind == "customer":
        return item.external_id
    value = (item.raw or {}).get("customer_external_id")
    return str(value) if value not in (None, "") else None
