"""Why counts and statuses differ between billing and analytics (docs/rules.md §5), as pure functions."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from saasync.models import Invoice, SourceSubscription, SubscriptionStatus
from saasync.reasons import Reason, StatusCause
from saasync.rules.changeset import CustomerChanges
from saasync.rules.discounts import post_discount_amounts
from saasync.rules.filter import Action
from saasync.rules.status import SubscriptionView, SubStatus, subscription_status

_ZERO_REASONS = {Reason.ZERO_FIRST_INVOICE, Reason.FULLY_DISCOUNTED, Reason.ZERO_AMOUNT}


def _mentions(invoice: Invoice, sub_id: str, *, subscription_lines: bool) -> bool:
    return any(
        line.subscription_external_id == sub_id
        and (line.kind == "subscription") == subscription_lines
        for line in invoice.lines
    )


def _amount_for(invoice: Invoice, sub_id: str) -> int:
    return sum(
        amount
        for line, amount in zip(invoice.lines, post_discount_amounts(invoice), strict=True)
        if line.kind == "subscription" and line.subscription_external_id == sub_id
    )


def quarantined_ids(items: Iterable[tuple[str | None, Mapping[str, Any] | None]]) -> frozenset[str]:
    """External ids of quarantined records, plus the subscriptions their raw lines name.

    A quarantined invoice never reaches the builder, so its subscription would look
    invoice-less (NO_INVOICE); its raw row still says which subscription it bills.
    """
    ids: set[str] = set()
    for external_id, raw in items:
        if external_id:
            ids.add(external_id)
        ids |= raw_subscriptions(raw)
    return frozenset(ids)


def raw_subscriptions(raw: Mapping[str, Any] | None) -> set[str]:
    """Subscription ids named by the raw lines of a quarantined invoice."""
    lines = (raw or {}).get("lines")
    if not isinstance(lines, list):
        return set()
    return {sub.strip() for line in lines if isinstance(line, Mapping)
            and isinstance(sub := line.get("subscription_external_id"), str) and sub.strip()}


def raw_customer(raw: Mapping[str, Any] | None) -> str | None:
    """The customer a quarantined record's raw row names, in the connectors' usual spellings
    (``customer_external_id`` in files, ``customer`` as an id or an object in APIs)."""
    raw = raw or {}
    for key in ("customer_external_id", "customer_id", "customer"):
        value = raw.get(key)
        if isinstance(value, Mapping):
            value = value.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def missing_reason(
    sub_id: str,
    invoices: Iterable[Invoice],
    changes: CustomerChanges,
    *,
    present_at_destination: bool,
    quarantined_ids: Collection[str] = (),
) -> Reason | None:
    """The one primary reason a source subscription is not at the destination (None if it is).

    ``invoices`` are the customer's source invoices; ``quarantined_ids`` the external ids
    of this source's records in the review queue (subscriptions and invoices).
    """
    if present_at_destination:
        return None
    invoices = list(invoices)
    quarantined_invoices = {s.external_id for s in changes.quarantined}
    if sub_id in quarantined_ids or any(
        inv.external_id in quarantined_invoices | set(quarantined_ids)
        and _mentions(inv, sub_id, subscription_lines=True)
        for inv in invoices
    ):
        return Reason.QUARANTINED
    with_sub_lines = [i for i in invoices if _mentions(i, sub_id, subscription_lines=True)]
    one_time_only = [i for i in invoices if _mentions(i, sub_id, subscription_lines=False)]
    if not with_sub_lines and not one_time_only:
        return Reason.NO_INVOICE
    if sub_id in changes.subscription_ids:
        return Reason.NOT_YET_SYNCED
    if not with_sub_lines:
        return Reason.ONE_TIME_ONLY
    decisions = {inv.external_id: changes.decision_for(inv.external_id) for inv in with_sub_lines}
    held = [
        inv
        for inv in with_sub_lines
        if (d := decisions[inv.external_id]) is not None and d.action is Action.HOLD
    ]
    if any(_amount_for(inv, sub_id) > 0 for inv in held):
        return Reason.OPEN_EXCLUDED
    zero = [
        reason
        for d in decisions.values()
        if d is not None
        for s, reason in (d.dropped_lines or ((sub_id, d.reason),))
        if s == sub_id and reason in _ZERO_REASONS
    ]
    if zero:
        return Reason.FULLY_DISCOUNTED if Reason.FULLY_DISCOUNTED in zero else Reason.ZERO_FIRST_INVOICE
    if held:
        return Reason.OPEN_EXCLUDED
    return Reason.NO_ACTIVE_INVOICE


@dataclass(frozen=True)
class StatusDifference:
    code: StatusCause
    explanation: str
    invoice: str | None = None  # the invoice that causes it, when one does


@dataclass(frozen=True)
class UnsentInvoice:
    """A source invoice billing the subscription that analytics does not hold, and the
    cause it makes when it is the renewal."""

    external_id: str
    issued_at: datetime | None  # None: a quarantined row whose date could not be read
    cause: StatusCause
    period_start: datetime | None = None  # the earliest service period it bills for it


_EXPECTED = {
    SubscriptionStatus.ACTIVE: SubStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE: SubStatus.PAST_DUE,
    SubscriptionStatus.CANCELLED: SubStatus.CANCELLED,
}
_RENEWAL_CAUSE = {
    Reason.DRAFT: StatusCause.RENEWAL_DRAFT,
    Reason.OPEN_EXCLUDED: StatusCause.RENEWAL_OPEN_EXCLUDED,
    Reason.FAILED: StatusCause.RENEWAL_FAILED,
    Reason.VOIDED: StatusCause.RENEWAL_VOIDED,
}


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "?"


def unsent_invoices(
    sub_id: str,
    invoices: Iterable[Invoice],
    changes: CustomerChanges,
    quarantined: Iterable[tuple[str, datetime | None]] = (),
) -> list[UnsentInvoice]:
    """The invoices of ``sub_id`` analytics does not hold, each with the cause it makes.

    ``invoices``: the customer's source invoices; ``quarantined``: (id, issued at) of the
    quarantined invoices that bill it. $0 lines left off before the start are not renewals.
    """
    out: list[UnsentInvoice] = []
    for inv in invoices:
        if not _mentions(inv, sub_id, subscription_lines=True):
            continue
        decision = changes.decision_for(inv.external_id)
        if decision is None:
            continue
        if decision.action is Action.SEND or decision.reason in _ZERO_REASONS:
            continue  # sent, or a $0 line before the start
        cause = _RENEWAL_CAUSE.get(decision.reason or Reason.INVALID_RECORD,
                                   StatusCause.RENEWAL_QUARANTINED)
        starts = [line.service_period_start for line in inv.lines
                  if line.kind == "subscription" and line.subscription_external_id == sub_id
                  and line.service_period_start is not None]
        out.append(UnsentInvoice(inv.external_id, inv.issued_at, cause, min(starts, default=None)))
    out += [UnsentInvoice(i, d, StatusCause.RENEWAL_QUARANTINED) for i, d in quarantined]
    return out


def paid_until(view: SubscriptionView, at: datetime) -> datetime | None:
    """End of the latest service period analytics holds for the subscription at ``at``."""
    ends = [
        line.service_period_end
        for inv in view.issued_by(at)
        for line in view.lines(inv)
        if line.service_period_end is not None
    ]
    return max(ends, default=None)


def _renewal(renewals: Sequence[UnsentInvoice], held: SubscriptionView,
             at: datetime) -> UnsentInvoice | None:
    """The unsent invoice standing where the renewal should be: the latest one billing a
    later period than any analytics holds (or, without a period, issued after the last
    invoice it holds); an undated quarantined row if none is. A voided duplicate of a
    period analytics holds is not a renewal."""
    sent = held.issued_by(at)
    last_issued = sent[-1].date if sent else None
    last_period = max((line.service_period_start for inv in sent for line in held.lines(inv)
                       if line.service_period_start is not None), default=None)

    def later(r: UnsentInvoice) -> bool:
        if r.period_start is not None and last_period is not None:
            return r.period_start > last_period
        return r.issued_at is not None and (last_issued is None or r.issued_at > last_issued)

    dated = [r for r in renewals if r.issued_at is not None and later(r)]
    if dated:
        return max(dated, key=lambda r: (r.issued_at, r.external_id))
    undated = sorted(r.external_id for r in renewals if r.issued_at is None)
    return next((r for r in renewals if undated and r.external_id == undated[-1]), None)


_RENEWAL_TEXT = {
    StatusCause.RENEWAL_DRAFT: "is still a draft in billing (drafts are never sent)",
    StatusCause.RENEWAL_OPEN_EXCLUDED: "is unpaid and held back while open invoices are "
                                       "excluded",
    StatusCause.RENEWAL_FAILED: "failed to be paid in billing and is not sent",
    StatusCause.RENEWAL_VOIDED: "was voided in billing",
    StatusCause.RENEWAL_QUARANTINED: "failed validation: it is in the review queue "
                                     "(`saasync review`)",
}


def _renewal_difference(renewal: UnsentInvoice, analytics: SubStatus,
                        covered: datetime | None) -> StatusDifference:
    shows = {SubStatus.PAST_DUE: f"Past-Due since its paid period ended ({_day(covered)})",
             SubStatus.ACTIVE: "Active on the invoices it holds",
             SubStatus.CANCELLED: "Cancelled"}[analytics]
    return StatusDifference(
        renewal.cause,
        f"renewal invoice {renewal.external_id} ({_day(renewal.issued_at)}) "
        f"{_RENEWAL_TEXT[renewal.cause]}; analytics shows it {shows}",
        renewal.external_id)


def _first_unsent(expected: SubscriptionView, held: SubscriptionView) -> str | None:
    """The first invoice the rules would send that analytics does not hold as it is."""
    have = {inv.external_id: inv for inv in held.invoices}
    for inv in sorted(expected.invoices, key=lambda i: (i.date, i.external_id)):
        if have.get(inv.external_id) != inv:
            return inv.external_id
    return None


def status_matches(source: SourceSubscription, analytics: SubStatus | None) -> bool:
    """True when there is no status difference to explain (or nothing exists yet)."""
    return analytics is None or _EXPECTED.get(source.status) is analytics


def status_cause(
    source: SourceSubscription,
    held: SubscriptionView,
    at: datetime,
    *,
    grace: timedelta = timedelta(0),
    expected: SubscriptionView | None = None,
    renewals: Sequence[UnsentInvoice] = (),
) -> StatusDifference | None:
    """Why analytics' status for a subscription differs from billing's at ``at`` (None if not).

    ``held``: what analytics holds for it; ``expected``: what the rules would send now
    (None: not known, taken as ``held``); ``renewals``: :func:`unsent_invoices`. The cause
    is the most specific that applies, named after the invoice behind it.
    """
    analytics = subscription_status(held, at, grace)
    src = source.status
    if analytics is None or status_matches(source, analytics):
        return None
    sent = held.issued_by(at)
    latest = sent[-1] if sent else None
    covered = paid_until(held, at)
    last = latest.external_id if latest else None
    cancelled_at = source.cancelled_at
    if (src is SubscriptionStatus.CANCELLED and analytics is not SubStatus.CANCELLED
            and cancelled_at is not None and cancelled_at not in held.cancellation_dates):
        return StatusDifference(
            StatusCause.CANCELLATION_NOT_SYNCED,
            f"cancelled in billing on {_day(cancelled_at)}; the Cancelled marker has not "
            "reached analytics yet (run `saasync sync`)")
    if (src is SubscriptionStatus.CANCELLED and cancelled_at is not None and cancelled_at > at
            and analytics is not SubStatus.CANCELLED):
        return StatusDifference(
            StatusCause.NO_EQUIVALENT_STATUS,
            f"cancelled in billing with effect from {_day(cancelled_at)}, after this date: "
            "analytics counts it until then", last)
    if expected is not None and subscription_status(expected, at, grace) is not analytics:
        unsent = _first_unsent(expected, held)
        what = (f"invoice {unsent}" if unsent else
                "its cancellation dates" if expected.cancellation_dates != held.cancellation_dates
                else "its latest changes")
        return StatusDifference(
            StatusCause.NOT_YET_SYNCED,
            f"billing changed it since the last run: {what} has not reached analytics yet "
            "(run `saasync sync`)", unsent)
    if src is SubscriptionStatus.PAUSED:
        paused = f" since {_day(source.paused_at)}" if source.paused_at else ""
        if analytics is SubStatus.PAST_DUE:
            return StatusDifference(
                StatusCause.ON_HOLD_PAST_PAID_PERIOD,
                f"on hold in billing{paused}; the period paid by invoice {last} ended "
                f"{_day(covered)}: analytics shows Past-Due until billing cancels or resumes it",
                last)
        if analytics is SubStatus.ACTIVE:
            return StatusDifference(
                StatusCause.ON_HOLD_IN_PAID_PERIOD,
                f"on hold in billing{paused}; analytics keeps it Active until the period paid "
                f"by invoice {last} ends ({_day(covered)})", last)
    if (analytics is SubStatus.ACTIVE and covered is not None and covered < at
            and grace > timedelta(0)):
        return StatusDifference(
            StatusCause.IN_GRACE,
            f"the period paid by invoice {last} ended {_day(covered)}; analytics keeps it "
            f"Active for the {grace.days}-day grace period, until {_day(covered + grace)}", last)
    renewal = _renewal(renewals, held, at)
    if analytics is SubStatus.PAST_DUE and latest is not None and (
            covered is None or covered >= at - grace):
        # (b): the latest invoice analytics holds is unpaid after its due date, or failed
        attempts = [t for t in latest.transactions if t.type == "payment" and t.date <= at]
        failed = attempts and max(attempts, key=lambda t: t.date).result == "failed"
        return StatusDifference(
            StatusCause.RENEWAL_FAILED,
            f"invoice {last}: " + ("its latest payment attempt failed" if failed else
                                   f"unpaid after its due date {_day(latest.due_date)}")
            + "; analytics shows Past-Due until it is paid or the subscription is cancelled",
            last)
    if renewal is not None:
        return _renewal_difference(renewal, analytics, covered)
    if analytics is SubStatus.PAST_DUE:
        return StatusDifference(
            StatusCause.RENEWAL_MISSING,
            f"billing has issued no invoice for the period after {_day(covered)}, when the "
            f"period paid by invoice {last} ended: analytics shows Past-Due until one is sent "
            "or the subscription is cancelled", last)
    if analytics is SubStatus.CANCELLED:
        dates = [d for d in held.cancellation_dates if d <= at]
        return StatusDifference(
            StatusCause.RENEWAL_MISSING,
            f"{_day(max(dates)) if dates else '?'} cancellation stands: billing has issued no "
            "invoice for a period after it, which is what reactivates it in analytics", last)
    if (analytics is SubStatus.ACTIVE and latest is not None and latest.due_date is not None
            and latest.due_date >= at and src is SubscriptionStatus.PAST_DUE):
        return StatusDifference(
            StatusCause.IN_GRACE,
            f"invoice {last} is unpaid, but its due date {_day(latest.due_date)} has not "
            "passed: analytics keeps it Active until then", last)
    return StatusDifference(
        StatusCause.NO_EQUIVALENT_STATUS,
        f"billing status {source.source_status or src.value!r} has no equivalent: analytics "
        "has only Active, Past-Due and Cancelled subscriptions", last)
