"""Stripe's published API fixtures (``stripe/openapi`` ``openapi/fixtures3.json``), one
version from before the 2025-03-31 "basil" invoice-line change and one from after it,
through the Stripe mapping. Expectations from Stripe's documented semantics: amounts in
the currency's minor unit, ``period.start``/``end`` as epoch seconds, a ``draft`` invoice
is a draft, a line made from an invoice item (``type: invoiceitem`` before basil,
``parent.type: invoice_item_details`` after) with a ``one_time`` price is one-time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.models import InvoiceStatus, SubscriptionStatus
from saasync.reasons import Reason
from saasync.rules.filter import Action, decide_invoice
from saasync_connectors.stripe.mapping import to_customer, to_invoice, to_subscription

PAYLOADS = Path(__file__).parent / "payloads"
PRE_BASIL = "fixtures3_b819eedc.json"   # 2025-02-14, first in tag v1494
POST_BASIL = "fixtures3_f0758b15.json"  # 2026-08-21, tag v2349
BOTH = [PRE_BASIL, POST_BASIL]


def resources(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", BOTH)
def test_the_fixture_invoice_is_a_draft_with_one_one_time_line_of_ten_dollars(name: str) -> None:
    invoice_raw = resources(name)["invoice"]
    invoice = to_invoice(invoice_raw, invoice_raw["lines"]["data"])
    assert (invoice.external_id, invoice.currency, invoice.status) == (
        "in_1Pgc6tB7WZ01zgkWu9fdqL6I", "USD", InvoiceStatus.DRAFT)
    [line] = invoice.lines
    assert (line.kind, line.amount, line.quantity) == ("one_time", 1000, 1)
    decision = decide_invoice(invoice, "include")
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.DRAFT)


@pytest.mark.parametrize(("name", "expected"), [
    (PRE_BASIL, SubscriptionStatus.ACTIVE),
    # the newer fixture fills pause_collection (behavior mark_uncollectible) on an
    # "active" subscription: Stripe documents that as collection paused
    (POST_BASIL, SubscriptionStatus.PAUSED),
])
def test_the_fixture_subscription_status_and_price(name: str, expected: SubscriptionStatus) -> None:
    raw = resources(name)["subscription"]
    subscription = to_subscription(raw)
    assert subscription.status is expected
    # canceled_at is a placeholder (1234567890) on a subscription that is not cancelled
    assert subscription.customer_external_id == raw["customer"]
    assert subscription.plan_external_id == raw["items"]["data"][0]["price"]["id"]
    assert subscription.cancelled_at is None


@pytest.mark.parametrize("name", BOTH)
def test_the_fixture_customer_keeps_its_id_and_creation_time(name: str) -> None:
    raw = resources(name)["customer"]
    customer = to_customer(raw)
    assert customer.external_id == "cus_QXg1o8vcGmoR32"
    assert customer.created_at == datetime.fromtimestamp(raw["created"], tz=UTC)
