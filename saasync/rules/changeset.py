"""What the subscription builder hands the engine: the destination-side view of one customer.

Plain frozen dataclasses (not pydantic): they are built millions of times in a backfill.
Their ``doc()`` is the canonical, JSON-ready content whose hash tells the engine whether
the destination already holds exactly this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saasync.models import Customer, Plan
from saasync.reasons import Reason
from saasync.rules.filter import Action


def iso(value: datetime | None) -> str | None:
    """``2026-01-31T00:00:00Z``: whole seconds of a UTC time (isoformat is 2× strftime's speed)."""
    return value.isoformat()[:19] + "Z" if value is not None else None


@dataclass(frozen=True, slots=True)
class OutLine:
    kind: str  # "subscription" | "one_time"
    amount: int  # after every discount, tax included (ChartMogul amount_in_cents)
    discount_amount: int = 0  # line discount + share of invoice-level discount (informational)
    tax_amount: int = 0
    quantity: int = 1
    external_id: str | None = None
    subscription_external_id: str | None = None
    plan_external_id: str | None = None
    service_period_start: datetime | None = None
    service_period_end: datetime | None = None
    prorated: bool = False
    description: str | None = None

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.kind,
            "amount_in_cents": self.amount,
            "quantity": self.quantity,
            "discount_amount_in_cents": self.discount_amount,
            "tax_amount_in_cents": self.tax_amount,
        }
        if self.external_id:
            out["external_id"] = self.external_id
        if self.kind == "subscription":
            out["subscription_external_id"] = self.subscription_external_id
            out["plan_external_id"] = self.plan_external_id
            out["service_period_start"] = iso(self.service_period_start)
            out["service_period_end"] = iso(self.service_period_end)
            out["prorated"] = self.prorated
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True, slots=True)
class OutTransaction:
    type: str  # payment | refund
    result: str  # successful | failed
    date: datetime
    amount: int | None = None
    external_id: str | None = None

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "result": self.result, "date": iso(self.date)}
        if self.external_id:
            out["external_id"] = self.external_id
        if self.amount is not None:
            out["amount_in_cents"] = self.amount
        return out


@dataclass(frozen=True, slots=True)
class OutInvoice:
    external_id: str
    customer_external_id: str
    date: datetime
    currency: str
    lines: tuple[OutLine, ...]
    transactions: tuple[OutTransaction, ...] = ()
    due_date: datetime | None = None

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "external_id": self.external_id,
            "customer_external_id": self.customer_external_id,
            "date": iso(self.date),
            "currency": self.currency,
            "line_items": [line.doc() for line in self.lines],
            "transactions": [t.doc() for t in self.transactions],
        }
        if self.due_date is not None:
            out["due_date"] = iso(self.due_date)
        return out


@dataclass(frozen=True, slots=True)
class CancellationMarker:
    """The full desired list of cancellation dates of a subscription that exists at the
    destination: its cancellation history, not only the latest one.

    ``()`` means "never cancelled, or every cancellation was withdrawn before its date".
    ``effective_dates`` (not sent; not part of ``doc()``) are the dates that took effect,
    which the sync remembers once the destination holds them, so that a later
    reactivation at the source keeps them.
    """

    subscription_external_id: str
    customer_external_id: str
    cancellation_dates: tuple[datetime, ...]
    effective_dates: tuple[datetime, ...] = ()

    def doc(self) -> dict[str, Any]:
        return {
            "subscription_external_id": self.subscription_external_id,
            "customer_external_id": self.customer_external_id,
            "cancellation_dates": [iso(d) for d in self.cancellation_dates],
        }


@dataclass(frozen=True, slots=True)
class InvoiceDecision:
    """What the builder decided for one source invoice, with the reason when not sent whole."""

    invoice_external_id: str
    action: Action
    reason: Reason | None = None
    # subscription_external_id -> reason, for subscription lines left off a sent invoice
    dropped_lines: tuple[tuple[str, Reason], ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    """A record not sent, with its stable reason code; ``kind`` says what sort of record."""

    kind: str  # invoice | subscription | customer | plan
    external_id: str
    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SubscriptionStart:
    subscription_external_id: str
    invoice_external_id: str
    issued_at: datetime


@dataclass(frozen=True)
class CustomerChanges:
    """The destination-side view of one customer, as the rules dictate it."""

    customer_external_id: str
    customer: Customer | None
    plans: tuple[Plan, ...] = ()
    invoices: tuple[OutInvoice, ...] = ()
    cancellations: tuple[CancellationMarker, ...] = ()
    voided_invoice_ids: tuple[str, ...] = ()
    decisions: tuple[InvoiceDecision, ...] = ()
    skips: tuple[Skip, ...] = ()
    starts: tuple[SubscriptionStart, ...] = ()
    quarantined: tuple[Skip, ...] = field(default=())
    # When a time-based rule (automatic churn) could next change this customer without any
    # new source record: the engine looks at it again from then on.
    recheck_at: datetime | None = None

    def decision_for(self, invoice_external_id: str) -> InvoiceDecision | None:
        for decision in self.decisions:
            if decision.invoice_external_id == invoice_external_id:
                return decision
        return None

    @property
    def subscription_ids(self) -> frozenset[str]:
        return frozenset(start.subscription_external_id for start in self.starts)
