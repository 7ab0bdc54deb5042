"""``reconcile``: billing's subscriptions against analytics', every difference with its reason.

The point is an equation the user can check: every subscription the billing system has
is either at the destination or missing for exactly one §6 reason, so
``source = present + Σ missing by reason`` holds to the unit. Statuses that differ get
the explanation of ``saasync.rules.reconcile``; subscriptions only analytics holds are
listed apart (they are not billing's, so they are outside the equation).

Reading the source and the destination lives here and in ``commands``; every judgement
is a call into ``saasync.rules``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from saasync.connector import Connector, Quarantined, ReadWindow
from saasync.destinations.base import customer_since_of
from saasync.models import (
    Customer,
    Invoice,
    Plan,
    SourceSubscription,
    SubscriptionStatus,
    to_utc,
)
from saasync.reasons import STATUS_CAUSE_DESCRIPTIONS, Reason, StatusCause
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer, histories_from
from saasync.rules.changeset import CustomerChanges, OutInvoice
from saasync.rules.reconcile import (
    StatusDifference,
    missing_reason,
    paid_until,
    quarantined_ids,
    raw_customer,
    raw_subscriptions,
    status_cause,
    status_matches,
    unsent_invoices,
)
from saasync.rules.status import (
    CustomerStatus,
    SubscriptionView,
    SubStatus,
    customer_status_at,
    subscription_status,
    views_for_customer,
)

MISSING_REASONS: tuple[Reason, ...] = (
    Reason.NO_INVOICE,
    Reason.ZERO_FIRST_INVOICE,
    Reason.FULLY_DISCOUNTED,
    Reason.NO_ACTIVE_INVOICE,
    Reason.ONE_TIME_ONLY,
    Reason.OPEN_EXCLUDED,
    Reason.QUARANTINED,
    Reason.NOT_YET_SYNCED,
)
# docs/rules.md §5 wording: why a subscription is missing (reasons.DESCRIPTIONS speaks of invoices).
MEANINGS: Mapping[Reason, str] = {
    Reason.NO_INVOICE: "the billing system has issued no invoice for it yet (trial, incomplete "
                       "signup)",
    Reason.ZERO_FIRST_INVOICE: "only $0 invoices so far: analytics creates it with the first "
                               "non-$0 invoice",
    Reason.FULLY_DISCOUNTED: "invoices exist, but discounts bring them to $0",
    Reason.NO_ACTIVE_INVOICE: "only draft / failed / void invoices, which are never sent",
    Reason.ONE_TIME_ONLY: "only one-time invoices: analytics cannot create a subscription "
                          "from them",
    Reason.OPEN_EXCLUDED: "only unpaid invoices, and open invoices are excluded "
                          "(open_invoices = \"exclude\")",
    Reason.QUARANTINED: "a record of it failed validation: see `saasync review`",
    Reason.NOT_YET_SYNCED: "eligible, but no run has sent it yet: run `saasync sync`",
}
__all__ = ["paid_until", "quarantined_ids"]  # re-exported: commands and explain use them
NOT_STARTED = "not_started"  # exists at the destination, but its first period starts after --at
DEFAULT_RULES = RuleSettings()  # open invoices excluded, no grace period


# -- reading ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceRead:
    """One full read of the source: normalized records, plus what failed to normalize."""

    customers: Mapping[str, Customer]
    plans: Mapping[str, Plan]
    subscriptions: Mapping[str, SourceSubscription]
    histories: Mapping[str, CustomerHistory]
    quarantined: tuple[Quarantined, ...] = ()

    def changes(self, customer_id: str, rules: RuleSettings,
                now: datetime | None = None) -> CustomerChanges:
        """What a sync would send for the customer; with ``now``, as a run at that time
        (automatic churn applies)."""
        history = self.histories.get(customer_id, CustomerHistory(customer_id))
        return build_customer(history, self.plans, rules, now)

    def invoices_of(self, customer_id: str) -> list[Invoice]:
        history = self.histories.get(customer_id)
        return list(history.invoices.values()) if history else []


def read_source(connector: Connector) -> SourceRead:
    """Everything the source holds now (a full read; nothing is written anywhere)."""
    records: list[Any] = []
    quarantined: list[Quarantined] = []
    for item in connector.read(ReadWindow()):
        if isinstance(item, Quarantined):
            quarantined.append(item)
        else:
            records.append(item)
    return SourceRead(
        customers={r.external_id: r for r in records if isinstance(r, Customer)},
        plans={r.external_id: r for r in records if isinstance(r, Plan)},
        subscriptions={r.external_id: r for r in records if isinstance(r, SourceSubscription)},
        histories=histories_from(records),
        quarantined=tuple(quarantined),
    )


class DestinationReader(Protocol):
    """What reconcile and explain read from a destination (``LocalStore`` provides it)."""

    def subscription_views(
        self, customer_external_id: str | None = None
    ) -> list[SubscriptionView]: ...

    def customer_external_ids(self) -> list[str]: ...

    def plans_by_external_id(self) -> dict[str, Plan]: ...


@dataclass(frozen=True)
class HeldDestination:
    """A destination's content held in memory: nothing synced yet, or a ChartMogul read-back."""

    invoices: Sequence[OutInvoice] = ()
    cancellations: Mapping[tuple[str, str], tuple[datetime, ...]] = field(default_factory=dict)
    customers: Sequence[str] = ()
    plans: Mapping[str, Plan] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: Any) -> HeldDestination:
        """From a ChartMogul ``DestinationSnapshot``; voided invoices count for nothing."""
        voided = {k for k, v in snapshot.invoice_status.items() if v == "voided"}
        return cls(
            invoices=[v for k, v in snapshot.invoices.items() if k not in voided],
            cancellations={k: m.cancellation_dates for k, m in snapshot.subscriptions.items()},
            customers=list(snapshot.customers),
            plans=dict(snapshot.plans),
        )

    def subscription_views(self, customer_external_id: str | None = None) -> list[SubscriptionView]:
        by_customer: dict[str, list[OutInvoice]] = {}
        for inv in self.invoices:
            if customer_external_id in (None, inv.customer_external_id):
                by_customer.setdefault(inv.customer_external_id, []).append(inv)
        views: list[SubscriptionView] = []
        for cid in sorted(by_customer):
            dates = {s: d for (c, s), d in self.cancellations.items() if c == cid}
            views.extend(views_for_customer(cid, by_customer[cid], dates))
        return views

    def customer_external_ids(self) -> list[str]:
        return list(self.customers)

    def plans_by_external_id(self) -> dict[str, Plan]:
        return dict(self.plans)


def quarantined_invoices(source: SourceRead, sub_id: str) -> list[tuple[str, datetime | None]]:
    """(id, issued at) of the invoices the connector quarantined whose raw lines bill
    ``sub_id``; the date is None when it is what could not be read."""
    out: list[tuple[str, datetime | None]] = []
    for item in source.quarantined:
        if item.kind != "invoice" or sub_id not in raw_subscriptions(item.raw):
            continue
        try:
            issued = to_utc((item.raw or {}).get("issued_at"))
        except (TypeError, ValueError):
            issued = None
        out.append((item.external_id or "?", issued))
    return out


def status_difference(source: SourceRead, sub: SourceSubscription, held: SubscriptionView,
                      at: datetime, rules: RuleSettings,
                      changes: CustomerChanges | None = None) -> StatusDifference | None:
    """The cause of a status difference, the same for ``reconcile`` and ``explain``:
    judged on what analytics holds, against what the rules would send now."""
    grace = timedelta(days=rules.grace_days)
    if status_matches(sub, subscription_status(held, at, grace)):
        return None
    cid = sub.customer_external_id
    built = changes if changes is not None else source.changes(cid, rules)
    markers = {m.subscription_external_id: m.cancellation_dates for m in built.cancellations}
    expected = next((v for v in views_for_customer(cid, built.invoices, markers)
                     if v.external_id == sub.external_id), None)
    renewals = unsent_invoices(sub.external_id, source.invoices_of(cid), built,
                               quarantined_invoices(source, sub.external_id))
    return status_cause(sub, held, at, grace=grace, expected=expected, renewals=renewals)


# -- the comparison ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Missing:
    subscription: str
    customer: str
    source_status: str
    reason: Reason


@dataclass(frozen=True)
class StatusMismatch:
    subscription: str
    customer: str
    source_status: str
    analytics_status: SubStatus
    code: StatusCause
    explanation: str
    invoice: str | None = None  # the invoice that causes it


@dataclass(frozen=True)
class DestinationOnly:
    subscription: str
    customer: str
    analytics_status: str


@dataclass(frozen=True)
class Reconciliation:
    at: datetime
    source_by_status: Mapping[str, int]
    source_customers: int
    destination_by_status: Mapping[str, int]
    destination_customers: Mapping[str, int]
    present: int
    missing: tuple[Missing, ...]
    mismatches: tuple[StatusMismatch, ...]
    destination_only: tuple[DestinationOnly, ...]

    @property
    def source_total(self) -> int:
        return sum(self.source_by_status.values())

    @property
    def missing_by_reason(self) -> dict[str, int]:
        counts = {r.value: 0 for r in MISSING_REASONS}
        for row in self.missing:
            counts[row.reason.value] = counts.get(row.reason.value, 0) + 1
        return counts

    @property
    def mismatches_by_cause(self) -> dict[str, int]:
        """Status differences per cause, every cause listed (they count subscriptions)."""
        counts = {c.value: 0 for c in StatusCause}
        for row in self.mismatches:
            counts[row.code.value] += 1
        return counts

    @property
    def balanced(self) -> bool:
        return self.source_total == self.present + sum(self.missing_by_reason.values())

    def equation(self) -> str:
        parts = " + ".join(f"{n} {r}" for r, n in self.missing_by_reason.items() if n)
        total = self.present + sum(self.missing_by_reason.values())
        sign = "=" if self.balanced else "≠"
        return (f"{self.source_total} source subscriptions {sign} {self.present} present at the "
                f"destination" + (f" + {parts}" if parts else "") + f" (= {total})")


QUARANTINED_GROUP = "quarantined"  # source subscriptions whose own record failed validation


def quarantined_subscriptions(source: SourceRead) -> list[tuple[str, str, str]]:
    """(subscription, customer, raw status) of each subscription record the connector
    quarantined: it never became a source subscription, but billing has it."""
    out = {}
    for item in source.quarantined:
        if item.kind != "subscription" or not item.external_id:
            continue
        if item.external_id in source.subscriptions:
            continue
        raw = item.raw or {}
        out[item.external_id] = (item.external_id, raw_customer(raw) or "?",
                                 str(raw.get("status") or "?"))
    return sorted(out.values(), key=lambda row: (row[1], row[0]))


def _source_status(sub: SourceSubscription) -> str:
    return sub.source_status or sub.status.value


def reconcile(
    source: SourceRead,
    destination: DestinationReader,
    at: datetime,
    rules: RuleSettings = DEFAULT_RULES,
    quarantined: Collection[str] = (),
) -> Reconciliation:
    """Compare billing with analytics at ``at``; ``quarantined``: see :func:`quarantined_ids`."""
    grace = timedelta(days=rules.grace_days)
    views = {(v.customer_external_id, v.external_id): v for v in destination.subscription_views()}
    source_keys = {(s.customer_external_id, s.external_id) for s in source.subscriptions.values()}
    by_group = {g.value: 0 for g in SubscriptionStatus}
    missing: list[Missing] = []
    mismatches: list[StatusMismatch] = []
    changes: dict[str, CustomerChanges] = {}
    for sub_id, cid, raw_status in quarantined_subscriptions(source):
        # its record failed validation: still one of billing's subscriptions
        by_group[QUARANTINED_GROUP] = by_group.get(QUARANTINED_GROUP, 0) + 1
        source_keys.add((cid, sub_id))
        if (cid, sub_id) not in views:
            missing.append(Missing(sub_id, cid, raw_status, Reason.QUARANTINED))
    ordered = sorted(source.subscriptions.values(),
                     key=lambda s: (s.customer_external_id, s.external_id))
    for sub in ordered:
        by_group[sub.status.value] += 1
        cid = sub.customer_external_id
        view = views.get((cid, sub.external_id))
        if view is None:
            if cid not in changes:
                changes[cid] = source.changes(cid, rules)
            built = changes[cid]
            ids = set(quarantined) | {q.external_id for q in built.quarantined}
            reason = missing_reason(sub.external_id, source.invoices_of(cid), built,
                                    present_at_destination=False, quarantined_ids=ids)
            assert reason is not None
            missing.append(Missing(sub.external_id, cid, _source_status(sub), reason))
            continue
        analytics = subscription_status(view, at, grace)
        if analytics is None or status_matches(sub, analytics):
            continue
        if cid not in changes:
            changes[cid] = source.changes(cid, rules)
        diff = status_difference(source, sub, view, at, rules, changes[cid])
        if diff is not None:
            mismatches.append(StatusMismatch(sub.external_id, cid, _source_status(sub), analytics,
                                             diff.code, diff.explanation, diff.invoice))
    dest_status = {s.value: 0 for s in SubStatus} | {NOT_STARTED: 0}
    only: list[DestinationOnly] = []
    statuses: dict[str, list[SubStatus | None]] = {}
    for key, view in sorted(views.items()):
        status = subscription_status(view, at, grace)
        statuses.setdefault(key[0], []).append(status)
        dest_status[status.value if status else NOT_STARTED] += 1
        if key not in source_keys:
            only.append(DestinationOnly(key[1], key[0], status.value if status else NOT_STARTED))
    customers = {s.value: 0 for s in (CustomerStatus.LEAD, CustomerStatus.ACTIVE,
                                      CustomerStatus.PAST_DUE, CustomerStatus.CANCELLED)}
    since = customer_since_of(destination)
    for cid in dict.fromkeys([*destination.customer_external_ids(), *statuses]):
        now = customer_status_at(since.get(cid), statuses.get(cid, []), at)
        if now is not None:  # a customer created after ``at`` counts under no status
            customers[now.value] += 1
    missing.sort(key=lambda m: (m.customer, m.subscription))
    return Reconciliation(
        at=at,
        source_by_status=by_group,
        source_customers=len(source.customers),
        destination_by_status=dest_status,
        destination_customers=customers,
        present=len(source_keys & set(views)),
        missing=tuple(missing),
        mismatches=tuple(mismatches),
        destination_only=tuple(only),
    )


# -- output -----------------------------------------------------------------------------------
CSV_COLUMNS = ("section", "subscription", "customer", "source_status", "analytics_status",
               "code", "detail", "invoice", "count")
# rows of the count sections: how many subscriptions per missing reason and per status cause
COUNT_SECTIONS = ("missing_by_reason", "status_difference_by_cause")


def reconcile_json(rec: Reconciliation) -> dict[str, Any]:
    """Stable keys: source, destination, equation, missing, status_differences, destination_only."""
    return {
        "at": rec.at.isoformat(),
        "source": {
            "subscriptions": {"total": rec.source_total, "by_status": dict(rec.source_by_status)},
            "customers": {"total": rec.source_customers},
        },
        "destination": {
            "subscriptions": {"total": sum(rec.destination_by_status.values()),
                              "by_status": dict(rec.destination_by_status)},
            "customers": {"total": sum(rec.destination_customers.values()),
                          "by_status": dict(rec.destination_customers)},
        },
        "equation": {
            "counts": "subscriptions",  # each reason counts subscriptions, never invoices
            "source_subscriptions": rec.source_total,
            "present_at_destination": rec.present,
            "missing_by_reason": rec.missing_by_reason,
            "balanced": rec.balanced,
            "text": rec.equation(),
        },
        "missing": [
            {"subscription": m.subscription, "customer": m.customer,
             "source_status": m.source_status, "reason": m.reason.value,
             "meaning": MEANINGS[m.reason]}
            for m in rec.missing
        ],
        "status_differences": [
            {"subscription": d.subscription, "customer": d.customer,
             "source_status": d.source_status, "analytics_status": d.analytics_status.value,
             "code": d.code.value, "invoice": d.invoice, "explanation": d.explanation}
            for d in rec.mismatches
        ],
        # every cause, zeros included; each counts subscriptions
        "status_differences_by_cause": rec.mismatches_by_cause,
        "destination_only": [
            {"subscription": o.subscription, "customer": o.customer,
             "analytics_status": o.analytics_status}
            for o in rec.destination_only
        ],
    }


def reconcile_rows(rec: Reconciliation) -> list[dict[str, str]]:
    """Every listed difference as one flat row (CSV and HTML use these), in CSV_COLUMNS;
    then the counts per missing reason and per status cause (``count``: subscriptions)."""
    blank = dict.fromkeys(CSV_COLUMNS, "")
    rows = [
        {**blank, "section": "missing", "subscription": m.subscription, "customer": m.customer,
         "source_status": m.source_status, "code": m.reason.value, "detail": MEANINGS[m.reason]}
        for m in rec.missing
    ]
    rows += [
        {**blank, "section": "status_difference", "subscription": d.subscription,
         "customer": d.customer, "source_status": d.source_status,
         "analytics_status": d.analytics_status.value, "code": d.code.value,
         "detail": d.explanation, "invoice": d.invoice or ""}
        for d in rec.mismatches
    ]
    rows += [
        {**blank, "section": "destination_only", "subscription": o.subscription,
         "customer": o.customer, "analytics_status": o.analytics_status,
         "detail": "analytics holds it; the billing system has no such subscription"}
        for o in rec.destination_only
    ]
    rows += [
        {**blank, "section": "missing_by_reason", "code": code, "count": str(n),
         "detail": MEANINGS[Reason(code)]}
        for code, n in rec.missing_by_reason.items()
    ]
    rows += [
        {**blank, "section": "status_difference_by_cause", "code": code, "count": str(n),
         "detail": STATUS_CAUSE_DESCRIPTIONS[StatusCause(code)]}
        for code, n in rec.mismatches_by_cause.items()
    ]
    return rows


def summary_pairs(rec: Reconciliation) -> list[tuple[str, str, str]]:
    """(what, billing, analytics) lines of the side-by-side summary; "-": no such status there."""
    dest = rec.destination_by_status
    lines = [("subscriptions", str(rec.source_total), str(sum(dest.values())))]
    names = [*rec.source_by_status, *(k for k in dest if k not in rec.source_by_status)]
    lines += [(f"  {k}", str(rec.source_by_status.get(k, "-")), str(dest.get(k, "-")))
              for k in names]
    lines.append(("customers", str(rec.source_customers),
                  str(sum(rec.destination_customers.values()))))
    lines += [(f"  {k}", "-", str(v)) for k, v in rec.destination_customers.items()]
    return lines


