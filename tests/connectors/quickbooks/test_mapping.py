"""QuickBooks JSON → normalized records: every derived status, every line type, tax modes,
discounts, zero-decimal currency, payments and credit memos, unmapped items."""

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
from saasync_connectors.quickbooks.mapping import to_customer, to_invoice
from tests.connectors.quickbooks.fake_api import load_company

COMPANY = load_company()
RULES = ItemRules({"11": PlanSpec("gold-monthly", "Gold"),
                   "Silver Plan": PlanSpec("silver-annual", "Silver", "year")}, ["12"])


def raw(invoice_id: str) -> dict[str, Any]:
    return copy.deepcopy(next(i for i in COMPANY["Invoice"] if i["Id"] == invoice_id))


def payments(*ids: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(p) for p in COMPANY["Payment"] if p["Id"] in ids]


def sales(amount: Any, item: str = "11", name: str = "Gold Plan", tax_code: str = "TAX",
          **detail: Any) -> dict[str, Any]:
    return {"Id": "9", "Amount": amount, "DetailType": "SalesItemLineDetail",
            "Description": detail.pop("description", None),
            "SalesItemLineDetail": {"ItemRef": {"value": item, "name": name}, "Qty": 1,
                                    "TaxCodeRef": {"value": tax_code}, **detail}}


def invoice(lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    base = raw("131")
    base.update(Line=lines, LinkedTxn=[], **fields)
    return base


def mapped(data: dict[str, Any], linked: list[dict[str, Any]] | None = None,
           rules: ItemRules = RULES, home: str | None = None) -> Any:
    return to_invoice(data, linked or [], rules, day_first=False, home_currency=home)


@pytest.mark.parametrize(("invoice_id", "status", "derived"), [
    ("130", InvoiceStatus.PAID, "Balance 0, TotalAmt > 0"),
    ("131", InvoiceStatus.OPEN, "Balance 142.2 > 0"),
    ("133", InvoiceStatus.VOID, "TotalAmt 0, PrivateNote Voided"),
])
def test_status_is_derived_from_balance_and_total(invoice_id: str, status: InvoiceStatus,
                                                  derived: str) -> None:
    result = mapped(raw(invoice_id))
    assert (result.status, result.source_status) == (status, derived)


def test_a_zero_invoice_that_was_not_voided_is_paid() -> None:
    data = invoice([sales(0)], TotalAmt=0, Balance=0, TxnTaxDetail={"TotalTax": 0})
    assert mapped(data).status is InvoiceStatus.PAID


@pytest.mark.parametrize(("fields", "field"), [
    ({"Balance": -1}, "Balance"), ({"Balance": 500}, "Balance"), ({"Balance": None}, "Balance"),
    ({"TotalAmt": None}, "TotalAmt")])
def test_a_status_that_fits_no_rule_is_unknown(fields: dict[str, Any], field: str) -> None:
    data = raw("131")
    data.update(fields)
    with pytest.raises(MappingError) as caught:
        mapped(data)
    assert (caught.value.reason, caught.value.field) == (Reason.UNKNOWN_STATUS, field)


def test_a_paid_invoice_carries_its_payment_and_tax_on_the_taxable_line() -> None:
    result = mapped(raw("130"), payments("201"))
    line = result.lines[0]
    assert (line.kind, line.plan_external_id, line.subscription_external_id) == \
        ("subscription", "gold-monthly", "1:gold-monthly")
    assert (line.amount, line.tax_amount) == (10800, 800)
    assert (line.service_period_start, line.service_period_end) == \
        (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC))
    assert [(t.type, t.amount, t.external_id) for t in result.transactions] == \
        [("payment", 10800, "payment:201")]
    assert result.updated_at == datetime(2026, 1, 9, 18, tzinfo=UTC)


def test_invoice_discount_line_and_one_time_line() -> None:
    result = mapped(raw("131"))
    gold, setup = result.lines
    assert result.discount_amount == 1500
    assert (gold.kind, gold.amount, gold.tax_amount) == ("subscription", 10720, 720)
    assert (setup.kind, setup.amount, setup.tax_amount) == ("one_time", 5000, 0)
    assert setup.subscription_external_id is None


def test_tax_is_shared_over_taxable_lines_to_the_exact_cent() -> None:
    lines = [sales(10), sales(10), sales(10), sales(5, item="12", tax_code="NON")]
    result = mapped(invoice(lines, TxnTaxDetail={"TotalTax": 1.0}, TotalAmt=36, Balance=36))
    assert [line.tax_amount for line in result.lines] == [34, 33, 33, 0]
    assert sum(line.amount for line in result.lines) == 3600


def test_tax_inclusive_lines_use_tax_inclusive_amount() -> None:
    lines = [sales(100, TaxInclusiveAmt=115)]
    result = mapped(invoice(lines, GlobalTaxCalculation="TaxInclusive",
                            TxnTaxDetail={"TotalTax": 15}, TotalAmt=115, Balance=115))
    assert (result.lines[0].amount, result.lines[0].tax_amount) == (11500, 1500)


def test_no_tax_when_tax_does_not_apply() -> None:
    result = mapped(invoice([sales(100)], GlobalTaxCalculation="NotApplicable",
                            TxnTaxDetail={"TotalTax": 15}, TotalAmt=100, Balance=100))
    assert (result.lines[0].amount, result.lines[0].tax_amount) == (10000, 0)


def test_group_lines_are_flattened_and_text_lines_skipped() -> None:
    group = {"Id": "5", "Amount": 150, "DetailType": "GroupLineDetail",
             "GroupLineDetail": {"GroupItemRef": {"value": "30", "name": "Bundle"},
                                 "Quantity": 1, "Line": [sales(100), sales(50, item="12")]}}
    text = {"Id": "6", "Description": "Thanks!", "DetailType": "DescriptionOnly",
            "DescriptionLineDetail": {}}
    result = mapped(invoice([group, text], TxnTaxDetail={"TotalTax": 0},
                            TotalAmt=150, Balance=150))
    assert [line.kind for line in result.lines] == ["subscription", "one_time"]


def test_an_unknown_line_type_is_an_invalid_record() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(invoice([sales(100), {"Amount": 1, "DetailType": "TeleportLineDetail"}]))
    assert (caught.value.reason, caught.value.field) == (Reason.INVALID_RECORD,
                                                         "lines.1.DetailType")


def test_zero_decimal_currency_and_refund_by_credit_memo() -> None:
    yen = mapped(raw("135"), payments("203"))
    assert (yen.currency, yen.lines[0].amount, yen.transactions[0].amount) == ("JPY", 5000, 5000)
    credited = mapped(raw("132"), payments("202"))
    assert [(t.type, t.amount, t.external_id) for t in credited.transactions] == \
        [("payment", 117000, "payment:202"), ("refund", 3000, "credit:202")]


def test_one_payment_over_several_invoices_gives_each_its_share() -> None:
    payment = {"Id": "250", "TxnDate": "2026-03-01", "TotalAmt": 150,
               "Line": [{"Amount": 100, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
                        {"Amount": 80, "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
                        {"Amount": 30, "LinkedTxn": [{"TxnId": "301", "TxnType": "CreditMemo"}]}]}
    first = mapped(raw("130"), [payment]).transactions
    second = mapped(raw("131"), [payment]).transactions
    assert [(t.type, t.amount) for t in first] == [("payment", 7000), ("refund", 3000)]
    assert [(t.type, t.amount) for t in second] == [("payment", 8000)]


def test_yen_with_cents_is_invalid() -> None:
    data = raw("135")
    data["Line"][0]["Amount"] = Decimal("5000.5")
    with pytest.raises(MappingError) as caught:
        mapped(data)
    assert caught.value.field == "lines.0.Amount"


def test_currency_falls_back_to_the_home_currency() -> None:
    data = raw("130")
    data.pop("CurrencyRef")
    assert mapped(data, home="USD").currency == "USD"
    with pytest.raises(MappingError, match="currency is missing") as caught:
        mapped(data)
    assert caught.value.field == "CurrencyRef"


def test_service_period_from_description_range_and_keyword() -> None:
    silver = mapped(raw("132")).lines[0]  # "Silver plan 02/01/2026 - 01/31/2027", mapped by name
    assert (silver.plan_external_id, silver.service_period_start, silver.service_period_end) == \
        ("silver-annual", datetime(2026, 2, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
    annual = mapped(invoice([sales(100, description="Gold, annual prepay")])).lines[0]
    assert annual.service_period_end == datetime(2027, 2, 5, tzinfo=UTC)
    april = mapped(raw("136")).lines[0]  # "Gold plan Apr 2026"
    assert (april.service_period_start, april.service_period_end) == \
        (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))


def test_an_unmapped_item_quarantines_the_whole_invoice_for_review() -> None:
    with pytest.raises(MappingError) as caught:
        mapped(raw("134"))
    error = caught.value
    assert (error.reason, error.field) == (Reason.UNMAPPED_ITEM, "lines.0.item")
    assert "'1041'" in error.message and "'15'" in error.message and "Consulting" in error.message
    assert error.raw["item"] == "15" and error.raw["issued_at"] == "2026-03-02T00:00:00+00:00"


def test_after_the_user_maps_the_item_it_is_classified() -> None:
    review = {"15": ItemMapping("15", plan_external_id="consulting-monthly",
                                plan_name="Consulting retainer")}
    rules = ItemRules({}, [], review)
    line = mapped(raw("134"), rules=rules).lines[0]
    assert (line.kind, line.plan_external_id, line.quantity) == \
        ("subscription", "consulting-monthly", 1)  # 2.5 hours count as one
    one_time = ItemRules({}, [], {"Consulting": ItemMapping("Consulting", one_time=True)})
    assert mapped(raw("134"), rules=one_time).lines[0].kind == "one_time"


def test_a_void_invoice_with_an_unmapped_item_is_not_quarantined() -> None:
    data = raw("133")
    data["Line"][0]["SalesItemLineDetail"]["ItemRef"] = {"value": "99", "name": "Old item"}
    assert mapped(data).lines[0].kind == "one_time"


def test_customer_fields() -> None:
    amy, bill, cool, kathy = (to_customer(c) for c in COMPANY["Customer"])
    assert (amy.name, amy.email, amy.company, amy.country) == \
        ("Amy's Bird Sanctuary", "Birds@Intuit.com", "Amy's Bird Sanctuary", "USA")
    assert amy.created_at == datetime(2025, 12, 2, 0, 48, 43, tzinfo=UTC)
    assert bill.country is None and cool.name == "Cool Cars (deleted)"
    assert kathy.updated_at == datetime(2026, 2, 16, 2, tzinfo=UTC)


def test_a_deposit_is_a_payment_received_when_the_invoice_was_written() -> None:
    data = raw("131")
    data.update(Deposit=42.2, Balance=100)
    result = mapped(data)
    assert [(t.external_id, t.type, t.amount, t.date) for t in result.transactions] == \
        [("deposit:131", "payment", 4220, datetime(2026, 2, 5, tzinfo=UTC))]


def test_line_discounts_where_the_region_has_them() -> None:
    by_amount = sales(90, DiscountAmt=10, UnitPrice=100)
    by_rate = sales(75, DiscountRate=25, UnitPrice=50, Qty=2)
    result = mapped(invoice([by_amount, by_rate], TxnTaxDetail={"TotalTax": 0},
                            TotalAmt=165, Balance=165))
    assert [(line.amount, line.discount_amount) for line in result.lines] == \
        [(9000, 1000), (7500, 2500)]
