"""Chargebee JSON → normalized records: every status, every line kind, money, discounts,
tax, payments, credits and refunds. Base objects are in ``fixtures/objects.json``."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.models import InvoiceStatus, SubscriptionStatus
from saasync.reasons import Reason
from saasync_connectors.chargebee.mapping import (
    INVOICE_STATUSES,
    SUBSCRIPTION_STATUSES,
    MappingError,
    is_prorated,
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)

OBJECTS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "objects.json").read_text(encoding="utf-8"))


def obj(name: str, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(OBJECTS[name])
    out.update(changes)
    return out


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@contextmanager
def raises(reason: Reason, field: str) -> Iterator[None]:
    """A MappingError with this reason, naming this (Chargebee) field."""
    with pytest.raises(MappingError) as info:
        yield
    assert (info.value.reason, info.value.field) == (reason, field), str(info.value)


# -- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("paid", InvoiceStatus.PAID), ("posted", InvoiceStatus.OPEN),
    ("payment_due", InvoiceStatus.OPEN), ("not_paid", InvoiceStatus.FAILED),
    ("voided", InvoiceStatus.VOID), ("pending", InvoiceStatus.DRAFT),
])
def test_every_invoice_status_maps_per_the_reference_table(source: str, expected: InvoiceStatus) -> None:
    invoice = to_invoice(obj("invoice", status=source))
    assert invoice.status is expected and invoice.source_status == source
    assert set(INVOICE_STATUSES) == {"paid", "posted", "payment_due", "not_paid", "voided", "pending"}


def test_a_deleted_invoice_is_void_whatever_its_status() -> None:
    invoice = to_invoice(obj("invoice", status="paid", deleted=True))
    assert invoice.status is InvoiceStatus.VOID and invoice.source_status == "deleted"


@pytest.mark.parametrize("status", ["in_review", None, 3])
def test_an_unknown_invoice_status_is_quarantined_not_guessed(status: Any) -> None:
    with raises(Reason.UNKNOWN_STATUS, "status"):
        to_invoice(obj("invoice", status=status))


@pytest.mark.parametrize(("source", "expected"), [
    ("future", SubscriptionStatus.FUTURE), ("in_trial", SubscriptionStatus.TRIALING),
    ("active", SubscriptionStatus.ACTIVE), ("non_renewing", SubscriptionStatus.ACTIVE),
    ("paused", SubscriptionStatus.PAUSED), ("cancelled", SubscriptionStatus.CANCELLED),
])
def test_every_subscription_status_maps_per_the_reference_table(
    source: str, expected: SubscriptionStatus
) -> None:
    sub = to_subscription(obj("subscription", status=source, cancelled_at=1769000000,
                              pause_date=1768000000))
    assert sub.status is expected and sub.source_status == source
    assert len(SUBSCRIPTION_STATUSES) == 6
    # only a real cancellation carries its date; a pause date only when paused
    assert (sub.cancelled_at is not None) == (source == "cancelled")
    assert (sub.paused_at == at(1768000000)) == (source == "paused")


def test_transferred_is_not_guessed() -> None:
    with raises(Reason.UNKNOWN_STATUS, "status"):
        to_subscription(obj("subscription", status="transferred"))


def test_a_cancelled_subscription_without_its_date_is_invalid() -> None:
    with pytest.raises(MappingError) as info:
        to_subscription(obj("subscription", status="cancelled"))
    assert info.value.reason is Reason.INVALID_RECORD and "cancelled_at" in str(info.value)


def test_subscription_fields_pc2_and_pc1() -> None:
    sub = to_subscription(obj("subscription"))
    assert (sub.external_id, sub.customer_external_id, sub.plan_external_id) == (
        "sub_1", "cus_1", "basic-USD-monthly")
    assert sub.current_period_end == at(1770285600) and sub.updated_at == at(1767607260)
    assert sub.started_at == at(1767607200)
    v1 = to_subscription(obj("subscription_v1"))
    assert v1.plan_external_id == "no_trial" and v1.customer_external_id.startswith("__test__")


# -- lines -----------------------------------------------------------------------------------


def test_recurring_lines_carry_subscription_plan_and_service_period() -> None:
    invoice = to_invoice(obj("invoice"))
    plan, seats = invoice.lines
    assert plan.kind == seats.kind == "subscription"
    assert plan.subscription_external_id == "sub_1" and plan.plan_external_id == "basic-USD-monthly"
    assert seats.plan_external_id == "seats-USD-monthly" and seats.quantity == 3
    assert plan.service_period_start == at(1767607200)
    assert plan.service_period_end == at(1770285600)
    assert plan.external_id == "li_1" and plan.description == "Basic USD Monthly"


def test_v1_plan_and_addon_lines_are_recurring_and_plan_setup_is_one_time() -> None:
    invoice = to_invoice(obj("invoice_v1"))
    assert [(line.kind, line.plan_external_id) for line in invoice.lines] == [
        ("subscription", "basic"), ("subscription", "data_usage"), ("one_time", None)]
    setup = invoice.lines[2]
    assert setup.subscription_external_id == "sub_v1" and setup.amount == 1500


@pytest.mark.parametrize(("entity", "kind"), [
    ("plan_item_price", "subscription"), ("addon_item_price", "subscription"),
    ("plan", "subscription"), ("addon", "subscription"),
    ("charge_item_price", "one_time"), ("plan_setup", "one_time"), ("adhoc", "one_time"),
])
def test_every_line_kind(entity: str, kind: str) -> None:
    raw = obj("invoice")
    raw["line_items"][0]["entity_type"] = entity
    line = to_invoice(raw).lines[0]
    assert line.kind == kind
    if kind == "one_time":
        assert line.plan_external_id is None and line.service_period_start is None
        assert line.subscription_external_id == "sub_1"  # Chargebee links it: kept


def test_an_unknown_line_kind_is_quarantined_naming_the_line() -> None:
    raw = obj("invoice")
    raw["line_items"][1]["entity_type"] = "gift_item_price"
    with raises(Reason.INVALID_RECORD, "line_items.1.entity_type"):
        to_invoice(raw)


def test_a_recurring_line_without_its_period_end_is_invalid() -> None:
    raw = obj("invoice")
    del raw["line_items"][0]["date_to"]
    with pytest.raises(MappingError) as info:
        to_invoice(raw)
    assert info.value.reason is Reason.INVALID_RECORD
    assert info.value.field.startswith("line_items.0")


def test_an_invoice_line_takes_the_invoice_subscription_when_the_line_has_none() -> None:
    raw = obj("invoice")
    del raw["line_items"][0]["subscription_id"]
    assert to_invoice(raw).lines[0].subscription_external_id == "sub_1"


def test_a_zero_quantity_metered_line_is_sent_as_quantity_one() -> None:
    raw = obj("invoice")
    raw["line_items"][1].update(quantity=0, amount=0, tax_amount=0)
    assert to_invoice(raw).lines[1].quantity == 1


def test_prorated_lines_are_recognised_from_the_plan_period() -> None:
    periods = {"basic-USD-monthly": ("month", 1), "seats-USD-monthly": ("month", 1)}
    raw = obj("invoice")
    raw["line_items"][1]["date_from"] = 1768816800  # 2026-01-19: a mid-term upgrade
    invoice = to_invoice(raw, periods=periods)
    assert [line.prorated for line in invoice.lines] == [False, True]
    start = at(1767607200)
    assert not is_prorated(start, start.replace(month=2), ("month", 1))
    assert is_prorated(start, start.replace(day=20), ("month", 1))
    assert not is_prorated(start, start.replace(day=20), None)  # unknown plan: not guessed
    assert not is_prorated(start, start.replace(year=2027), ("year", 1))


# -- money, discounts, tax ---------------------------------------------------------------------


def test_tax_exclusive_line_amount_includes_its_tax() -> None:
    invoice = to_invoice(obj("invoice"))
    assert [(line.amount, line.tax_amount) for line in invoice.lines] == [(3190, 290), (1650, 150)]
    assert sum(line.amount for line in invoice.lines) == OBJECTS["invoice"]["total"]


def test_tax_inclusive_line_amount_is_not_taxed_twice() -> None:
    raw = obj("invoice", price_type="tax_inclusive")
    assert [line.amount for line in to_invoice(raw).lines] == [2900, 1500]


def test_unknown_price_type_is_invalid() -> None:
    with raises(Reason.INVALID_RECORD, "price_type"):
        to_invoice(obj("invoice", price_type="tax_free"))


def test_zero_decimal_currency_amounts_are_not_scaled() -> None:
    raw = obj("invoice", currency_code="JPY", tax=0, sub_total=3000, total=3000)
    raw["line_items"] = raw["line_items"][:1]
    raw["line_items"][0].update(unit_amount=3000, amount=3000, tax_amount=0)
    raw["linked_payments"][0].update(applied_amount=3000, txn_amount=3000)
    invoice = to_invoice(raw)
    assert invoice.currency == "JPY" and invoice.lines[0].amount == 3000
    assert invoice.transactions[0].amount == 3000


def test_an_amount_that_is_not_an_integer_is_invalid() -> None:
    raw = obj("invoice")
    raw["line_items"][0]["amount"] = 29.0
    with raises(Reason.INVALID_RECORD, "line_items.0.amount"):
        to_invoice(raw)


def test_item_level_discount_comes_off_its_line() -> None:
    raw = obj("invoice")
    raw["line_items"][0].update(discount_amount=900, item_level_discount_amount=900, tax_amount=200)
    raw["discounts"] = [{"amount": 900, "description": "LAUNCH", "line_item_id": "li_1",
                         "entity_type": "item_level_coupon", "discount_type": "fixed_amount",
                         "entity_id": "LAUNCH", "object": "discount"}]
    invoice = to_invoice(raw)
    line = invoice.lines[0]
    assert (line.amount, line.discount_amount) == (2900 - 900 + 200, 900)
    assert invoice.discount_amount == 0 and invoice.discount_code is None


def test_item_level_discount_from_line_item_discounts_when_the_line_lacks_the_field() -> None:
    raw = obj("invoice")
    del raw["line_items"][0]["item_level_discount_amount"]
    raw["line_item_discounts"] = [
        {"line_item_id": "li_1", "discount_type": "item_level_discount", "entity_id": "d1",
         "discount_amount": 400, "object": "line_item_discount"},
        {"line_item_id": "li_1", "discount_type": "document_level_coupon", "coupon_id": "X",
         "entity_id": "X", "discount_amount": 100, "object": "line_item_discount"},
    ]
    assert to_invoice(raw).lines[0].discount_amount == 400


def test_document_level_discounts_and_credits_go_to_the_invoice() -> None:
    raw = obj("invoice")
    raw["discounts"] = [
        {"amount": 440, "description": "WELCOME10", "entity_type": "document_level_coupon",
         "discount_type": "percentage", "entity_id": "WELCOME10", "object": "discount"},
        {"amount": 100, "description": "Promotional Credits", "entity_type": "promotional_credits",
         "object": "discount"},
        {"amount": 50, "description": "Prorated Credits", "entity_type": "prorated_credits",
         "object": "discount"},
    ]
    invoice = to_invoice(raw)
    assert invoice.discount_amount == 590 and invoice.discount_code == "WELCOME10"
    assert [line.discount_amount for line in invoice.lines] == [0, 0]


def test_an_unknown_discount_kind_is_invalid() -> None:
    raw = obj("invoice")
    raw["discounts"] = [{"amount": 1, "entity_type": "loyalty_points", "object": "discount"}]
    with raises(Reason.INVALID_RECORD, "discounts.0.entity_type"):
        to_invoice(raw)


# -- payments, credits, refunds ------------------------------------------------------------------


def test_linked_payments_become_payment_transactions() -> None:
    (txn,) = to_invoice(obj("invoice")).transactions
    assert (txn.type, txn.result, txn.amount, txn.date) == ("payment", "successful", 4840,
                                                            at(1767607260))
    assert txn.external_id == "txn_1:inv_1001"


def test_failed_and_unsettled_payments() -> None:
    raw = obj("invoice", status="payment_due")
    first = raw["linked_payments"][0]
    raw["linked_payments"] = [
        {**first, "txn_id": "t_fail", "txn_status": "failure"},
        *({**first, "txn_id": f"t_{s}", "txn_status": s}
          for s in ("in_progress", "timeout", "needs_attention", "voided")),
    ]
    (txn,) = to_invoice(raw).transactions
    assert (txn.type, txn.result, txn.external_id) == ("payment", "failed", "t_fail:inv_1001")


def test_an_unknown_payment_status_is_quarantined() -> None:
    raw = obj("invoice")
    raw["linked_payments"][0]["txn_status"] = "settling"
    with raises(Reason.UNKNOWN_STATUS, "linked_payments.0.txn_status"):
        to_invoice(raw)


def test_applied_credits_pay_the_invoice() -> None:
    raw = obj("invoice", linked_payments=[])
    raw["applied_credits"] = [{"cn_id": "CN-3", "applied_amount": 4840, "applied_at": 1767607300,
                               "cn_reason_code": "subscription_change", "cn_date": 1767000000,
                               "cn_status": "adjusted"}]
    (txn,) = to_invoice(raw).transactions
    assert (txn.type, txn.result, txn.amount, txn.external_id) == (
        "payment", "successful", 4840, "CN-3:inv_1001")
    assert to_invoice(raw).successful_payment


def test_credit_note_refunds_become_refund_transactions_on_their_invoice() -> None:
    note = obj("credit_note")
    failed = obj("credit_note", id="CN-8", linked_refunds=[
        {**note["linked_refunds"][0], "txn_id": "txn_refund_8", "txn_status": "failure"}])
    voided = obj("credit_note", id="CN-9", status="voided")
    deleted = obj("credit_note", id="CN-10", deleted=True)
    invoice = to_invoice(obj("invoice"), [note, failed, voided, deleted])
    assert [(t.type, t.result, t.amount, t.external_id) for t in invoice.transactions] == [
        ("payment", "successful", 4840, "txn_1:inv_1001"),
        ("refund", "successful", 1100, "txn_refund_7:inv_1001"),
        ("refund", "failed", 1100, "txn_refund_8:inv_1001"),
    ]


def test_an_unknown_refund_status_names_the_credit_note() -> None:
    note = obj("credit_note")
    note["linked_refunds"][0]["txn_status"] = "bounced"
    with raises(Reason.UNKNOWN_STATUS, "credit_notes.CN-7.linked_refunds.0.txn_status"):
        to_invoice(obj("invoice"), [note])


# -- invoice, customer and plan fields -----------------------------------------------------------


def test_invoice_fields() -> None:
    invoice = to_invoice(obj("invoice", status="posted", due_date=1770199200))
    assert (invoice.external_id, invoice.customer_external_id, invoice.currency) == (
        "inv_1001", "cus_1", "USD")
    assert invoice.issued_at == at(1767607200) and invoice.due_at == at(1770199200)
    assert invoice.updated_at == at(1767607260)


def test_invalid_invoice_fields_are_named_as_chargebee_names_them() -> None:
    with raises(Reason.INVALID_RECORD, "currency_code"):
        to_invoice(obj("invoice", currency_code="XYZ"))
    with raises(Reason.INVALID_RECORD, "customer_id"):
        to_invoice(obj("invoice", customer_id=None))
    with raises(Reason.INVALID_RECORD, "line_items"):
        to_invoice(obj("invoice", line_items=[]))
    with raises(Reason.INVALID_RECORD, "id"):
        to_invoice(obj("invoice", id=""))


def test_customer() -> None:
    customer = to_customer(obj("customer"))
    assert (customer.external_id, customer.name, customer.email, customer.company,
            customer.country) == ("cus_1", "Ada Lovelace", "ada@example.com", "Analytical Ltd", "GB")
    assert customer.created_at == at(1767520800) and customer.updated_at == at(1767607200)
    company_only = to_customer(obj("customer", first_name=None, last_name=None,
                                   billing_address=None))
    assert company_only.name == "Analytical Ltd" and company_only.country is None


def test_item_price_and_v1_plan_and_addon_become_plans() -> None:
    growth = to_plan(obj("item_price"))
    assert (growth.external_id, growth.name, growth.interval_unit, growth.interval_count) == (
        "growth-EUR-quarterly", "Growth EUR Quarterly", "month", 3)
    assert growth.updated_at == at(1762074000)
    assert to_plan(obj("plan_v1")).interval_unit == "month"
    assert to_plan(obj("addon_v1")).external_id == "data_usage"
    assert to_plan(obj("item_price", period_unit="week", period=2)).interval_count == 2


def test_a_price_without_a_billing_interval_is_not_a_plan() -> None:
    with raises(Reason.INVALID_RECORD, "period_unit"):
        to_plan(obj("addon_v1", charge_type="non_recurring", period_unit="not_applicable"))
    with raises(Reason.INVALID_RECORD, "period"):
        to_plan(obj("item_price", period=0))


def test_a_recurring_line_without_its_plan_names_entity_id() -> None:
    raw = obj("invoice")
    del raw["line_items"][0]["entity_id"]
    with pytest.raises(MappingError) as info:
        to_invoice(raw)
    assert info.value.field in ("line_items.0", "line_items.0.entity_id")
