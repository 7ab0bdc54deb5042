"""Chargebee's own published payloads (SOURCES.md) through the connector's streams.

Each invoice goes through ``PlansStream`` (which learns the catalog: recurring plans and
one-time addons) and ``InvoicesStream`` exactly as a run does, then through the invoice
filter. Expectations come from Chargebee's documented semantics: amounts are integer
cents, ``date_from``/``date_to`` are the service period in epoch seconds, ``paid`` /
``not_paid`` are the statuses of connectors/chargebee/BEHAVIOR.md, and an addon whose ``charge_type`` is
``non_recurring`` (PC 1.0) or an item price of type ``charge`` / without a ``period``
(PC 2.0) bills once.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasync.connector import Quarantined, ReadWindow
from saasync.models import Invoice, InvoiceStatus
from saasync.reasons import Reason
from saasync.rules.filter import Action, decide_invoice
from saasync_connectors.chargebee.streams import InvoicesStream, PlansStream

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return data


def event_invoice(name: str) -> dict[str, Any]:
    """The invoice of a webhook event file (``content.invoice``)."""
    invoice: dict[str, Any] = payload(name)["content"]["invoice"]
    return invoice


# The catalog the invoices refer to. Chargebee publishes no list response for these ids,
# so they are built from the documented fields (chargebee-python models/plan, models/addon,
# models/item_price): a monthly v1 plan, the one-time addon the demo invoice bills.
V1_PLANS = [{"id": "cbdemo_free", "name": "Free", "period": 1, "period_unit": "month",
             "price": 0, "status": "active", "updated_at": 1517000000}]
V1_ADDONS = [{"id": "non_recurring_addon", "name": "non_recurring_addon",
              "charge_type": "non_recurring", "pricing_model": "per_unit", "price": 2000,
              "status": "active", "updated_at": 1517000000}]


class CatalogApi:
    """What the streams ask Chargebee, answered from files: list calls by path."""

    def __init__(self, lists: Mapping[str, list[dict[str, Any]]]) -> None:
        self.lists = lists

    def objects(self, path: str, resource: str, params: Mapping[str, Any]) -> Iterator[Any]:
        yield from copy.deepcopy(self.lists.get(path, []))

    def pages(self, path: str, resource: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        yield list(self.objects(path, resource, params))

    def retrieve(self, path: str, resource: str, params: Mapping[str, Any]) -> Any:
        raise AssertionError(f"no retrieve expected ({path})")


def read(invoices: list[dict[str, Any]], catalog: str = "1.0",
         **lists: list[dict[str, Any]]) -> list[Invoice | Quarantined]:
    api = CatalogApi({"/plans": V1_PLANS, "/addons": V1_ADDONS, **lists, "/invoices": invoices})
    plans = PlansStream(api, catalog)  # type: ignore[arg-type]
    list(plans.read(ReadWindow()))
    items = list(InvoicesStream(api, plans.periods, plans.one_time).read(ReadWindow()))  # type: ignore[arg-type]
    return items  # type: ignore[return-value]


def only_invoice(items: list[Any]) -> Invoice:
    assert len(items) == 1 and isinstance(items[0], Invoice), items
    return items[0]


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def test_a_one_time_addon_billed_alone_is_skipped_as_one_time_only() -> None:
    """Issue #19: the demo invoice bills 2 × $20.00 of the non-recurring addon and nothing
    else, with no subscription. Before the fix it was quarantined INVALID_RECORD on
    line_items.0.subscription_id."""
    invoice = only_invoice(read([payload("demo_one_time_addon_invoice.json")]))
    assert invoice.status is InvoiceStatus.PAID
    [line] = invoice.lines
    assert (line.kind, line.amount, line.tax_amount, line.quantity) == ("one_time", 4000, 0, 2)
    assert [(t.type, t.result, t.amount) for t in invoice.transactions] == [
        ("payment", "successful", 4000)]
    decision = decide_invoice(invoice, "include")
    assert (decision.action, decision.reason) == (Action.SKIP, Reason.ONE_TIME_ONLY)


def test_the_addon_is_one_time_without_the_catalog_too_when_no_subscription_bills_it() -> None:
    """An addon nothing ties to a subscription cannot be a recurring charge."""
    invoice = only_invoice(read([payload("demo_one_time_addon_invoice.json")], **{"/addons": []}))
    assert [line.kind for line in invoice.lines] == ["one_time"]


def test_the_published_plan_invoice_is_a_subscription_line_with_its_service_period() -> None:
    invoice = only_invoice(read([event_invoice("invoice_generated.json")]))
    assert (invoice.external_id, invoice.customer_external_id, invoice.currency) == (
        "93", "AzqUAXUuVzllT3Zr", "USD")
    assert invoice.status is InvoiceStatus.PAID
    [line] = invoice.lines
    assert (line.kind, line.subscription_external_id, line.plan_external_id) == (
        "subscription", "AzZTN3UuW0e4B3ij", "cbdemo_free")
    assert (line.service_period_start, line.service_period_end) == (
        at(1755783502), at(1758461902))  # 2025-08-21 → 2025-09-21: one full month
    assert (line.amount, line.prorated) == (0, False)


def test_a_one_time_addon_beside_a_plan_travels_as_a_one_time_line() -> None:
    """The same addon line on the subscription's invoice (derived: invoice 93 plus the demo
    addon line). Before the fix it became a second subscription line: recurring revenue."""
    raw = event_invoice("invoice_generated.json")
    addon = payload("demo_one_time_addon_invoice.json")["line_items"][0]
    raw["line_items"].append({**addon, "subscription_id": raw["subscription_id"],
                              "customer_id": raw["customer_id"]})
    invoice = only_invoice(read([raw]))
    assert [(line.kind, line.amount) for line in invoice.lines] == [
        ("subscription", 0), ("one_time", 4000)]
    assert invoice.lines[1].plan_external_id is None
    assert decide_invoice(invoice, "include").action is Action.SEND


def test_a_pc2_charge_item_price_and_an_addon_price_without_period_bill_once() -> None:
    """Product Catalog 2.0: item prices of type ``charge`` and addon prices with no
    ``period`` are one-time; they are not plans, and their invoice lines are one-time."""
    prices = [
        {"id": "cbdemo_free-USD-monthly", "item_id": "cbdemo_free", "item_type": "plan",
         "period": 1, "period_unit": "month", "price": 0, "updated_at": 1755000000},
        {"id": "onboarding-USD", "item_id": "onboarding", "item_type": "charge",
         "price": 500000, "updated_at": 1755000000},
        {"id": "setup-USD", "item_id": "setup", "item_type": "addon", "price": 2000,
         "updated_at": 1755000000},
    ]
    raw = event_invoice("invoice_generated.json")
    plan_line = raw["line_items"][0]
    plan_line.update(entity_type="plan_item_price", entity_id="cbdemo_free-USD-monthly")
    raw["line_items"].append({**plan_line, "id": "li_setup", "entity_type": "addon_item_price",
                              "entity_id": "setup-USD", "amount": 2000})
    invoice = only_invoice(read([raw], "2.0", **{"/item_prices": prices}))
    assert [(line.kind, line.amount) for line in invoice.lines] == [
        ("subscription", 0), ("one_time", 2000)]


def test_an_abbreviated_webhook_invoice_is_quarantined_naming_the_missing_date() -> None:
    """The dunning sample's invoice is abbreviated (no ``date``, no ``line_items``): a real
    list response always has both. It is quarantined, never guessed."""
    [item] = read([event_invoice("invoice_updated.json")])
    assert isinstance(item, Quarantined), item
    assert (item.reason, item.field) == (Reason.INVALID_RECORD, "date")
    assert "93" in item.message
