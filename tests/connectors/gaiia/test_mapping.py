"""gaiia nodes → normalized records: every status, every line kind, money, discounts, tax, refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from saasync.models import AccountStatus, InvoiceStatus, SubscriptionStatus
from saasync.reasons import Reason
from saasync_connectors.gaiia.mapping import (
    MappingError,
    quarantined,
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)
from tests.connectors.gaiia.conftest import Data


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fails(fn: Any, raw: Any) -> MappingError:
    with pytest.raises(MappingError) as info:
        fn(raw)
    return info.value


# -- accounts --------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "status", "cycle"), [
    ("Maya Thompson", AccountStatus.ACTIVE, True),
    ("Luis Ortega", AccountStatus.ACTIVE, False),
    ("Grace Kim", AccountStatus.INACTIVE, True),
    ("Tom Becker", AccountStatus.LEAD, True),
    ("Aisha Bello", AccountStatus.PENDING, True),
    ("Hannah Weiss", AccountStatus.SUSPENDED, True),
])
def test_account_status_type_and_billing_cycle(data: Data, name: str, status: AccountStatus,
                                               cycle: bool) -> None:
    customer = to_customer(data.account(name))
    assert customer.account_status is status
    assert customer.billing_cycle_enabled is cycle
    assert customer.name == name


def test_account_fields_and_update_time_includes_billing_settings(data: Data) -> None:
    customer = to_customer(data.account("Luis Ortega"))
    assert customer.email == "luis.ortega@example.net" and customer.country == "US"
    assert customer.created_at == at("2026-08-18T12:00:00")
    # the account was last updated 2026-09-20, its billing settings (cycle off) 2026-10-02
    assert customer.updated_at == at("2026-10-02T16:45:00")


def test_unknown_account_status_is_quarantined_not_guessed(data: Data) -> None:
    raw = data.account("Ravi Shah")
    exc = fails(to_customer, raw)
    assert exc.reason is Reason.UNKNOWN_STATUS and exc.field == "status.type"
    assert "ARCHIVED" in str(exc)
    item = quarantined("customer", raw, exc)
    assert item.external_id == raw["id"] and item.reason is Reason.UNKNOWN_STATUS


def test_missing_billing_cycle_flag_is_an_invalid_record(data: Data) -> None:
    raw = data.account("Maya Thompson")
    raw["billingSettings"]["billingCycleEnabled"] = None
    exc = fails(to_customer, raw)
    assert exc.reason is Reason.INVALID_RECORD
    assert exc.field == "billingSettings.billingCycleEnabled"


# -- products --------------------------------------------------------------------------

def test_debit_product_is_a_monthly_plan_fee_and_discount_are_not(data: Data) -> None:
    plan = to_plan(data.product("Fiber 100"))
    assert plan is not None and (plan.interval_unit, plan.interval_count) == ("month", 1)
    assert plan.name == "Fiber 100"
    assert to_plan(data.product("Installation fee")) is None
    assert to_plan(data.product("Welcome promo 50%")) is None


def test_unknown_product_type_is_quarantined(data: Data) -> None:
    raw = data.product("Fiber 100") | {"type": "BUNDLE"}
    exc = fails(to_plan, raw)
    assert exc.reason is Reason.UNKNOWN_STATUS and exc.field == "type"


# -- subscriptions -----------------------------------------------------------------------

@pytest.mark.parametrize(("account", "product", "status", "source"), [
    ("Maya Thompson", "Fiber 100", SubscriptionStatus.ACTIVE, "ACTIVE"),
    ("Priya Raman", "Fiber 100", SubscriptionStatus.PAUSED, "SUSPENDED"),
    ("Ben Carter", "Home Voice", SubscriptionStatus.CANCELLED, "CANCELLED"),
    ("Aisha Bello", "Fiber 1 Gig", SubscriptionStatus.FUTURE, "PENDING"),
    # status word ACTIVE, but unassignedAt is set: the subscription has ended
    ("Chloe Martin", "Fiber 100", SubscriptionStatus.CANCELLED, "ACTIVE"),
])
def test_subscription_status_table(data: Data, account: str, product: str,
                                   status: SubscriptionStatus, source: str) -> None:
    sub = to_subscription(data.subscription(account, product))
    assert sub.status is status and sub.source_status == source
    assert sub.customer_external_id == data.account(account)["id"]
    assert sub.plan_external_id == data.product(product)["id"]


def test_suspended_subscription_keeps_its_suspension_date(data: Data) -> None:
    sub = to_subscription(data.subscription("Priya Raman", "Fiber 100"))
    assert sub.paused_at == at("2026-10-05T12:00:00") and sub.cancelled_at is None


def test_unassigned_subscription_is_cancelled_at_unassignment(data: Data) -> None:
    sub = to_subscription(data.subscription("Chloe Martin", "Fiber 100"))
    assert sub.cancelled_at == at("2026-08-31T20:00:00")
    assert sub.started_at == at("2026-07-01T10:00:00")


def test_cancelled_without_unassignment_date_uses_its_last_update(data: Data) -> None:
    raw = data.subscription("Ben Carter", "Home Voice") | {"unassignedAt": None,
                                                           "updatedAt": "2026-10-01T08:00:00.000Z"}
    sub = to_subscription(raw)
    assert sub.status is SubscriptionStatus.CANCELLED
    assert sub.cancelled_at == at("2026-10-01T08:00:00")


def test_unknown_subscription_status_is_quarantined(data: Data) -> None:
    exc = fails(to_subscription, data.subscription("Maya Thompson", "Home Voice"))
    assert exc.reason is Reason.UNKNOWN_STATUS and exc.field == "status" and "ON_HOLD" in str(exc)


def test_property_billed_subscription_is_an_unknown_customer(data: Data) -> None:
    raw = next(s for s in data.raw["billingSubscriptions"] if s["entity"]["__typename"] == "Property")
    exc = fails(to_subscription, raw)
    assert exc.reason is Reason.UNKNOWN_CUSTOMER and exc.field == "entity"


def test_discount_product_subscription_has_no_plan(data: Data) -> None:
    raw = data.subscription("Maya Thompson", "Fiber 100")
    raw["productVersion"]["product"] = data.product("Welcome promo 50%") | {}
    assert to_subscription(raw).plan_external_id is None


# -- invoices: status ------------------------------------------------------------------

@pytest.mark.parametrize(("account", "month", "status"), [
    ("Maya Thompson", 10, InvoiceStatus.PAID),
    ("Maya Thompson", 11, InvoiceStatus.OPEN),
    ("Grace Kim", 11, InvoiceStatus.FAILED),
    ("Kenji Sato", 10, InvoiceStatus.VOID),
])
def test_invoice_status_table(data: Data, account: str, month: int, status: InvoiceStatus) -> None:
    raw = data.invoice(account, month)
    invoice = to_invoice(raw)
    assert invoice.status is status and invoice.source_status == raw["status"]
    assert invoice.issued_at == at(raw["createdAt"][:19])
    assert invoice.updated_at == at(raw["updatedAt"][:19])


def test_unknown_invoice_status_and_billing_reason_are_quarantined(data: Data) -> None:
    exc = fails(to_invoice, data.invoice("Maya Thompson", 11, "DRAFT"))
    assert exc.reason is Reason.UNKNOWN_STATUS and exc.field == "status"
    raw = data.invoice("Maya Thompson", 10) | {"billingReason": "PRORATION"}
    exc = fails(to_invoice, raw)
    assert exc.reason is Reason.UNKNOWN_STATUS and exc.field == "billingReason"


# -- invoices: lines -------------------------------------------------------------------

def test_subscription_line_with_monthly_period_and_tax(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10)
    (line,) = to_invoice(raw).lines
    assert line.kind == "subscription"
    assert line.subscription_external_id == data.subscription("Maya Thompson", "Fiber 100")["id"]
    assert line.plan_external_id == data.product("Fiber 100")["id"]
    # fromDate 2026-10-01 .. toDate 2026-10-31, both days included
    assert (line.service_period_start, line.service_period_end) == (at("2026-10-01T00:00:00"),
                                                                     at("2026-11-01T00:00:00"))
    assert (line.amount, line.tax_amount, line.discount_amount) == (6825, 325, 0)
    assert line.prorated is False and line.quantity == 1


def test_prorated_line_item_discount_tax_and_invoice_level_discount(data: Data) -> None:
    invoice = to_invoice(data.invoice("Gîte du Lac", 9))
    (line,) = invoice.lines
    assert invoice.currency == "CAD"
    assert line.prorated is True
    assert (line.service_period_start, line.service_period_end) == (at("2026-09-15T00:00:00"),
                                                                     at("2026-10-01T00:00:00"))
    # 52.80 prorated, 26.40 promo off, 1.32 GST: 27.72 tax included; 5.00 off the invoice
    assert (line.amount, line.discount_amount, line.tax_amount) == (2772, 2640, 132)
    assert invoice.discount_amount == 500
    assert [(t.type, t.result, t.amount) for t in invoice.transactions] == [
        ("payment", "successful", 2272)]


def test_manual_invoice_lines_are_one_time(data: Data) -> None:
    invoice = to_invoice(data.invoice("Aisha Bello", 10))
    assert [line.kind for line in invoice.lines] == ["one_time", "one_time"]
    assert [line.description for line in invoice.lines] == ["Installation fee", "Wi-Fi 6 router"]
    assert not invoice.has_subscription_line


def test_manual_invoice_keeps_the_subscription_it_names(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10) | {"billingReason": "MANUAL"}
    (line,) = to_invoice(raw).lines
    assert line.kind == "one_time"
    assert line.subscription_external_id == data.subscription("Maya Thompson", "Fiber 100")["id"]


def test_fee_beside_subscription_lines_is_one_time(data: Data) -> None:
    invoice = to_invoice(data.invoice("Hannah Weiss", 10))
    assert [line.kind for line in invoice.lines] == ["subscription", "subscription", "one_time"]
    assert [line.tax_amount for line in invoice.lines] == [390, 125, 0]


@pytest.mark.parametrize("strategy", ["ONE_TIME", "PREPAID"])
def test_non_recurring_strategies_are_one_time(data: Data, strategy: str) -> None:
    raw = data.invoice("Maya Thompson", 10)
    raw["debits"]["nodes"][0]["productVersion"]["paymentStrategy"] = strategy
    assert to_invoice(raw).lines[0].kind == "one_time"


def test_custom_debit_without_product_is_one_time(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10)
    raw["debits"]["nodes"][0]["productVersion"] = None
    assert to_invoice(raw).lines[0].kind == "one_time"


def test_unknown_payment_strategy_is_quarantined(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10)
    raw["debits"]["nodes"][0]["productVersion"]["paymentStrategy"] = "METERED"
    exc = fails(to_invoice, raw)
    assert exc.reason is Reason.UNKNOWN_STATUS
    assert exc.field == "debits.0.productVersion.paymentStrategy"


def test_multi_month_subscription_debit_is_quarantined(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10)
    raw["debits"]["nodes"][0]["months"] = 3
    exc = fails(to_invoice, raw)
    assert exc.reason is Reason.INVALID_RECORD and exc.field == "debits.0.months"


def test_voided_debit_is_dropped_but_a_void_invoice_keeps_its_lines(data: Data) -> None:
    void = to_invoice(data.invoice("Kenji Sato", 10))
    assert void.status is InvoiceStatus.VOID and len(void.lines) == 1
    raw = data.invoice("Hannah Weiss", 10)
    late_fee = raw["debits"]["nodes"][2]
    late_fee["voidedAt"] = "2026-10-09T10:00:00.000Z"
    raw["total"] -= 1500
    assert len(to_invoice(raw).lines) == 2


def test_lines_that_do_not_add_up_to_the_total_are_quarantined(data: Data) -> None:
    raw = data.invoice("Gîte du Lac", 9)
    raw["total"] += 1
    exc = fails(to_invoice, raw)
    assert exc.reason is Reason.INVALID_RECORD and exc.field == "total"
    assert "2273" in str(exc) and "2272" in str(exc)


def test_partial_nested_list_is_quarantined_not_truncated(data: Data) -> None:
    raw = data.invoice("Hannah Weiss", 10)
    raw["debits"]["nodes"][0]["transaction"]["taxTransactions"]["pageInfo"]["hasNextPage"] = True
    exc = fails(to_invoice, raw)
    assert exc.field == "debits.0.transaction.taxTransactions"
    assert "only the first 2" in str(exc)


def test_zero_decimal_currency_amounts_are_taken_as_minor_units(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10) | {"currency": "JPY"}
    invoice = to_invoice(raw)
    assert invoice.currency == "JPY" and invoice.lines[0].amount == 6825


def test_unknown_currency_and_float_money_are_invalid(data: Data) -> None:
    exc = fails(to_invoice, data.invoice("Maya Thompson", 10) | {"currency": "XXY"})
    assert exc.reason is Reason.INVALID_RECORD and exc.field == "currency"
    raw = data.invoice("Maya Thompson", 10)
    raw["debits"]["nodes"][0]["transaction"]["amount"] = 65.0
    assert fails(to_invoice, raw).field == "debits.0.transaction.amount"


# -- invoices: transactions ------------------------------------------------------------

def test_payments_skip_voided_credits(data: Data) -> None:
    invoice = to_invoice(data.invoice("Hannah Weiss", 10))
    assert [(t.type, t.result, t.amount) for t in invoice.transactions] == [
        ("payment", "successful", 5000), ("payment", "successful", 6015)]
    assert invoice.transactions[0].date == at("2026-10-10T10:00:00")


def test_refund_of_a_payment_is_a_refund_on_its_invoice(data: Data) -> None:
    invoice = to_invoice(data.invoice("Ben Carter", 9))
    assert [(t.type, t.result, t.amount) for t in invoice.transactions] == [
        ("payment", "successful", 2500), ("refund", "successful", 1250)]
    assert invoice.transactions[1].date == at("2026-10-01T12:00:00")


def test_failed_and_pending_payments(data: Data) -> None:
    raw = data.invoice("Maya Thompson", 10) | {"status": "OPEN", "amountPaid": 0}
    payment = raw["credits"]["nodes"][0]["transaction"]["payment"]
    payment["status"] = "FAILED"
    assert [(t.type, t.result) for t in to_invoice(raw).transactions] == [("payment", "failed")]
    payment["status"] = "PENDING"
    assert to_invoice(raw).transactions == ()
    payment["status"] = "DISPUTED"
    exc = fails(to_invoice, raw)
    assert exc.reason is Reason.UNKNOWN_STATUS and exc.field == "credits.0.transaction.payment.status"


def test_paid_invoice_settled_without_a_payment_gets_one(data: Data) -> None:
    raw = data.invoice("Gîte du Lac", 10)  # paid by a DISCOUNT credit
    invoice = to_invoice(raw)
    (tx,) = invoice.transactions
    assert (tx.type, tx.result, tx.amount) == ("payment", "successful", 5198)
    assert tx.external_id == f"{raw['id']}:settled" and tx.date == at("2026-10-02T10:00:00")
    assert invoice.successful_payment
