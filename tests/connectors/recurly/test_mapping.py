"""Raw Recurly JSON → normalized models: every status, every line kind, money, refunds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from saasync.models import InvoiceStatus, SubscriptionStatus
from saasync.reasons import Reason
from saasync_connectors.recurly.mapping import (
    MappingError,
    credit_refunds,
    quarantined,
    to_customer,
    to_invoice,
    to_plan,
    to_subscription,
)
from tests.connectors.recurly.support import obj

D = Decimal


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def invoice(inv_id: str = "i1inv00001001", **changes: Any) -> dict[str, Any]:
    raw = obj("invoices", inv_id)
    raw.update(changes)
    return raw


def with_line(raw: dict[str, Any], **changes: Any) -> dict[str, Any]:
    raw["line_items"][0].update(changes)
    return raw


def mapping_error(call: Any, *args: Any) -> MappingError:
    with pytest.raises(MappingError) as caught:
        call(*args)
    return caught.value


# -- invoice states -----------------------------------------------------------------------

@pytest.mark.parametrize(("state", "expected"), [
    ("open", InvoiceStatus.OPEN), ("pending", InvoiceStatus.OPEN),
    ("processing", InvoiceStatus.OPEN), ("past_due", InvoiceStatus.OPEN),
    ("paid", InvoiceStatus.PAID), ("closed", InvoiceStatus.PAID),
    ("failed", InvoiceStatus.FAILED), ("voided", InvoiceStatus.VOID),
])
def test_every_invoice_state_maps_per_the_reference_table(state: str, expected: InvoiceStatus) -> None:
    mapped = to_invoice(invoice(state=state))
    assert mapped.status is expected
    assert mapped.source_status == state


def test_an_unknown_invoice_state_is_quarantined_never_guessed() -> None:
    raw = invoice("i1inv00001011")
    error = mapping_error(to_invoice, raw)
    assert (error.reason, error.field) == (Reason.UNKNOWN_STATUS, "state")
    item = quarantined("invoice", raw, error)
    assert (item.kind, item.external_id, item.reason) == ("invoice", "i1inv00001011",
                                                          Reason.UNKNOWN_STATUS)
    assert "i1inv00001011" in item.message and "'state'" in item.message
    assert "disputed" in item.message
    assert item.raw is not None and item.raw["line_items"][0]["subtotal"] == "25.0"


# -- subscription states ------------------------------------------------------------------

@pytest.mark.parametrize(("sub_id", "status", "cancelled_at"), [
    ("s1acme000001", SubscriptionStatus.ACTIVE, None),
    ("s1acme000002", SubscriptionStatus.TRIALING, None),
    ("s1initech004", SubscriptionStatus.ACTIVE, "2024-04-07T08:00:00Z"),
    ("s1umbrella05", SubscriptionStatus.CANCELLED, "2024-03-08T08:00:00Z"),
    ("s1hooli00006", SubscriptionStatus.PAUSED, None),
    ("s1hooli00007", SubscriptionStatus.FUTURE, None),
])
def test_every_subscription_state_maps_per_the_reference_table(
        sub_id: str, status: SubscriptionStatus, cancelled_at: str | None) -> None:
    raw = obj("subscriptions", sub_id)
    mapped = to_subscription(raw)
    assert mapped.status is status and mapped.source_status == raw["state"]
    assert mapped.cancelled_at == (at(cancelled_at) if cancelled_at else None)
    assert mapped.customer_external_id == raw["account"]["id"]
    assert mapped.plan_external_id == raw["plan"]["id"]
    assert mapped.current_period_end == at(raw["current_period_ends_at"])


def test_a_paused_subscription_keeps_when_it_paused() -> None:
    assert to_subscription(obj("subscriptions", "s1hooli00006")).paused_at == at("2024-01-23T08:00:00Z")


def test_a_failed_subscription_is_ended_at_its_last_change_when_no_end_is_given() -> None:
    raw = obj("subscriptions", "s1hooli00007")
    raw.update(state="failed", updated_at="2024-03-26T00:00:00Z")
    mapped = to_subscription(raw)
    assert mapped.status is SubscriptionStatus.CANCELLED
    assert mapped.cancelled_at == at("2024-03-26T00:00:00Z")


def test_an_active_subscription_past_its_trial_is_active() -> None:
    raw = obj("subscriptions", "s1acme000002")
    raw.update(current_period_started_at="2024-03-15T00:00:00Z",
               current_period_ends_at="2024-04-15T00:00:00Z")
    assert to_subscription(raw).status is SubscriptionStatus.ACTIVE


def test_an_unknown_subscription_state_is_quarantined() -> None:
    raw = obj("subscriptions", "s1acme000001")
    raw["state"] = "in_limbo"
    error = mapping_error(to_subscription, raw)
    assert (error.reason, error.field, error.external_id) == (Reason.UNKNOWN_STATUS, "state",
                                                              "s1acme000001")


def test_an_expired_subscription_without_any_end_date_is_invalid() -> None:
    raw = obj("subscriptions", "s1umbrella05")
    raw.update(expires_at=None, canceled_at=None)
    error = mapping_error(to_subscription, raw)
    assert error.reason is Reason.INVALID_RECORD and "cancelled_at" in error.message


# -- line kinds ---------------------------------------------------------------------------

@pytest.mark.parametrize(("origin", "kind"), [
    ("plan", "subscription"), ("add_on", "subscription"), ("plan_trial", "subscription"),
    ("add_on_trial", "subscription"), ("one_time", "one_time"), ("setup_fee", "one_time"),
    ("debit", "one_time"), ("credit", "one_time"), ("prepayment", "one_time"),
])
def test_every_line_origin_has_its_kind(origin: str, kind: str) -> None:
    line = to_invoice(with_line(invoice(), origin=origin)).lines[0]
    assert line.kind == kind
    if kind == "subscription":
        assert line.subscription_external_id == "s1acme000001"
        assert line.plan_external_id == "p1basic000001"
        assert (line.service_period_start, line.service_period_end) == (
            at("2024-01-05T10:00:00Z"), at("2024-02-05T10:00:00Z"))
    else:
        assert line.plan_external_id is None and line.service_period_start is None
        assert line.subscription_external_id == "s1acme000001"  # Recurly links it: kept


def test_a_setup_fee_beside_a_plan_line_travels_as_one_time() -> None:
    lines = to_invoice(invoice("i1inv00001004")).lines
    assert [(x.kind, x.amount) for x in lines] == [("subscription", 2500), ("one_time", 1000)]


def test_a_one_time_charge_without_subscription_has_no_links() -> None:
    line = to_invoice(invoice("i1inv00001009")).lines[0]
    assert (line.kind, line.subscription_external_id, line.quantity, line.amount) == (
        "one_time", None, 2, 5000)


def test_an_unknown_line_origin_quarantines_the_invoice() -> None:
    error = mapping_error(to_invoice, with_line(invoice(), origin="gift_card_magic"))
    assert (error.reason, error.field) == (Reason.INVALID_RECORD, "line_items.0.origin")


def test_a_plan_line_without_its_subscription_is_invalid_and_names_the_field() -> None:
    error = mapping_error(to_invoice, with_line(invoice(), subscription_id=None))
    assert error.field.startswith("lines.0") and "subscription_external_id" in str(error)


def test_legacy_carryforward_and_applied_credit_lines_are_bookkeeping_not_revenue() -> None:
    raw = invoice()
    extra = [dict(raw["line_items"][0], id="l1carry", origin="carryforward", type="credit",
                  subtotal=D("-3.00")),
             dict(raw["line_items"][0], id="l1applied", origin="credit", type="credit",
                  legacy_category="applied_credits", subtotal=D("-2.00"))]
    raw["line_items"] += extra
    assert [x.external_id for x in to_invoice(raw).lines] == ["l1line0100101"]


def test_a_trial_line_is_a_zero_subscription_line() -> None:
    line = to_invoice(invoice("i1inv00001010")).lines[0]
    assert (line.kind, line.amount, line.subscription_external_id) == ("subscription", 0,
                                                                       "s1acme000002")


def test_a_proration_credit_is_a_negative_prorated_subscription_line() -> None:
    credit, charge = to_invoice(invoice("i1inv00001012")).lines
    assert (credit.amount, credit.prorated, credit.plan_external_id) == (-1450, True, "p1basic000001")
    assert (charge.amount, charge.prorated, charge.plan_external_id) == (3950, True, "p1promonth002")


# -- money --------------------------------------------------------------------------------

def test_tax_exclusive_line_amount_includes_its_tax() -> None:
    line = to_invoice(invoice()).lines[0]
    assert (line.amount, line.tax_amount, line.discount_amount) == (3139, 239, 0)


def test_tax_inclusive_prices_already_hold_the_tax() -> None:
    raw = with_line(invoice(), tax_inclusive=True, subtotal=D("29.00"), tax=D("4.63"))
    line = to_invoice(raw).lines[0]
    assert (line.amount, line.tax_amount) == (2900, 463)


def test_line_discount_is_taken_off_and_reported() -> None:
    mapped = to_invoice(invoice("i1inv00001002"))
    line = mapped.lines[0]
    assert (line.amount, line.discount_amount, line.tax_amount) == (2598, 500, 198)
    assert mapped.discount_amount == 0  # the invoice's discount is the line's: not counted twice


def test_a_coupon_line_becomes_the_invoice_level_discount() -> None:
    raw = invoice()
    raw["line_items"].append(dict(raw["line_items"][0], id="l1coupon", origin="coupon",
                                  type="credit", subtotal=D("-4.00"), tax=D("0"), amount=D("-4.00")))
    mapped = to_invoice(raw)
    assert mapped.discount_amount == 400
    assert [x.external_id for x in mapped.lines] == ["l1line0100101"]


def test_an_invoice_discount_beyond_its_lines_is_invoice_level() -> None:
    assert to_invoice(invoice(discount=D("7.50"))).discount_amount == 750


def test_zero_decimal_currency_is_whole_yen() -> None:
    mapped = to_invoice(invoice("i1inv00001003"))
    assert mapped.currency == "JPY"
    assert mapped.lines[0].amount == 120000 and mapped.transactions[0].amount == 120000


def test_a_yen_amount_with_decimals_is_invalid_not_rounded() -> None:
    error = mapping_error(to_invoice, with_line(invoice("i1inv00001003"), subtotal=D("1200.5")))
    assert error.field == "line_items.0.subtotal" and "JPY" in error.message


def test_three_decimal_currency() -> None:
    raw = with_line(invoice(currency="KWD"), subtotal=D("12.345"), tax=D("0"))
    raw["transactions"][0]["amount"] = D("12.345")
    mapped = to_invoice(raw)
    assert (mapped.lines[0].amount, mapped.transactions[0].amount) == (12345, 12345)


def test_money_given_as_a_binary_float_is_refused() -> None:
    error = mapping_error(to_invoice, with_line(invoice(), subtotal=29.1))
    assert error.field == "line_items.0.subtotal" and "exact" in error.message


def test_an_unknown_currency_is_invalid() -> None:
    error = mapping_error(to_invoice, invoice(currency="XYZ"))
    assert (error.reason, error.field) == (Reason.INVALID_RECORD, "currency")


# -- transactions and refunds -------------------------------------------------------------

@pytest.mark.parametrize(("kind", "status", "expected"), [
    ("purchase", "success", ("payment", "successful")),
    ("capture", "success", ("payment", "successful")),
    ("payment", "success", ("payment", "successful")),
    ("purchase", "declined", ("payment", "failed")),
    ("purchase", "error", ("payment", "failed")),
    ("refund", "success", ("refund", "successful")),
    ("purchase", "void", None), ("purchase", "pending", None),
    ("verify", "success", None), ("authorization", "success", None),
])
def test_transactions_by_type_and_status(kind: str, status: str,
                                         expected: tuple[str, str] | None) -> None:
    raw = invoice()
    raw["transactions"][0].update(type=kind, status=status)
    found = [(t.type, t.result) for t in to_invoice(raw).transactions]
    assert found == ([expected] if expected else [])


def test_an_unknown_transaction_status_quarantines_the_invoice() -> None:
    raw = invoice()
    raw["transactions"][0]["status"] = "teleported"
    error = mapping_error(to_invoice, raw)
    assert (error.reason, error.field) == (Reason.UNKNOWN_STATUS, "transactions.0.status")


def test_a_credit_balance_payment_counts_as_a_payment_unless_voided() -> None:
    raw = invoice(transactions=[])
    payment = {"object": "credit_payment", "id": "cp1", "uuid": "cp1uuid", "action": "payment",
               "account": raw["account"], "applied_to_invoice": None, "original_invoice": None,
               "currency": "USD", "amount": D("31.39"), "original_credit_payment_id": None,
               "refund_transaction": None, "created_at": "2024-01-05T10:00:01Z",
               "updated_at": "2024-01-05T10:00:01Z", "voided_at": None}
    raw["credit_payments"] = [payment, dict(payment, id="cp2", voided_at="2024-01-06T00:00:00Z")]
    txs = to_invoice(raw).transactions
    assert [(t.external_id, t.type, t.result, t.amount) for t in txs] == [
        ("cp1", "payment", "successful", 3139)]


def test_a_refund_credit_invoice_refunds_its_previous_invoice() -> None:
    refund = credit_refunds(obj("invoices", "i1inv00001008"))
    assert refund is not None and refund.original_invoice_id == "i1inv00001007"
    mapped = to_invoice(invoice("i1inv00001007"), [refund])
    assert [(t.type, t.result, t.amount) for t in mapped.transactions] == [
        ("payment", "successful", 1500), ("refund", "successful", 1500)]
    assert mapped.updated_at == at("2024-01-12T08:00:02Z")  # changed when refunded


def test_a_refund_to_the_account_balance_is_a_refund_of_the_credit_total() -> None:
    raw = invoice("i1inv00001008", transactions=[], origin="open_amount_refund")
    refund = credit_refunds(raw)
    assert refund is not None
    assert [(t["external_id"], t["amount"], t["date"]) for t in refund.transactions] == [
        ("i1inv00001008", 1500, "2024-01-12T08:00:02Z")]


def test_a_partial_card_refund_plus_credit_makes_two_refunds() -> None:
    raw = invoice("i1inv00001008", total=D("-15.00"))
    raw["transactions"][0]["amount"] = D("10.00")
    refund = credit_refunds(raw)
    assert refund is not None
    assert [t["amount"] for t in refund.transactions] == [1000, 500]


@pytest.mark.parametrize("changes", [
    {"state": "voided"}, {"origin": "write_off"}, {"origin": "credit"},
    {"previous_invoice_id": None},
])
def test_credit_invoices_that_are_not_refunds_refund_nothing(changes: dict[str, Any]) -> None:
    assert credit_refunds(invoice("i1inv00001008", **changes)) is None


def test_a_refund_seen_on_both_invoices_is_counted_once() -> None:
    refund = credit_refunds(obj("invoices", "i1inv00001008"))
    assert refund is not None
    raw = invoice("i1inv00001007")
    raw["transactions"].append(obj("invoices", "i1inv00001008")["transactions"][0])
    assert len(to_invoice(raw, [refund]).transactions) == 2


# -- plans and customers ------------------------------------------------------------------

@pytest.mark.parametrize(("plan_id", "unit", "count"), [
    ("p1basic000001", "month", 1), ("p1proannual03", "month", 12), ("p1weeklybox04", "day", 7),
])
def test_plan_intervals(plan_id: str, unit: str, count: int) -> None:
    plan = to_plan(obj("plans", plan_id))
    assert (plan.interval_unit, plan.interval_count) == (unit, count)


def test_an_unknown_plan_interval_unit_is_invalid() -> None:
    raw = obj("plans", "p1basic000001")
    raw["interval_unit"] = "fortnights"
    error = mapping_error(to_plan, raw)
    assert (error.field, error.external_id) == ("interval_unit", "p1basic000001")


def test_customer_fields_and_name_fallbacks() -> None:
    raw = obj("accounts", "a1hooli000005")
    customer = to_customer(raw)
    assert (customer.name, customer.country, customer.company) == ("Gavin Belson", "US", None)
    raw.update(first_name=None, last_name=None)
    assert to_customer(raw).name == "hooli"
    raw["company"] = "Hooli XYZ"
    assert to_customer(raw).name == "Hooli XYZ"
    assert to_customer(raw).updated_at == at(raw["updated_at"])


def test_a_garbled_timestamp_names_its_field() -> None:
    error = mapping_error(to_invoice, invoice(updated_at="yesterday-ish"))
    assert (error.field, error.external_id) == ("updated_at", "i1inv00001001")
    raw = obj("subscriptions", "s1acme000002")
    raw["trial_ends_at"] = "2024-02-31T00:00:00Z"
    assert mapping_error(to_subscription, raw).field == "trial_ends_at"
