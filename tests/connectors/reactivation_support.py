"""Shared by the per-source reactivation tests: a mapped subscription through the builder,
with invoices of its own, at a given "now" and with what earlier runs remembered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from saasync.models import Customer, Invoice, SourceSubscription
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from tests.factories import PLANS, invoice, sub_line


def invoices_for(sub: SourceSubscription, *starts: str) -> list[Invoice]:
    return [
        invoice(f"in_{n}", start, [sub_line(5000, start, sub=sub.external_id)],
                cid=sub.customer_external_id)
        for n, start in enumerate(starts)
    ]


def dates_after(
    sub: SourceSubscription, invoices: list[Invoice], now: datetime,
    remembered: Mapping[str, tuple[datetime, ...]] | None = None,
) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
    """(cancellation dates sent, dates that took effect) for the subscription."""
    cid = sub.customer_external_id
    history = CustomerHistory(cid, effective_cancellations=remembered or {}).merge(
        [Customer(external_id=cid, name=cid), *invoices, sub])
    changes = build_customer(history, PLANS, RuleSettings(), now)
    (marker,) = [m for m in changes.cancellations if m.subscription_external_id == sub.external_id]
    return marker.cancellation_dates, marker.effective_dates
