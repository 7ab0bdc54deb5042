"""Objects generated from Stripe's published OpenAPI schemas (SOURCES.md: ``stripe/openapi``
``openapi/spec3.json``, trimmed to the fields the connector reads) through the Stripe
streams: every invoice (with its lines and credit notes), subscription, customer and
recurring price becomes a record or a Quarantined with a reason and the field at fault,
never an exception.

Half the objects have every property present, as Stripe sends them (``null`` when empty),
half come from the shared helper, which may leave any property out. Two things the schema
helper cannot express are supplied here, each as Stripe documents
it: ``currency`` has Stripe's own ``format: currency`` (a lowercase ISO 4217 code), so a real
code is drawn most of the time (arbitrary text the rest); an invoice's nullable ``status``
is, most of the time, one of the spec's values, so that most invoices reach their lines,
payments and credit notes; and an invoice's ``lines`` list and
each line's ``id`` are ``required`` in the spec (the helper makes every property optional),
so they are filled in when left out, as is the object's own ``id``, which every list and
retrieve call guarantees (``StripeApi`` stops the run on an object without one). Lines are complete (``has_more: false``); credit notes
come from the same schema through a stand-in for the list call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saasync.connector import Quarantined
from saasync.models import Customer, Invoice, Plan, SourceSubscription
from saasync.reasons import Reason
from saasync_connectors.stripe.streams import (
    Changes,
    CustomersStream,
    InvoicesStream,
    PlansStream,
    SubscriptionsStream,
)
from tests.connectors.published_support.schema_strategy import strategy

SCHEMAS = json.loads((Path(__file__).parent / "schema_fragment.json").read_text(encoding="utf-8"))
REASONS = set(Reason)
# zero-decimal, two-decimal, three-decimal, Stripe's special cases (ISK, MGA), and a code
# that is no currency at all
CURRENCIES = st.sampled_from(["usd", "eur", "jpy", "kwd", "isk", "mga", "usd", "xxx"])
INVOICE_STATUSES = st.sampled_from(SCHEMAS["invoice"]["properties"]["status"]["enum"])
SETTINGS = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def stripe_shaped(schema: Any) -> st.SearchStrategy[Any]:
    """Objects as Stripe sends them: every property present (``null`` when empty, for the
    nullable ones), unlike ``strategy``, which may leave any property out."""
    if not isinstance(schema, dict):
        return strategy(schema)
    if "anyOf" in schema:
        return st.one_of([stripe_shaped(part) for part in schema["anyOf"]])
    if schema.get("type") == "array":
        items = st.lists(stripe_shaped(schema.get("items", {})), max_size=schema.get("maxItems", 3))
        return (st.none() | items) if schema.get("nullable") else items
    if schema.get("type") == "object" and "properties" in schema:
        whole = st.fixed_dictionaries({k: stripe_shaped(v) for k, v in schema["properties"].items()})
        return (st.none() | whole) if schema.get("nullable") else whole
    return strategy(schema)


def generated(kind: str) -> st.SearchStrategy[Any]:
    """Half Stripe-shaped (every field there), half with any field left out."""
    return stripe_shaped(SCHEMAS[kind]) | strategy(SCHEMAS[kind])


def currency() -> st.SearchStrategy[Any]:
    return st.one_of(CURRENCIES, st.text(max_size=4))


class NotesApi:
    """Stands in for ``StripeApi``: the only call an invoice makes is the credit-note list."""

    def __init__(self, notes: list[dict[str, Any]]) -> None:
        self.notes = notes
        self.paths: list[str] = []

    def list(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        self.paths.append(path)
        yield from self.notes


def assert_record_or_quarantine(item: Any, record: type) -> None:
    assert isinstance(item, record | Quarantined), item
    if isinstance(item, Quarantined):
        assert item.reason in REASONS, item
        assert item.field, item  # the field at fault is named
        assert item.message, item


def complete_invoice(raw: dict[str, Any], code: str) -> dict[str, Any]:
    found = raw.get("lines")
    lines: dict[str, Any] = found if isinstance(found, dict) else {}
    data = [line if "id" in line else {**line, "id": f"il_{i}"}
            for i, line in enumerate(lines.get("data", []))]
    ext_id = raw["id"] if isinstance(raw.get("id"), str) else "in_1"
    return {**raw, "id": ext_id, "currency": code,
            "lines": {**lines, "data": data, "has_more": False}}


@settings(SETTINGS, max_examples=150)
@given(raw=generated("invoice"), code=currency(), status=st.none() | INVOICE_STATUSES,
       notes=st.lists(generated("credit_note"), max_size=2),
       recurring=st.sets(st.text(max_size=12), max_size=2))
def test_every_schema_shaped_invoice_becomes_a_record_or_a_quarantine(
        raw: dict[str, Any], code: str, status: str | None, notes: list[dict[str, Any]],
        recurring: set[str]) -> None:
    raw = complete_invoice(raw if status is None else {**raw, "status": status}, code)
    api = NotesApi(notes)
    stream = InvoicesStream(api, lambda: recurring)  # type: ignore[arg-type]
    assert_record_or_quarantine(stream.item(raw, Changes()), Invoice)


@SETTINGS
@given(raw=generated("subscription"), code=currency())
def test_every_schema_shaped_subscription_becomes_a_record_or_a_quarantine(
        raw: dict[str, Any], code: str) -> None:
    item = SubscriptionsStream(None).item({**raw, "currency": code}, Changes())  # type: ignore[arg-type]
    assert_record_or_quarantine(item, SourceSubscription)


@SETTINGS
@given(raw=generated("customer"))
def test_every_schema_shaped_customer_becomes_a_record_or_a_quarantine(raw: dict[str, Any]) -> None:
    item = CustomersStream(None).item({"id": "cus_1", **raw}, Changes())  # type: ignore[arg-type]
    assert_record_or_quarantine(item, Customer)


@SETTINGS
@given(raw=generated("price"), code=currency())
def test_every_schema_shaped_price_becomes_a_plan_or_a_quarantine(raw: dict[str, Any], code: str) -> None:
    # PlansStream.build records the id of every price it reads: the list call only
    # returns objects with a string id (StripeApi.list stops the run otherwise)
    raw = {**raw, "id": raw["id"] if isinstance(raw.get("id"), str) else "price_1", "currency": code}
    item = PlansStream(None).item(raw, Changes())  # type: ignore[arg-type]
    assert_record_or_quarantine(item, Plan)
