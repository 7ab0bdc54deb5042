"""Xero JSON → normalized records: every status, the three LineAmountTypes, line discounts,
both date formats, zero-decimal currency, payments and credit notes, repeating invoices,
unmapped items."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from saasync.connector import ItemMapping
from saasync.models import InvoiceStatus
from saasync.reasons import Reason
from saasync_connectors.accounting.items import ItemRules, PlanSpec
from saasync_connectors.accounting.records import MappingError
from saasync_connectors.xero.mapping import RepeatingPlans, to_customer, to_invoice, xero_time
from tests.connectors.xero.fake_api import load_organisation

ORG = load_organisation()
TEMPLATES = {"428c0d75-909f-4b04-8403-a48dc27283b0": ("month", 1),
             "6d037ab4-7a5b-4e08-a6b4-3b0cbe3b8a12": ("week", 2)}


def rules(review: dict[str, ItemMapping] | None = None) -> ItemRules:
    return ItemRules({"GOLD-M": PlanSpec("gold-monthly", "Gold"),
                      "260": PlanSpec("hosting-annual", "Hosting", "year")}, ["SETUP"], review)


def raw(number: str) -> dict[str, Any]:
    return copy.deepcopy(next(i for i in ORG["Invoices"] if i["InvoiceNumber"] == number))


def mapped(data: dict[str, Any], item_rules: ItemRules | None = None,
           day_first: bool = True) -> Any:
    item_rules = item_rules or rules()
    return to_invoice(data, item_rules, RepeatingPlans(item_rules, TEMPLATES),
                      day_first=day_first)


def line(**fields: Any) -> dict[str, Any]:
    return {"Description": "Gold plan", "UnitAmount": Decimal("100.00"), "TaxType": "OUTPUT2",
            "TaxAmount": Decimal("15.00"), "LineAmount": Decimal("100.00"), "AccountCode": "200",
            "ItemCode": "GOLD-M", "Tracking": [], "Quantity": Decimal("1.0000"),
            "LineItemID": "5f7a612b-fdcc-4d33-90fa-a9f6bc6db32f", **fields}


@pytest.mark.parametrize(("status", "expected"), [
    ("DRAFT", InvoiceStatus.DRAFT), ("SUBMITTED", InvoiceStatus.DRAFT),
    ("AUTHORISED", InvoiceStatus.OPEN), ("PAID", InvoiceStatus.PAID),
    ("VOIDED", InvoiceStatus.VOID), ("DELETED", InvoiceStatus.VOID)])
def test_every_status(status: str, expected: InvoiceStatus) -> None:
    data = raw("INV-0001")
    data["Status"] = status
    result = mapped(data)
    assert (result.status, result.source_status) == (expected, status)


def test_an_unknown_status_is_never_guessed() -> None:
    data = raw("INV-0001")
    data["Status"] = "ARCHIVED"
    with pytest.raises(MappingError) as caught:
        mapped(data)
    assert (caught.value.reason, caught.value.field) == (Reason.UNKNOWN_STATUS, "Status")


@pytest.mark.parametrize(("amount_types", "line_amount", "tax", "amount", "tax_amount"), [
    ("Exclusive", "100.00", "15.00", 11500, 1500),
    ("Inclusive", "115.00", "15.00", 11500, 1500),
    ("NoTax", "100.00", "0.00", 10000, 0)])
def test_line_amounts_are_made_tax_included(amount_types: str, line_amount: str, tax: str,
                                           amount: int, tax_amount: int) -> None:
    data = raw("INV-0001")
    data.update(LineAmountTypes=amount_types,
                LineItems=[line(LineAmount=Decimal(line_amount), TaxAmount=Decimal(tax))])
    result = mapped(data).lines[0]
    assert (result.amount, result.tax_amount) == (amount, tax_amount)


def test_missing_line_amount_types_means_exclusive_and_unknown_is_invalid() -> None:
    data = raw("INV-0001")
    data.pop("LineAmountTypes")
    assert mapped(data).lines[0].amount == 11500
    data["LineAmountTypes"] = "Gross"
    with pytest.raises(MappingError) as caught:
        mapped(data)
    assert caught.value.field == "LineAmountTypes"


def test_line_discounts_by_rate_and_by_amount() -> None:
    by_rate = mapped(raw("INV-0003")).lines[0]  # 200.00 at 10 % off: LineAmount 180.00
    assert (by_rate.amount, by_rate.discount_amount, by_rate.tax_amount) == (20700, 2000, 2700)
    data = raw("INV-0001")
    data["LineItems"] = [line(DiscountAmount=Decimal("12.50"), LineAmount=Decimal("87.50"),
                              TaxAmount=Decimal("13.13"))]
    result = mapped(data).lines[0]
    assert (result.amount, result.discount_amount) == (10063, 1250)


def test_both_date_formats_are_read() -> None:
    assert xero_time("/Date(1539993600000+0000)/") == datetime(2018, 10, 20, tzinfo=UTC)
    assert xero_time("/Date(1552326816230)/") == datetime(2019, 3, 11, 17, 53, 36, 230000,
                                                          tzinfo=UTC)
    assert xero_time("2026-01-10T00:00:00") == datetime(2026, 1, 10, tzinfo=UTC)
    data = raw("INV-0002")
    data.update(Date="2026-02-10T00:00:00", DueDate="2026-03-20",
                UpdatedDateUTC="2026-02-13T00:00:00")
    same = mapped(data)
    assert same.model_dump() == mapped(raw("INV-0002")).model_dump()
    data["Date"] = "not a date"
    with pytest.raises(MappingError) as caught:
        mapped(data)
    assert caught.value.field == "Date"


def test_payments_and_allocated_credit_notes() -> None:
    result = mapped(raw("INV-0003"))
    assert [(t.type, t.amount, t.date) for t in result.transactions] == [
        ("payment", 18700, datetime(2026, 3, 5, tzinfo=UTC)),
        ("refund", 2000, datetime(2026, 3, 4, tzinfo=UTC))]
    assert result.transactions[1].external_id == "credit:3d8b4d4c-9f5d-4a21-a9b1-25b2e0f1c0a7"
    data = raw("INV-0002")
    data["Prepayments"] = [{"PrepaymentID": "p1", "ID": "p1", "Date": "/Date(1770681600000+0000)/",
                            "AppliedAmount": Decimal("5.00")}]
    data["Payments"][0]["Status"] = "DELETED"
    assert [(t.external_id, t.amount) for t in mapped(data).transactions] == \
        [("prepayment:p1", 500)]


def test_zero_decimal_currency() -> None:
    result = mapped(raw("INV-0008"))
    assert (result.currency, result.lines[0].amount, result.transactions[0].amount) == \
        ("JPY", 5000, 5000)
    data = raw("INV-0008")
    data["LineItems"][0]["LineAmount"] = Decimal("5000.50")
    with pytest.raises(MappingError) as caught:
        mapped(data)
    assert caught.value.field == "lines.0.LineAmount"


def test_line_kinds_subscription_ids_and_service_periods() -> None:
    gold, setup = mapped(raw("INV-0001")).lines
    assert (gold.kind, setup.kind) == ("subscription", "one_time")
    assert gold.subscription_external_id == "428c0d75-909f-4b04-8403-a48dc27283b0"
    assert (gold.service_period_start, gold.service_period_end) == \
        (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 2, 10, tzinfo=UTC))
    support = mapped(raw("INV-0003")).lines[0]  # "01/03/2026 - 14/03/2026", day first
    assert (support.plan_external_id, support.service_period_start,
            support.service_period_end) == ("SUPPORT@2-week", datetime(2026, 3, 1, tzinfo=UTC),
                                            datetime(2026, 3, 15, tzinfo=UTC))
    hosting = mapped(raw("INV-0009"))  # mapped by account code; a text-only line is dropped
    assert len(hosting.lines) == 1
    assert (hosting.lines[0].plan_external_id, hosting.lines[0].subscription_external_id) == \
        ("hosting-annual", "d6851dc2-9ba9-4fbf-a2c6-9e8f4d1f6a11:hosting-annual")
    assert hosting.lines[0].service_period_end == datetime(2027, 4, 15, tzinfo=UTC)


def test_several_plans_on_one_repeating_invoice_get_one_subscription_each() -> None:
    data = raw("INV-0001")
    data["LineItems"][1]["ItemCode"] = "260"
    first, second = mapped(data).lines
    assert (first.subscription_external_id, second.subscription_external_id) == \
        ("428c0d75-909f-4b04-8403-a48dc27283b0:gold-monthly",
         "428c0d75-909f-4b04-8403-a48dc27283b0:hosting-annual")


def test_an_unmapped_item_quarantines_the_invoice_but_not_a_draft() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(raw("INV-0007"))
    error = caught.value
    assert (error.reason, error.field, error.raw["item"]) == \
        (Reason.UNMAPPED_ITEM, "lines.0.item", "CONSULT")
    assert "INV-0007" in error.message and "CONSULT" in error.message
    assert mapped(raw("INV-0006")).lines[0].kind == "one_time"  # a draft is never sent


def test_a_repeating_invoice_whose_template_is_gone_asks_for_a_mapping() -> None:
    data = raw("INV-0003")
    data["RepeatingInvoiceID"] = "deleted-template"
    with pytest.raises(MappingError, match="recurring template deleted-template") as caught:
        mapped(data)
    assert caught.value.reason is Reason.UNMAPPED_ITEM


def test_review_mappings_win_over_options() -> None:
    review = {"CONSULT": ItemMapping("CONSULT", plan_external_id="retainer",
                                     interval_unit="month", interval_count=3),
              "SETUP": ItemMapping("SETUP", plan_external_id="setup-yearly",
                                   interval_unit="year")}
    consult = mapped(raw("INV-0007"), rules(review)).lines[0]
    assert (consult.plan_external_id, consult.service_period_end) == \
        ("retainer", datetime(2026, 6, 15, tzinfo=UTC))
    setup = mapped(raw("INV-0001"), rules(review)).lines[1]
    assert (setup.kind, setup.plan_external_id) == ("subscription", "setup-yearly")


def test_contacts() -> None:
    university = to_customer(ORG["Contacts"][0])
    assert (university.name, university.email, university.country) == \
        ("Ridgeway University", "accounts@ridgeway.example.edu", "New Zealand")
    assert university.updated_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert to_customer(ORG["Contacts"][2]).country is None
