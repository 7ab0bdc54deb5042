"""The invoice filter (docs/rules.md §1): one decision per invoice, send / hold / skip, with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from saasync.models import Invoice, InvoiceStatus
from saasync.reasons import Reason

OpenInvoices = Literal["exclude", "include"]


class Action(StrEnum):
    SEND = "send"
    HOLD = "hold"  # re-evaluated on every later run (open invoices held until paid)
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class FilterDecision:
    action: Action
    reason: Reason | None = None


SEND = FilterDecision(Action.SEND)


def decide_invoice(invoice: Invoice, open_invoices: OpenInvoices = "exclude") -> FilterDecision:
    """Decide whether analytics should see this invoice.

    Order matters: terminal states first (draft, void, failed), then the shape of the
    invoice (one-time only), then the open-invoice setting.
    """
    status = invoice.status
    if status is InvoiceStatus.DRAFT:
        return FilterDecision(Action.SKIP, Reason.DRAFT)
    if status is InvoiceStatus.VOID:
        return FilterDecision(Action.SKIP, Reason.VOIDED)
    if status is InvoiceStatus.FAILED:
        return FilterDecision(Action.SKIP, Reason.FAILED)
    if not invoice.has_subscription_line:
        return FilterDecision(Action.SKIP, Reason.ONE_TIME_ONLY)
    if status is InvoiceStatus.OPEN and open_invoices == "exclude":
        return FilterDecision(Action.HOLD, Reason.OPEN_EXCLUDED)
    return SEND
