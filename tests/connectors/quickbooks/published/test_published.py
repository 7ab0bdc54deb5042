"""Intuit's own sample invoices (SOURCES.md) through the QuickBooks invoice stream.

Expectations come from QuickBooks' documented semantics: money in major units with the
currency's exponent; no status, derived from ``Balance`` / ``TotalAmt``; ``Deposit`` is
money received; tax is stated per invoice (``TxnTaxDetail.TotalTax``) over the base
``NetAmountTaxable`` of the lines QuickBooks taxed (those whose ``TaxCodeRef`` is a
taxable code such as ``TAX``; a line with no ``TaxCodeRef`` or ``NON`` is not taxed);
``ApplyTaxAfterDiscount: false`` means tax on the lines before the invoice discount.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from saasync.connector import Quarantined, ReadWindow
from saasync.models import Invoice, InvoiceStatus
from saasync.reasons import Reason
from saasync_connectors.accounting.items import ItemRules, PlanSpec
from saasync_connectors.quickbooks.streams import InvoicesStream

PAYLOADS = Path(__file__).parent / "payloads"
# The user's item mappings (QBO has no subscriptions): Hours (2) and the fountain items
# are mapped to monthly plans; the shipping item is a one-time charge.
RULES = ItemRules({"2": PlanSpec("hours-monthly", "Hours"), "5": PlanSpec("fountain", "Fountain"),
                   "11": PlanSpec("pump", "Pump"), "3": PlanSpec("concrete", "Concrete"),
                   "1": PlanSpec("services", "Services")}, ["SHIPPING_ITEM_ID"])


def sample(name: str) -> dict[str, Any]:
    """The ``Invoice`` of an Intuit response, decoded as the HTTP layer does (Decimals)."""
    body = json.loads((PAYLOADS / name).read_text(encoding="utf-8"), parse_float=Decimal)
    invoice: dict[str, Any] = body["Invoice"]
    return invoice


class QueryApi:
    """The query endpoint answered from files: invoices, and no Payment entities."""

    page_size = 100

    def __init__(self, invoices: list[dict[str, Any]]) -> None:
        self.invoices = invoices

    def query(self, statement: str) -> Iterator[dict[str, Any]]:
        if " from Invoice" in statement:
            yield from copy.deepcopy(self.invoices)


def read(*invoices: dict[str, Any]) -> list[Invoice | Quarantined]:
    stream = InvoicesStream(RULES, day_first=False, home_currency="USD")
    return list(stream.read(QueryApi(list(invoices)), ReadWindow()))  # type: ignore[arg-type]


def one(items: list[Any]) -> Invoice:
    assert len(items) == 1 and isinstance(items[0], Invoice), items
    return items[0]


def test_invoice_96_puts_its_tax_only_on_the_line_quickbooks_taxed() -> None:
    """Issue #19: TotalTax 5.00 at 10 % on NetAmountTaxable 50.00, which is the one TAX
    line; the shipping line (no TaxCodeRef) is untaxed. Before the fix the lines came out
    54.81 / 2.19."""
    invoice = one(read(sample("invoice_96_send_response.json")))
    assert [(line.kind, line.amount, line.tax_amount) for line in invoice.lines] == [
        ("subscription", 5500, 500), ("one_time", 200, 0)]
    assert invoice.discount_amount == 500  # the 10 % DiscountLineDetail, after tax here
    # Balance 40.00 > 0: open; the 12.00 deposit is a payment received.
    assert invoice.status is InvoiceStatus.OPEN
    assert [(t.type, t.amount) for t in invoice.transactions] == [("payment", 1200)]
    subscription = invoice.lines[0]
    assert subscription.service_period_start == datetime(2013, 3, 4, tzinfo=UTC)
    assert subscription.service_period_end == datetime(2013, 4, 4, tzinfo=UTC)
    assert subscription.plan_external_id == "hours-monthly"


def test_invoice_130_shares_8_percent_over_its_three_taxed_lines() -> None:
    """26.82 is 8 % of 335.25 = 275.00 + 12.75 + 47.50: 22.00, 1.02 and 3.80."""
    invoice = one(read(sample("invoice_130_sample_object.json")))
    assert [(line.amount, line.tax_amount) for line in invoice.lines] == [
        (29700, 2200), (1377, 102), (5130, 380)]
    assert (invoice.currency, invoice.status) == ("USD", InvoiceStatus.OPEN)  # home currency
    assert list(invoice.transactions) == []


def test_invoice_238_with_a_non_taxable_line_and_no_tax_carries_none() -> None:
    invoice = one(read(sample("invoice_238_create_response.json")))
    assert [(line.amount, line.tax_amount) for line in invoice.lines] == [(10000, 0)]
    assert invoice.status is InvoiceStatus.OPEN


def test_tax_with_no_taxed_line_is_quarantined_naming_the_invoice_and_field() -> None:
    """Derived: invoice 96 with the TAX code taken off its first line. TotalTax 5.00 has
    no line to sit on; it is not spread over untaxed lines."""
    raw = sample("invoice_96_send_response.json")
    del raw["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]
    [item] = read(raw)
    assert isinstance(item, Quarantined), item
    assert (item.reason, item.field) == (Reason.INVALID_RECORD, "TxnTaxDetail.TotalTax")
    assert "96" in item.message


def test_taxed_lines_that_do_not_match_net_amount_taxable_are_quarantined() -> None:
    """Derived: invoice 130 with the pump line marked NON. The TAX lines now total 322.50
    but QuickBooks taxed 335.25: the split cannot be trusted."""
    raw = sample("invoice_130_sample_object.json")
    raw["Line"][1]["SalesItemLineDetail"]["TaxCodeRef"]["value"] = "NON"
    [item] = read(raw)
    assert isinstance(item, Quarantined), item
    assert (item.reason, item.field) == (Reason.INVALID_RECORD,
                                         "TxnTaxDetail.TaxLine.NetAmountTaxable")
    assert "130" in item.message and "335.25" in item.message and "322.50" in item.message
