"""Xero's own OpenAPI examples (SOURCES.md) through the Xero invoice stream, and objects
generated from its Invoice schema through the same stream.

Expectations from Xero's documented semantics: ``LineAmountTypes: Exclusive`` means
``LineAmount`` is before tax and each line states its own ``TaxAmount`` (so a line Xero
did not tax carries none); money in major units with the currency's exponent; statuses
PAID / AUTHORISED / SUBMITTED / VOIDED per the mapping table.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings

from saasync.connector import Quarantined, ReadWindow
from saasync.models import Invoice, InvoiceStatus
from saasync.reasons import Reason
from saasync_connectors.accounting.items import ItemRules, PlanSpec
from saasync_connectors.xero.mapping import RepeatingPlans
from saasync_connectors.xero.streams import InvoicesStream
from tests.connectors.published_support.schema_strategy import strategy

HERE = Path(__file__).parent
RULES = ItemRules({"123": PlanSpec("plan-123", "Item 123"), "200": PlanSpec("sales", "Sales")}, [])


def example(name: str) -> list[dict[str, Any]]:
    body = json.loads((HERE / "payloads" / name).read_text(encoding="utf-8"), parse_float=Decimal)
    invoices: list[dict[str, Any]] = body["Invoices"]
    return invoices


class PagesApi:
    """``GET Invoices`` answered from a list of invoice objects, one page."""

    def __init__(self, invoices: list[Any]) -> None:
        self.invoices = invoices

    def pages(self, path: str, key: str, params: Mapping[str, Any],
              since: datetime | None = None) -> Iterator[Any]:
        yield from copy.deepcopy(self.invoices)


def read(invoices: list[Any]) -> list[Invoice | Quarantined]:
    stream = InvoicesStream(RULES, RepeatingPlans(RULES, {}), day_first=True)
    return list(stream.read(PagesApi(invoices), ReadWindow()))  # type: ignore[arg-type]


def test_the_paid_example_has_one_untaxed_line_and_its_payment() -> None:
    [invoice] = read(example("get_invoice_by_id_example.json"))
    assert isinstance(invoice, Invoice), invoice
    assert (invoice.currency, invoice.status) == ("NZD", InvoiceStatus.PAID)
    [line] = invoice.lines
    # TaxType NONE, TaxAmount 0.00: Xero did not tax it, so it carries no tax
    assert (line.kind, line.amount, line.tax_amount) == ("subscription", 14806276, 0)
    assert sum(t.amount for t in invoice.transactions if t.type == "payment") == 14806276


def test_the_taxed_example_keeps_xeros_own_line_tax() -> None:
    """500.00 Exclusive with TaxAmount 75.00 (15 % GST): the line is 575.00 with 75.00 tax.
    SUBMITTED is awaiting approval: a draft."""
    [invoice] = read(example("post_invoice_by_id_example.json"))
    assert isinstance(invoice, Invoice), invoice
    [line] = invoice.lines
    assert (line.amount, line.tax_amount) == (57500, 7500)
    assert invoice.status is InvoiceStatus.DRAFT
    assert invoice.issued_at == datetime(2019, 3, 11, tzinfo=UTC)


def test_the_abbreviated_list_example_without_line_items_is_quarantined() -> None:
    """The GET /Invoices example leaves LineItems empty (Xero omits them from unpaged list
    answers); the connector pages, so an invoice without lines is an error, not a $0 one."""
    items = read(example("get_invoices_example.json"))
    assert len(items) == 3
    for item in items:
        assert isinstance(item, Quarantined), item
        assert (item.reason, item.field) == (Reason.INVALID_RECORD, "LineItems")


SCHEMA = json.loads((HERE / "schema_fragment.json").read_text(encoding="utf-8"))["Invoice"]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=strategy(SCHEMA))
def test_every_schema_shaped_invoice_becomes_a_record_or_a_quarantine(raw: dict[str, Any]) -> None:
    """Objects generated from Xero's published Invoice schema: each is an Invoice or a
    Quarantined with a reason and a field, never an exception."""
    raw = {**raw, "Type": "ACCREC"}  # the stream reads sales invoices only
    [item] = read([raw])
    if isinstance(item, Quarantined):
        assert item.reason in set(Reason) and item.field
