"""Objects generated from Chargebee's published OpenAPI schema (SOURCES.md: ``chargebee/openapi``
``spec/chargebee_api_v2_pc_v2_spec.json``, trimmed to the fields the connector reads)
through the Chargebee streams, as a run reads them: every invoice (with its lines,
discounts, payments, applied credits and the refunds of its credit notes), subscription,
customer and item price becomes a record or a Quarantined with a reason and the field at
fault, never an exception.

Half the objects have every property present, as Chargebee sends a fully populated object
(amounts within the spec's ``minimum``, dates in epoch range), half come from the shared helper, which may leave any property out (Chargebee omits
attributes it has no value for rather than sending ``null``). Every object's own ``id`` is
filled in when left out or blank (every list entry has one). Supplied here, each as
Chargebee documents it: ``currency_code`` is an ISO 4217 code (``maxLength: 3``, the
schema has no format for it), so a real code is drawn most of the time (arbitrary text the
rest); an invoice's ``status`` is, most of the time, one of the spec's values, so that
most invoices reach their lines, payments and credit notes; an invoice's line list is
complete (``line_items_next_offset`` dropped: the fake API answers no retrieve). Credit
notes come from the same fragment through the stand-in for the ``/credit_notes`` list,
referencing the invoice; the item prices the invoice lines may name are read first by
``PlansStream`` (Product Catalog 2.0), exactly as a run does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saasync.connector import Quarantined, ReadWindow
from saasync.models import Customer, Invoice, Plan, SourceSubscription
from saasync.reasons import Reason
from saasync_connectors.chargebee.streams import (
    CustomersStream,
    InvoicesStream,
    PlansStream,
    SubscriptionsStream,
)
from tests.connectors.published_support.schema_strategy import strategy

SCHEMAS = json.loads((Path(__file__).parent / "schema_fragment.json").read_text(encoding="utf-8"))
REASONS = set(Reason)
# two-decimal, zero-decimal, three-decimal, and a code that is no currency at all
CURRENCIES = st.sampled_from(["USD", "EUR", "JPY", "KWD", "GBP", "USD", "XXX"])
INVOICE_STATUSES = st.sampled_from(SCHEMAS["invoice"]["properties"]["status"]["enum"])
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def chargebee_shaped(schema: Any) -> st.SearchStrategy[Any]:
    """Objects with every property present, unlike ``strategy``, which may leave any out;
    integers honour the spec's ``minimum`` and dates are epoch seconds (1970-2100), where
    the helper draws any integer."""
    if not isinstance(schema, dict):
        return strategy(schema)
    if schema.get("type") == "integer" and "enum" not in schema:
        if schema.get("format") == "unix-time":  # Chargebee's dates: epoch seconds
            return st.integers(min_value=0, max_value=4_102_444_800)
        return st.integers(min_value=schema.get("minimum", -10**9), max_value=10**9)
    if schema.get("type") == "array":
        return st.lists(chargebee_shaped(schema.get("items", {})), max_size=schema.get("maxItems", 3))
    if schema.get("type") == "object" and "properties" in schema:
        return st.fixed_dictionaries({k: chargebee_shaped(v) for k, v in schema["properties"].items()})
    return strategy(schema)


def generated(kind: str) -> st.SearchStrategy[Any]:
    """Half fully populated, half with any field left out."""
    return chargebee_shaped(SCHEMAS[kind]) | strategy(SCHEMAS[kind])


def with_id(raw: dict[str, Any], default: str) -> dict[str, Any]:
    """Every object of a Chargebee list has a non-empty string id (the spec's ``required``;
    the helper makes every property optional)."""
    found = raw.get("id")
    return raw if isinstance(found, str) and found.strip() else {**raw, "id": default}


def currency() -> st.SearchStrategy[Any]:
    return st.one_of(CURRENCIES, st.text(max_size=4))


class ListApi:
    """Stands in for ``ChargebeeApi``: list calls answered by path; no retrieve expected
    (line lists are complete)."""

    def __init__(self, lists: Mapping[str, list[Any]]) -> None:
        self.lists = lists

    def objects(self, path: str, resource: str, params: Mapping[str, Any]) -> Iterator[Any]:
        yield from copy.deepcopy(self.lists.get(path, []))

    def pages(self, path: str, resource: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
        yield list(self.objects(path, resource, params))

    def retrieve(self, path: str, resource: str, params: Mapping[str, Any]) -> Any:
        raise AssertionError(f"no retrieve expected ({path})")


def assert_record_or_quarantine(item: Any, record: type) -> None:
    assert isinstance(item, record | Quarantined), item
    if isinstance(item, Quarantined):
        assert item.reason in REASONS, item
        assert item.field, item  # the field at fault is named
        assert item.message, item


def read_invoices(invoices: list[dict[str, Any]], notes: list[dict[str, Any]] = (),  # type: ignore[assignment]
                  prices: list[dict[str, Any]] = ()) -> list[Any]:  # type: ignore[assignment]
    api = ListApi({"/item_prices": list(prices), "/invoices": invoices, "/credit_notes": list(notes)})
    plans = PlansStream(api, "2.0")  # type: ignore[arg-type]
    for item in plans.read(ReadWindow()):
        assert_record_or_quarantine(item, Plan)
    return list(InvoicesStream(api, plans.periods, plans.one_time).read(ReadWindow()))  # type: ignore[arg-type]


@settings(SETTINGS, max_examples=150)
@given(raw=generated("invoice"), code=currency(), status=st.none() | INVOICE_STATUSES,
       notes=st.lists(generated("credit_note"), max_size=2),
       prices=st.lists(generated("item_price"), max_size=2),
       names_prices=st.booleans())
def test_every_schema_shaped_invoice_becomes_a_record_or_a_quarantine(
        raw: dict[str, Any], code: str, status: str | None, notes: list[dict[str, Any]],
        prices: list[dict[str, Any]], names_prices: bool) -> None:
    raw = with_id({**raw, "currency_code": code}, "93") | ({} if status is None else {"status": status})
    prices = [with_id(price, f"price-{i}") for i, price in enumerate(prices)]
    raw.pop("line_items_next_offset", None)
    if names_prices and prices and isinstance(raw.get("line_items"), list):
        # lines naming catalog entries the plans stream has read (period, one-time)
        ids = [p.get("id") for p in prices]
        raw["line_items"] = [{**line, "entity_id": ids[i % len(ids)]}
                             for i, line in enumerate(raw["line_items"])]
    # the /credit_notes list answers the notes issued against this invoice
    notes = [with_id({**note, "reference_invoice_id": raw["id"]}, f"cn-{i}")
             for i, note in enumerate(notes)]
    if notes:
        raw["issued_credit_notes"] = raw.get("issued_credit_notes") or [{"cn_id": "cn", "cn_status": "refunded"}]
    [item] = read_invoices([raw], notes, prices)
    assert_record_or_quarantine(item, Invoice)


@SETTINGS
@given(raw=generated("subscription"), code=currency())
def test_every_schema_shaped_subscription_becomes_a_record_or_a_quarantine(
        raw: dict[str, Any], code: str) -> None:
    api = ListApi({"/subscriptions": [with_id({**raw, "currency_code": code}, "sub_1")]})
    [item] = SubscriptionsStream(api).read(ReadWindow())  # type: ignore[arg-type]
    assert_record_or_quarantine(item, SourceSubscription)


@SETTINGS
@given(raw=generated("customer"))
def test_every_schema_shaped_customer_becomes_a_record_or_a_quarantine(raw: dict[str, Any]) -> None:
    [item] = CustomersStream(ListApi({"/customers": [with_id(raw, "cus_1")]})).read(ReadWindow())  # type: ignore[arg-type]
    assert_record_or_quarantine(item, Customer)


@SETTINGS
@given(raw=generated("item_price"), code=currency())
def test_every_schema_shaped_item_price_becomes_a_plan_a_quarantine_or_a_one_time_entry(
        raw: dict[str, Any], code: str) -> None:
    raw = with_id({**raw, "currency_code": code}, "plan-USD-monthly")
    plans = PlansStream(ListApi({"/item_prices": [raw]}), "2.0")  # type: ignore[arg-type]
    items = list(plans.read(ReadWindow()))
    if items:
        [item] = items
        assert_record_or_quarantine(item, Plan)
    else:  # a one-time charge is not a plan: the plans stream keeps its id instead
        assert str(raw.get("id")) in plans.one_time


def test_a_plan_period_beyond_any_date_quarantines_the_invoice_naming_the_line() -> None:
    """Found by the invoice test above: an item price of 2,204,486 weeks (the spec bounds
    ``period`` by int32 only) made the proration check overflow (``OverflowError: date
    value out of range``) instead of quarantining."""
    price = {"id": "plan-USD-weekly", "item_type": "plan", "period": 2204486,
             "period_unit": "week", "updated_at": 0}
    raw = {"id": "93", "customer_id": "cus_1", "status": "paid", "date": 0,
           "currency_code": "USD",
           "line_items": [{"id": "li_1", "entity_type": "plan_item_price",
                           "entity_id": "plan-USD-weekly", "amount": 100, "date_from": 0,
                           "date_to": 0, "description": "Plan"}]}
    [item] = read_invoices([raw], prices=[price])
    assert isinstance(item, Quarantined), item
    assert (item.reason, item.field) == (Reason.INVALID_RECORD, "line_items.0.entity_id")
    assert "plan-USD-weekly" in item.message
