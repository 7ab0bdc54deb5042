"""How analytics derives statuses and MRR from what was sent (docs/rules.md §4).

Inputs are destination-side facts only: the invoices that were sent and the
cancellation dates. The local store, ``reconcile`` and ``explain`` all call this.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from saasync.models import Plan
from saasync.rules.changeset import OutInvoice, OutLine
from saasync.rules.mrr import line_mrr_exact, round_minor


class SubStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"


class CustomerStatus(StrEnum):
    LEAD = "Lead"
    ACTIVE = "Active"
    PAST_DUE = "Past-Due"
    CANCELLED = "Cancelled"


@dataclass(frozen=True)
class SubscriptionView:
    """One subscription as analytics holds it: its sent invoices and cancellation dates."""

    external_id: str
    customer_external_id: str
    invoices: tuple[OutInvoice, ...]  # only invoices with a line of this subscription
    cancellation_dates: tuple[datetime, ...] = ()
    # The analytics side's own automatic churn (a ChartMogul data source's
    # auto_churn_subscription_setting): None when off.
    auto_churn_after: timedelta | None = None

    def lines(self, invoice: OutInvoice) -> list[OutLine]:
        return [
            line
            for line in invoice.lines
            if line.kind == "subscription" and line.subscription_external_id == self.external_id
        ]

    def issued_by(self, at: datetime) -> list[OutInvoice]:
        return sorted(
            (inv for inv in self.invoices if inv.date <= at),
            key=lambda inv: (inv.date, inv.external_id),
        )

    @property
    def starts_at(self) -> datetime | None:
        starts = [
            line.service_period_start
            for inv in self.invoices
            for line in self.lines(inv)
            if line.service_period_start is not None
        ]
        dates = starts + [inv.date for inv in self.invoices]
        return min(dates) if dates else None


def auto_churn_dates(
    view: SubscriptionView, after: timedelta, at: datetime
) -> tuple[datetime, ...]:
    """Where automatic churn cancels a subscription, as known at ``at``: the end of each
    service period followed by more than ``after`` without an invoice covering anything
    later (the gap before a later invoice's period, or the time up to ``at``).

    A pure rule of the invoices: the same invoices and ``at`` always give the same dates,
    and a later invoice never erases a gap that had already passed ``after``.
    """
    periods = sorted(
        (line.service_period_start, line.service_period_end)
        for inv in view.issued_by(at)
        for line in view.lines(inv)
        if line.service_period_start is not None and line.service_period_end is not None
    )
    out: list[datetime] = []
    covered: datetime | None = None
    for start, end in periods:
        if covered is not None and start - covered > after:
            out.append(covered)
        covered = end if covered is None else max(covered, end)
    if covered is not None and at - covered > after:
        out.append(covered)
    return tuple(out)


def cancellations_at(view: SubscriptionView, at: datetime) -> tuple[datetime, ...]:
    """The cancellation dates analytics applies at ``at``: the ones sent, plus those of its
    own automatic churn when the view has it on."""
    if view.auto_churn_after is None:
        return view.cancellation_dates
    auto = auto_churn_dates(view, view.auto_churn_after, at)
    return tuple(sorted({*view.cancellation_dates, *auto}))


def _is_cancelled(view: SubscriptionView, at: datetime) -> bool:
    past = [d for d in cancellations_at(view, at) if d <= at]
    if not past:
        return False
    last_cancel = max(past)
    # A later invoice for a period starting strictly after the cancellation means it came
    # back. The invoice whose period the cancellation cut short (issued before it, or with
    # its period starting at the very instant of the cancellation) is not a resumption.
    resumed = any(
        line.service_period_start is not None
        and line.service_period_start > last_cancel
        and inv.date >= last_cancel
        for inv in view.issued_by(at)
        for line in view.lines(inv)
    )
    return not resumed


def _paid_by(invoice: OutInvoice, at: datetime) -> bool:
    if sum(line.amount for line in invoice.lines) <= 0:
        return True  # nothing to pay: a $0 invoice is never "unpaid after its due date"
    return any(
        t.type == "payment" and t.result == "successful" and t.date <= at
        for t in invoice.transactions
    )


def subscription_status(
    view: SubscriptionView, at: datetime, grace: timedelta = timedelta(0)
) -> SubStatus | None:
    """The subscription's status at ``at``; None when it does not exist yet."""
    issued = view.issued_by(at)
    start = view.starts_at
    if not issued or start is None or start > at:
        return None
    if _is_cancelled(view, at):
        return SubStatus.CANCELLED
    ends = [line.service_period_end for inv in issued for line in view.lines(inv)]
    covered_until = max((end for end in ends if end is not None), default=None)
    if covered_until is not None and covered_until < at - grace:
        return SubStatus.PAST_DUE  # (a) the paid-for period ran out and nothing covers now
    latest = issued[-1]
    if latest.due_date is not None and latest.due_date < at and not _paid_by(latest, at):
        return SubStatus.PAST_DUE  # (b) unpaid after its due date
    attempts = sorted(
        (t for t in latest.transactions if t.type == "payment" and t.date <= at),
        key=lambda t: t.date,
    )
    if attempts and attempts[-1].result == "failed":
        return SubStatus.PAST_DUE  # (b) its latest payment attempt failed
    return SubStatus.ACTIVE


def subscription_mrr(
    view: SubscriptionView, plans: Mapping[str, Plan], at: datetime, grace: timedelta = timedelta(0)
) -> tuple[str, int] | None:
    """(currency, MRR in minor units) at ``at``: the latest sent invoice's lines for it.

    A past-due subscription keeps contributing MRR; a cancelled one contributes nothing.
    """
    status = subscription_status(view, at, grace)
    if status is None or status is SubStatus.CANCELLED:
        return None
    latest = view.issued_by(at)[-1]
    total = sum(
        (
            line_mrr_exact(line, plans[line.plan_external_id])
            for line in view.lines(latest)
            if line.plan_external_id is not None and line.plan_external_id in plans
        ),
        start=Fraction(0),
    )
    return latest.currency, round_minor(total)


def customer_status(statuses: Iterable[SubStatus | None]) -> CustomerStatus:
    """Precedence Past-Due > Active > Cancelled > Lead (subscriptions that do not exist yet don't count)."""
    present = [s for s in statuses if s is not None]
    if SubStatus.PAST_DUE in present:
        return CustomerStatus.PAST_DUE
    if SubStatus.ACTIVE in present:
        return CustomerStatus.ACTIVE
    if present:
        return CustomerStatus.CANCELLED
    return CustomerStatus.LEAD


def customer_since(created_at: datetime | None, record_dates: Iterable[datetime]) -> datetime | None:
    """When a customer starts to count: its creation time at the source, or its first record
    when the source gives none. A record dated earlier than the creation time wins (a
    subscription cannot be active for a customer that does not exist yet). None: no date is
    known at all, so the customer counts at every instant."""
    first = min(record_dates, default=None)
    if created_at is None:
        return first
    return created_at if first is None else min(created_at, first)


def customer_status_at(
    since: datetime | None, statuses: Iterable[SubStatus | None], at: datetime
) -> CustomerStatus | None:
    """The customer's status at ``at``; None before it exists (counted under no status)."""
    if since is not None and since > at:
        return None
    return customer_status(statuses)


def views_for_customer(
    customer_external_id: str,
    invoices: Sequence[OutInvoice],
    cancellations: Mapping[str, tuple[datetime, ...]],
) -> list[SubscriptionView]:
    """Group a customer's sent invoices into one view per subscription."""
    by_sub: dict[str, list[OutInvoice]] = {}
    for invoice in invoices:
        for sub in {
            line.subscription_external_id
            for line in invoice.lines
            if line.kind == "subscription" and line.subscription_external_id
        }:
            by_sub.setdefault(sub, []).append(invoice)
    return [
        SubscriptionView(sub, customer_external_id, tuple(invs), cancellations.get(sub, ()))
        for sub, invs in sorted(by_sub.items())
    ]
