"""The subscription builder (docs/rules.md §2–§3): from one customer's source history to what analytics sees.

A pure function of the customer's whole history, so the result does not depend on the
order records arrived in, and an incremental run (history merged with what changed)
gives exactly what a full run would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from saasync.models import (
    Customer,
    Invoice,
    InvoiceStatus,
    Plan,
    SourceRecord,
    SourceSubscription,
    SubscriptionStatus,
)
from saasync.reasons import Reason
from saasync.rules.changeset import (
    CancellationMarker,
    CustomerChanges,
    InvoiceDecision,
    OutInvoice,
    OutLine,
    OutTransaction,
    Skip,
    SubscriptionStart,
)
from saasync.rules.discounts import invoice_discount_shares, post_discount_amounts
from saasync.rules.filter import Action, OpenInvoices, decide_invoice
from saasync.rules.status import SubscriptionView, auto_churn_dates

# When several subscriptions on one invoice are all left off, the invoice's reason is the
# most telling of theirs.
_ZERO_PRECEDENCE = (Reason.ZERO_FIRST_INVOICE, Reason.FULLY_DISCOUNTED, Reason.ZERO_AMOUNT)


@dataclass(frozen=True)
class RuleSettings:
    open_invoices: OpenInvoices = "exclude"
    grace_days: int = 0
    # Cancel a subscription the source never describes (inferred from invoice lines) once
    # its last invoiced service period ended more than this many days ago; None: off.
    auto_churn_days: int | None = None


@dataclass(frozen=True)
class CustomerHistory:
    """Everything the source has said about one customer, latest version of each record."""

    customer_external_id: str
    customer: Customer | None = None
    invoices: Mapping[str, Invoice] = field(default_factory=dict)
    subscriptions: Mapping[str, SourceSubscription] = field(default_factory=dict)
    # Cancellation dates the destination already holds that had taken effect when they were
    # read (subscription id -> dates): kept when the source later forgets them.
    effective_cancellations: Mapping[str, tuple[datetime, ...]] = field(default_factory=dict)

    def merge(self, records: Iterable[SourceRecord]) -> CustomerHistory:
        """A new history with ``records`` applied; a record replaces the one with its id."""
        customer = self.customer
        invoices = dict(self.invoices)
        subscriptions = dict(self.subscriptions)
        for record in records:
            if isinstance(record, Customer):
                customer = record
            elif isinstance(record, Invoice):
                invoices[record.external_id] = record
            elif isinstance(record, SourceSubscription):
                subscriptions[record.external_id] = record
        return replace(self, customer=customer, invoices=invoices, subscriptions=subscriptions)


def histories_from(records: Iterable[SourceRecord]) -> dict[str, CustomerHistory]:
    """Group records into one history per customer (plans are not per customer)."""
    grouped: dict[str, list[SourceRecord]] = {}
    for record in records:
        if isinstance(record, Customer):
            key = record.external_id
        elif isinstance(record, (Invoice, SourceSubscription)):
            key = record.customer_external_id
        else:
            continue
        grouped.setdefault(key, []).append(record)
    return {key: CustomerHistory(key).merge(recs) for key, recs in grouped.items()}


def _order(invoice: Invoice) -> tuple[datetime, str]:
    return (invoice.issued_at, invoice.external_id)


def _unknown_plans(invoice: Invoice, plans: Mapping[str, Plan]) -> list[str]:
    return sorted(
        {
            line.plan_external_id
            for line in invoice.lines
            if line.kind == "subscription"
            and line.plan_external_id is not None
            and line.plan_external_id not in plans
        }
    )


def _zero_reason(invoice: Invoice, post: list[int], sub_id: str) -> Reason:
    """Why a not-yet-started subscription's line is $0: a discount, or a $0 price."""
    for line, amount in zip(invoice.lines, post, strict=True):
        if (line.kind == "subscription" and line.subscription_external_id == sub_id
                and amount <= 0 and line.amount + line.discount_amount > 0):
            return Reason.FULLY_DISCOUNTED
    return Reason.ZERO_AMOUNT


def _before_start_reason(invoice: Invoice, post: list[int], sub_id: str) -> Reason:
    """A kept invoice dated before the subscription's start: a 100 % discount stays
    FULLY_DISCOUNTED once the subscription converts; any other $0 is ZERO_FIRST_INVOICE."""
    reason = _zero_reason(invoice, post, sub_id)
    return reason if reason is Reason.FULLY_DISCOUNTED else Reason.ZERO_FIRST_INVOICE


def _negative_before_start(invoice: Invoice, post: list[int], pending: set[str]) -> list[str]:
    """The not-yet-started subscriptions whose lines on ``invoice`` sum below zero."""
    totals: dict[str, int] = {}
    for line, amount in zip(invoice.lines, post, strict=True):
        if line.kind == "subscription" and line.subscription_external_id in pending:
            sub = line.subscription_external_id
            totals[sub] = totals.get(sub, 0) + amount
    return sorted(sub for sub, total in totals.items() if total < 0)


def _find_starts(kept: list[Invoice], post: dict[str, list[int]]) -> dict[str, Invoice]:
    """Each subscription starts on the first kept invoice where its lines sum above zero."""
    starts: dict[str, Invoice] = {}
    for invoice in kept:
        per_sub: dict[str, int] = {}
        for line, amount in zip(invoice.lines, post[invoice.external_id], strict=True):
            if line.kind == "subscription" and line.subscription_external_id:
                sub = line.subscription_external_id
                per_sub[sub] = per_sub.get(sub, 0) + amount
        for sub, total in per_sub.items():
            if sub not in starts and total > 0:
                starts[sub] = invoice
    return starts


def _out_transactions(invoice: Invoice) -> tuple[OutTransaction, ...]:
    # Paid: every transaction. Open (sent because open_invoices="include"): no payment, but
    # failed attempts travel, since analytics derives Past-Due from them.
    chosen = (
        invoice.transactions
        if invoice.status is InvoiceStatus.PAID
        else tuple(t for t in invoice.transactions if t.result == "failed")
    )
    return tuple(
        OutTransaction(t.type, t.result, t.date, t.amount, t.external_id) for t in chosen
    )


def _out_invoice(invoice: Invoice, post: list[int], send_subs: set[str]) -> OutInvoice | None:
    shares = invoice_discount_shares(invoice)
    lines: list[OutLine] = []
    for line, amount, share in zip(invoice.lines, post, shares, strict=True):
        if line.kind == "subscription" and line.subscription_external_id not in send_subs:
            continue
        subscription = line.kind == "subscription"
        lines.append(OutLine(
            kind=line.kind,
            amount=amount,
            discount_amount=line.discount_amount + (line.amount - amount),
            tax_amount=line.tax_amount,
            quantity=line.quantity,
            external_id=line.external_id,
            subscription_external_id=line.subscription_external_id if subscription else None,
            plan_external_id=line.plan_external_id if subscription else None,
            service_period_start=line.service_period_start if subscription else None,
            service_period_end=line.service_period_end if subscription else None,
            prorated=line.prorated if subscription else False,
            description=line.description,
        ))  # fmt: skip
    if not any(line.kind == "subscription" for line in lines):
        return None
    return OutInvoice(
        external_id=invoice.external_id,
        customer_external_id=invoice.customer_external_id,
        date=invoice.issued_at,
        currency=invoice.currency,
        lines=tuple(lines),
        transactions=_out_transactions(invoice),
        due_date=invoice.due_at,
    )


def build_customer(
    history: CustomerHistory,
    plans: Mapping[str, Plan],
    settings: RuleSettings = RuleSettings(),
    now: datetime | None = None,
) -> CustomerChanges:
    """Decide everything analytics should hold for one customer.

    ``now`` is the run's time: it decides which cancellations have taken effect and where
    automatic churn applies. Without it, neither does (a view of the source alone).
    """
    cid = history.customer_external_id
    ordered = sorted(history.invoices.values(), key=_order)
    if history.customer is None:
        unknown = tuple(
            Skip(kind, rec_id, Reason.UNKNOWN_CUSTOMER, f"customer {cid!r} was never read")
            for kind, rec_id in [("invoice", i.external_id) for i in ordered]
            + [("subscription", s) for s in sorted(history.subscriptions)]
        )
        return CustomerChanges(cid, None, quarantined=unknown)

    decisions: dict[str, InvoiceDecision] = {}
    skips: list[Skip] = []
    quarantined: list[Skip] = []
    kept: list[Invoice] = []
    for invoice in ordered:
        verdict = decide_invoice(invoice, settings.open_invoices)
        if verdict.action is Action.SEND:
            missing = _unknown_plans(invoice, plans)
            if missing:
                detail = f"field 'lines.plan_external_id': unknown plan {', '.join(missing)}"
                quarantined.append(Skip("invoice", invoice.external_id, Reason.UNKNOWN_PLAN, detail))
                decisions[invoice.external_id] = InvoiceDecision(
                    invoice.external_id, Action.SKIP, Reason.UNKNOWN_PLAN
                )
                continue
            kept.append(invoice)
        else:
            assert verdict.reason is not None
            decisions[invoice.external_id] = InvoiceDecision(
                invoice.external_id, verdict.action, verdict.reason
            )
            skips.append(Skip("invoice", invoice.external_id, verdict.reason))

    post = {invoice.external_id: post_discount_amounts(invoice) for invoice in kept}
    starts = _find_starts(kept, post)

    out_invoices: list[OutInvoice] = []
    for invoice in kept:
        amounts = post[invoice.external_id]
        subs = {
            line.subscription_external_id
            for line in invoice.lines
            if line.kind == "subscription" and line.subscription_external_id
        }
        send_subs = {s for s in subs if s in starts and _order(starts[s]) <= _order(invoice)}
        negative = _negative_before_start(invoice, amounts, subs - send_subs)
        if negative:  # a credit with nothing yet to credit: not a $0 line, not guessed
            detail = (f"field 'lines.amount': subscription line(s) of {', '.join(negative)} "
                      "add up to a negative amount before the subscription exists (a credit "
                      "with no earlier charge): quarantined as invalid, not ZERO_AMOUNT")
            quarantined.append(Skip("invoice", invoice.external_id, Reason.INVALID_RECORD, detail))
            decisions[invoice.external_id] = InvoiceDecision(
                invoice.external_id, Action.SKIP, Reason.INVALID_RECORD
            )
            continue
        dropped = tuple(
            (
                sub,
                _before_start_reason(invoice, amounts, sub) if sub in starts
                else _zero_reason(invoice, amounts, sub),
            )
            for sub in sorted(subs - send_subs)
        )
        out = _out_invoice(invoice, amounts, send_subs) if send_subs else None
        if out is None:
            reason = min((r for _, r in dropped), key=_ZERO_PRECEDENCE.index)
            decisions[invoice.external_id] = InvoiceDecision(
                invoice.external_id, Action.SKIP, reason, dropped
            )
            skips.append(Skip("invoice", invoice.external_id, reason))
        else:
            decisions[invoice.external_id] = InvoiceDecision(
                invoice.external_id, Action.SEND, None, dropped
            )
            out_invoices.append(out)

    cancellations: list[CancellationMarker] = []
    recheck: list[datetime] = []
    for sub_id in sorted(set(starts) | set(history.subscriptions)):
        source = history.subscriptions.get(sub_id)
        cancelled = source is not None and source.status is SubscriptionStatus.CANCELLED
        if sub_id not in starts:
            if cancelled:
                skips.append(Skip("subscription", sub_id, Reason.NEVER_CREATED))
            continue
        remembered = history.effective_cancellations.get(sub_id, ())
        if source is None:
            marker, due = _inferred_marker(sub_id, cid, out_invoices, remembered, settings, now)
            if due is not None:
                recheck.append(due)
        else:
            marker = cancellation_history(sub_id, cid, source, remembered, now)
            if marker.cancellation_dates and now is not None:
                recheck.extend(d for d in marker.cancellation_dates if d > now)
        cancellations.append(marker)

    used_plans = sorted(
        {
            line.plan_external_id
            for inv in out_invoices
            for line in inv.lines
            if line.kind == "subscription" and line.plan_external_id
        }
    )
    return CustomerChanges(
        customer_external_id=cid,
        customer=history.customer,
        plans=tuple(plans[p] for p in used_plans),
        invoices=tuple(out_invoices),
        cancellations=tuple(cancellations),
        voided_invoice_ids=tuple(
            i.external_id for i in ordered if decisions[i.external_id].reason is Reason.VOIDED
        ),
        decisions=tuple(decisions[i.external_id] for i in ordered),
        skips=tuple(skips),
        starts=tuple(
            SubscriptionStart(sub, inv.external_id, inv.issued_at)
            for sub, inv in sorted(starts.items())
        ),
        quarantined=tuple(quarantined),
        recheck_at=min(recheck, default=None),
    )


def cancellation_history(
    sub_id: str,
    customer_id: str,
    source: SourceSubscription,
    remembered: Iterable[datetime],
    now: datetime | None,
) -> CancellationMarker:
    """The full list of cancellation dates a described subscription should have.

    - every cancellation that took effect stays: those remembered from earlier runs, those
      the source exports as its history (``past_cancellation_dates``), and the current one
      once its date has passed while the source still says cancelled (``now``);
    - the current cancellation is sent while the source says cancelled, even before its
      date (a scheduled cancellation): withdrawn before its date, it is removed again,
      since it never took effect.
    """
    effective = {*remembered, *source.past_cancellation_dates}
    current: set[datetime] = set()
    if source.status is SubscriptionStatus.CANCELLED and source.cancelled_at is not None:
        current.add(source.cancelled_at)
        if now is not None and source.cancelled_at <= now:
            effective.add(source.cancelled_at)
    return CancellationMarker(
        sub_id, customer_id, tuple(sorted(effective | current)),
        effective_dates=tuple(sorted(effective)),
    )


def _inferred_marker(
    sub_id: str,
    customer_id: str,
    sent: list[OutInvoice],
    remembered: tuple[datetime, ...],
    settings: RuleSettings,
    now: datetime | None,
) -> tuple[CancellationMarker, datetime | None]:
    """A subscription only known from invoice lines: auto-churn, when on, cancels it at the
    end of every service period followed by more than ``auto_churn_days`` without an
    invoice. Returns the marker and when the rule would next add a date (the time of the
    next re-check), if ever without new invoices."""
    dates = set(remembered)
    due: datetime | None = None
    if settings.auto_churn_days is not None and now is not None:
        after = timedelta(days=settings.auto_churn_days)
        view = SubscriptionView(
            sub_id, customer_id,
            tuple(inv for inv in sent if any(
                line.subscription_external_id == sub_id for line in inv.lines)),
        )
        churned = auto_churn_dates(view, after, now)
        dates.update(churned)
        covered = max(
            (line.service_period_end for inv in view.invoices for line in view.lines(inv)
             if line.service_period_end is not None),
            default=None,
        )
        if covered is not None and covered not in churned:
            due = covered + after + timedelta(seconds=1)
    marker = CancellationMarker(sub_id, customer_id, tuple(sorted(dates)),
                                effective_dates=tuple(sorted(remembered)))
    return marker, due
