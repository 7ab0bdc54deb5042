"""Why counts and statuses differ between billing and analytics (DOMAIN §6), as pure functions."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from saasync.models import Invoice, SourceSubscription, SubscriptionStatus
from saasync.reasons import Reason
from saasync.rules.changeset import CustomerChanges
from saasync.rules.discounts import post_discount_amounts
from saasync.rules.filter import Action
from saasync.rules.status import SubStatus

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
        lines = (raw or {}).get("lines")
        for line in lines if isinstance(lines, list) else []:
            sub = line.get("subscription_external_id") if isinstance(line, Mapping) else None
            if isinstance(sub, str) and sub.strip():
                ids.add(sub.strip())
    return frozenset(ids)


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
    code: str
    explanation: str


_EXPECTED = {
    SubscriptionStatus.ACTIVE: SubStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE: SubStatus.PAST_DUE,
    SubscriptionStatus.CANCELLED: SubStatus.CANCELLED,
}


def _day(value: datetime | None) -> str:
    return value.date().isoformat() if value else "?"


def explain_status_difference(
    source: SourceSubscription, analytics: SubStatus | None, *, paid_until: datetime | None
) -> StatusDifference | None:
    """Why the analytics status of a subscription differs from the billing system's, if it does.

    ``paid_until`` is the end of the latest service period analytics holds for it.
    """
    src = source.status
    if analytics is None or _EXPECTED.get(src) is analytics:
        return None
    if src is SubscriptionStatus.PAUSED:
        if analytics is SubStatus.ACTIVE:
            return StatusDifference(
                "ON_HOLD_IN_PAID_PERIOD",
                f"on hold in billing; analytics keeps it Active until the paid service period "
                f"ends ({_day(paid_until)})",
            )
        if analytics is SubStatus.PAST_DUE:
            return StatusDifference(
                "ON_HOLD_PAST_PAID_PERIOD",
                "on hold in billing and its paid period has ended: analytics shows Past-Due "
                "until the billing system cancels or resumes it",
            )
    if src is SubscriptionStatus.CANCELLED:
        return StatusDifference(
            "CANCELLATION_NOT_SYNCED",
            f"cancelled in billing on {_day(source.cancelled_at)}; the Cancelled marker has "
            "not reached analytics yet (run sync)",
        )
    if analytics is SubStatus.CANCELLED:
        return StatusDifference(
            "REACTIVATION_NOT_SYNCED",
            "active again in billing; the cleared Cancelled marker has not reached analytics "
            "yet (run sync)",
        )
    if analytics is SubStatus.PAST_DUE:
        return StatusDifference(
            "PAST_DUE_UNTIL_CANCELLED_OR_RESUMED",
            f"analytics sees no paid invoice covering today (paid until {_day(paid_until)}) "
            "or an unpaid/failed latest invoice; it stays Past-Due until a new invoice is "
            "sent or the subscription is cancelled",
        )
    if src is SubscriptionStatus.PAST_DUE:
        return StatusDifference(
            "UNPAID_INVOICE_NOT_SENT",
            "past due in billing, but the unpaid invoice is not at analytics (held back while "
            "open invoices are excluded) or not yet past its due date there",
        )
    return StatusDifference(
        "NO_EQUIVALENT_STATUS",
        f"billing status {source.source_status or src.value!r} has no equivalent: analytics "
        "has only Active, Past-Due and Cancelled subscriptions",
    )
