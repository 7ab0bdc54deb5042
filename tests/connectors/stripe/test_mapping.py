"""Stripe JSON → normalized records: every status, both line shapes, money, discounts, tax, refunds."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.models import InvoiceStatus, SubscriptionStatus
from saasync.reasons import Reason
from saasync_connectors.stripe.mapping import (
    MappingError,
    to_customer,
    to_invoice,
    to_minor_units,
    to_plan,
    to_subscription,
)

FIXTURES = Path(__file__).with_name("fixtures")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def account(kind: str, ident: str) -> dict[str, Any]:
    return next(o for o in load("fake_account.json")[kind] if o["id"] == ident)


def invoice_of(raw: dict[str, Any], **kwargs: Any) -> Any:
    return to_invoice(raw, raw["lines"]["data"], **kwargs)


# -- invoices: the two line shapes ----------------------------------------------------------

def test_pre_basil_invoice_lines_by_type_subscription_price_and_tax_amounts() -> None:
    raw = load("invoice_pre_basil.json")
    invoice = to_invoice(raw, raw["lines"]["data"], [load("credit_note_pre_basil.json")])
    assert invoice.status is InvoiceStatus.PAID and invoice.source_status == "paid"
    assert invoice.customer_external_id == "cus_1PAcme" and invoice.currency == "USD"
    sub, proration, setup = invoice.lines
    # line discount off, exclusive tax on: 4000 - 400 + 684; the invoice-level share stays
    assert (sub.kind, sub.amount, sub.discount_amount, sub.tax_amount) == (
        "subscription", 4284, 400, 684)
    assert sub.subscription_external_id == "sub_1PAcme"
    assert sub.plan_external_id == "price_1PProMonthly"
    assert sub.service_period_start == at("2024-07-01T00:00:00")
    assert sub.service_period_end == at("2024-08-01T00:00:00")
    # an invoice item of a recurring price on the subscription: a prorated subscription line
    assert (proration.kind, proration.prorated, proration.amount) == ("subscription", True, 1935)
    assert proration.plan_external_id == "price_1PProMonthly"
    # a one-time price: inclusive tax is already in the amount
    assert (setup.kind, setup.amount, setup.tax_amount) == ("one_time", 5000, 790)
    assert setup.subscription_external_id is None and setup.plan_external_id is None
    assert invoice.discount_amount == 430  # 830 in all, 400 of it line-level
    payment, refund = invoice.transactions
    assert (payment.type, payment.result, payment.amount) == ("payment", "successful", 10789)
    assert payment.external_id == "ch_3PAcmeJul0001"
    assert payment.date == at("2024-07-01T01:02:10")
    assert (refund.type, refund.amount, refund.external_id) == ("refund", 2000, "cn_1PAcmeJul01")


def test_basil_invoice_lines_by_parent_and_pricing_and_taxes() -> None:
    raw = load("invoice_basil.json")
    invoice = to_invoice(raw, raw["lines"]["data"], [load("credit_note_basil.json")],
                         recurring_prices={"price_1RTeamEUR"})
    sub, support = invoice.lines
    assert (sub.kind, sub.amount, sub.discount_amount, sub.tax_amount) == (
        "subscription", 10615, 1000, 1615)
    assert (sub.subscription_external_id, sub.plan_external_id) == ("sub_1RBeta", "price_1RTeamEUR")
    assert sub.quantity == 5 and not sub.prorated
    # a one-off invoice item billed with the subscription: one-time, linked to it
    assert (support.kind, support.amount, support.tax_amount) == ("one_time", 2380, 361)
    assert support.subscription_external_id == "sub_1RBeta"
    assert invoice.discount_amount == 569
    payment, refund = invoice.transactions
    assert payment.external_id == "in_1RBetaMay-payment" and payment.amount == 12426
    assert (refund.type, refund.amount, refund.date) == ("refund", 1190, at("2025-05-11T00:00:00"))


def test_basil_invoice_item_of_a_recurring_price_needs_the_price_list_to_be_recurring() -> None:
    raw = account("invoices", "in_SDeltaUp002")
    known = invoice_of(raw, recurring_prices={"price_1QProQuarterly"})
    credit, debit, setup, zero = known.lines
    assert (credit.kind, credit.prorated, credit.amount) == ("subscription", True, -2935)
    assert (debit.kind, debit.quantity, debit.amount) == ("subscription", 2, 5870)
    assert (setup.kind, setup.subscription_external_id) == ("one_time", "sub_SDeltaQtr4")
    assert (zero.kind, zero.prorated, zero.amount) == ("subscription", False, 0)
    unknown = invoice_of(raw)
    assert {line.kind for line in unknown.lines} == {"one_time"}


@pytest.mark.parametrize(("raw_status", "status"), [
    ("draft", InvoiceStatus.DRAFT), ("open", InvoiceStatus.OPEN), ("paid", InvoiceStatus.PAID),
    ("uncollectible", InvoiceStatus.FAILED), ("void", InvoiceStatus.VOID),
])
def test_every_invoice_status(raw_status: str, status: InvoiceStatus) -> None:
    raw = load("invoice_basil.json")
    raw["status"] = raw_status
    invoice = invoice_of(raw)
    assert invoice.status is status and invoice.source_status == raw_status
    payments = [t for t in invoice.transactions if t.type == "payment"]
    assert len(payments) == (1 if status is InvoiceStatus.PAID else 0)


def test_an_unknown_invoice_status_is_never_guessed() -> None:
    raw = load("invoice_basil.json")
    raw["status"] = "processing"
    with pytest.raises(MappingError) as caught:
        invoice_of(raw)
    assert caught.value.reason is Reason.UNKNOWN_STATUS and caught.value.field == "status"
    assert "in_1RBetaMay" in str(caught.value) and "processing" in str(caught.value)


def test_a_paid_invoice_without_paid_at_is_invalid() -> None:
    raw = load("invoice_basil.json")
    raw["status_transitions"]["paid_at"] = None
    with pytest.raises(MappingError) as caught:
        invoice_of(raw)
    assert caught.value.reason is Reason.INVALID_RECORD
    assert caught.value.field == "status_transitions.paid_at"


def test_a_subscription_line_with_an_empty_period_is_invalid_and_names_the_field() -> None:
    raw = load("invoice_basil.json")
    line = raw["lines"]["data"][0]
    line["period"]["end"] = line["period"]["start"]
    with pytest.raises(MappingError) as caught:
        invoice_of(raw)
    assert caught.value.reason is Reason.INVALID_RECORD
    assert caught.value.field.startswith("lines")


def test_a_line_of_unknown_shape_is_invalid() -> None:
    raw = load("invoice_basil.json")
    raw["lines"]["data"][0]["parent"] = {"type": "quote_details"}
    with pytest.raises(MappingError) as caught:
        invoice_of(raw)
    assert caught.value.field == "lines.parent.type"


def test_credit_notes_void_and_pre_payment_are_no_refunds() -> None:
    raw = load("invoice_pre_basil.json")
    void = dict(load("credit_note_pre_basil.json"), status="void")
    before = dict(load("credit_note_pre_basil.json"), type="pre_payment")
    invoice = to_invoice(raw, raw["lines"]["data"], [void, before])
    assert [t.type for t in invoice.transactions] == ["payment"]
    odd = dict(load("credit_note_basil.json"), status="pending")
    with pytest.raises(MappingError) as caught:
        to_invoice(raw, raw["lines"]["data"], [odd])
    assert caught.value.reason is Reason.UNKNOWN_STATUS
    assert caught.value.field == "credit_notes.status"


def test_a_credit_line_keeps_its_negative_tax_inside_the_amount() -> None:
    raw = load("invoice_basil.json")
    line = raw["lines"]["data"][0]
    line.update(amount=-1000, discount_amounts=[], discounts=[])
    line["taxes"] = [dict(line["taxes"][0], amount=-190)]
    invoice = invoice_of(raw, recurring_prices={"price_1RTeamEUR"})
    assert (invoice.lines[0].amount, invoice.lines[0].tax_amount) == (-1190, 0)


# -- money -----------------------------------------------------------------------------------

def test_zero_decimal_yen_is_not_scaled() -> None:
    invoice = invoice_of(account("invoices", "in_SChiyoda01"))
    assert invoice.currency == "JPY"
    assert (invoice.lines[0].amount, invoice.lines[0].tax_amount) == (3300, 300)
    assert invoice.transactions[0].amount == 3300


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    (2000, "usd", 2000), (3000, "jpy", 3000), (500, "krw", 500), (1250, "kwd", 1250),
    (500, "mga", 50000),  # Stripe: zero-decimal; ISO 4217: two decimals
    (500, "isk", 5),  # Stripe: two decimals ("00"); ISO 4217: zero-decimal
])
def test_stripe_amounts_become_iso_minor_units(amount: int, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


def test_odd_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="whole ISK"):
        to_minor_units(550, "isk")
    with pytest.raises(ValueError, match="integer"):
        to_minor_units("20.00", "usd")
    raw = load("invoice_basil.json")
    raw["currency"] = "xyz"
    with pytest.raises(MappingError) as caught:
        invoice_of(raw)
    assert caught.value.field == "currency"


# -- subscriptions ---------------------------------------------------------------------------

@pytest.mark.parametrize(("raw_status", "status"), [
    ("incomplete", SubscriptionStatus.FUTURE), ("trialing", SubscriptionStatus.TRIALING),
    ("active", SubscriptionStatus.ACTIVE), ("past_due", SubscriptionStatus.PAST_DUE),
    ("unpaid", SubscriptionStatus.PAST_DUE), ("paused", SubscriptionStatus.PAUSED),
    ("canceled", SubscriptionStatus.CANCELLED), ("incomplete_expired", SubscriptionStatus.CANCELLED),
])
def test_every_subscription_status(raw_status: str, status: SubscriptionStatus) -> None:
    raw = load("subscription_basil.json")
    raw.update(status=raw_status, ended_at=raw["created"] + 86400)
    sub = to_subscription(raw)
    assert sub.status is status and sub.source_status == raw_status
    assert sub.customer_external_id == "cus_1RBeta" and sub.plan_external_id == "price_1RTeamEUR"


def test_pause_collection_reads_as_paused_and_the_raw_status_is_kept() -> None:
    sub = to_subscription(account("subscriptions", "sub_SChiyoda3"))
    assert (sub.status, sub.source_status) == (SubscriptionStatus.PAUSED, "active")


def test_cancelled_at_is_when_service_ended_not_when_it_was_requested() -> None:
    raw = load("subscription_basil.json")
    raw.update(status="canceled", canceled_at=raw["created"] + 10, cancel_at=raw["created"] + 20,
               ended_at=raw["created"] + 30)
    assert to_subscription(raw).cancelled_at == datetime.fromtimestamp(raw["created"] + 30, UTC)
    raw["ended_at"] = None
    assert to_subscription(raw).cancelled_at == datetime.fromtimestamp(raw["created"] + 20, UTC)
    raw.update(cancel_at=None, canceled_at=None)
    with pytest.raises(MappingError, match="cancelled_at"):
        to_subscription(raw)


def test_an_active_subscription_due_to_cancel_is_not_cancelled_yet() -> None:
    raw = load("subscription_basil.json")
    raw.update(cancel_at=raw["created"] + 90 * 86400, cancel_at_period_end=True)
    sub = to_subscription(raw)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.cancelled_at is None


def test_current_period_end_before_basil_is_on_the_subscription() -> None:
    raw = load("subscription_basil.json")
    basil_end = raw["items"]["data"][0]["current_period_end"]
    assert to_subscription(raw).current_period_end == datetime.fromtimestamp(basil_end, UTC)
    old = copy.deepcopy(raw)
    for item in old["items"]["data"]:
        item.pop("current_period_end")
        item.pop("current_period_start")
    old.update(current_period_end=basil_end + 86400, plan=old["items"]["data"][0]["price"])
    assert to_subscription(old).current_period_end == datetime.fromtimestamp(basil_end + 86400, UTC)


def test_an_unknown_subscription_status_is_never_guessed() -> None:
    with pytest.raises(MappingError) as caught:
        to_subscription(account("subscriptions", "sub_SDeltaOdd5"))
    assert caught.value.reason is Reason.UNKNOWN_STATUS and caught.value.field == "status"


# -- plans and customers ---------------------------------------------------------------------

def test_plans_from_recurring_prices() -> None:
    quarterly = account("prices", "price_1QProQuarterly")
    plan = to_plan(quarterly)
    assert (plan.name, plan.interval_unit, plan.interval_count) == ("Pro quarterly", "month", 3)
    expanded = dict(account("prices", "price_1QProMonthlyUSD"),
                    product=account("products", "prod_SPro0001"))
    assert to_plan(expanded).name == "Pro"  # no nickname: the product's name
    with pytest.raises(MappingError, match="one-time"):
        to_plan(account("prices", "price_1QSetupFeeUSD"))


def test_customers() -> None:
    customer = to_customer(account("customers", "cus_SBeta0002"), at("2025-06-05T11:00:00"))
    assert (customer.name, customer.email, customer.country) == (
        "Beta GmbH", "finance@beta.example", "DE")
    assert customer.created_at == at("2025-03-02T10:00:00")
    assert customer.updated_at == at("2025-06-05T11:00:00")


def test_a_metered_line_with_quantity_zero_reads_as_one() -> None:
    raw = load("invoice_basil.json")
    raw["lines"]["data"][0]["quantity"] = 0
    assert invoice_of(raw, recurring_prices={"price_1RTeamEUR"}).lines[0].quantity == 1


def test_an_invoice_without_lines_is_invalid() -> None:
    raw = load("invoice_basil.json")
    with pytest.raises(MappingError) as caught:
        to_invoice(raw, [])
    assert (caught.value.reason, caught.value.field) == (Reason.INVALID_RECORD, "lines")
