"""Bulk mode: one json_imports request for many customers, polled, mapped back per record."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from responses import matchers

from saasync.destinations.chartmogul.bulk import BulkImporter, BulkResult
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.errors import FatalError
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction
from tests.destinations.chartmogul.cassettes import find
from tests.destinations.chartmogul.helpers import BASE, FakeClock, lookup, select, sent, utc

DS = "ds_4e1f0c2a-0000-4000-8000-000000000001"
IMPORTS = f"{BASE}/data_sources/{DS}/json_imports"


def invoice(customer: str, ext: str) -> OutInvoice:
    return OutInvoice(
        external_id=ext, customer_external_id=customer, date=utc(2024, 6, 1), currency="USD",
        lines=(OutLine(kind="subscription", amount=4900, subscription_external_id=f"sub-{customer}",
                       plan_external_id="team-monthly", service_period_start=utc(2024, 6, 1),
                       service_period_end=utc(2024, 7, 1)),),
        transactions=(OutTransaction("payment", "successful", utc(2024, 6, 1, 6),
                                     external_id=f"pay-{ext}"),),
    )


def status(state: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The json_imports object in the shape of the Python client's tests (docs/chartmogul.md)."""
    return {"id": "imp-1", "data_source_uuid": DS, "external_id": "x", "status": state,
            "status_details": details or {}, "created_at": "2024-06-01T06:05:00Z",
            "updated_at": "2024-06-01T06:05:00Z"}


def importer(dest: ChartMogulDestination, rsps: responses.RequestsMock, **options: Any,
             ) -> BulkImporter:
    select(rsps, dest, DS)
    bulk = dest.bulk_importer(**options)
    bulk.add_plan(Plan(external_id="team-monthly", name="Team (monthly)", interval_unit="month"))
    for cid in ("acct-1001", "acct-1002"):
        bulk.add_customer(Customer(external_id=cid, name=f"Customer {cid}", email=f"{cid}@x.test"))
        bulk.add_invoices(cid, [invoice(cid, f"INV-{cid}")])
    return bulk


def test_bulk_import_polls_until_done_and_maps_errors_back(
        rsps: responses.RequestsMock, dest: ChartMogulDestination, clock: FakeClock) -> None:
    bulk = importer(dest, rsps)
    post = rsps.post(IMPORTS, json=status("queued"))
    rsps.get(f"{IMPORTS}/imp-1", json=status("processing"))
    rsps.get(f"{IMPORTS}/imp-1", json=status("completed", {
        "plans": {"status": "imported"},
        "acct-1001": {"customers": {"status": "imported"}, "invoices": {"status": "imported"},
                      "line_items": {"status": "imported"},
                      "transactions": {"status": "imported"}},
        "acct-1002": {"customers": {"status": "imported"},
                      "invoices": {"status": "failed",
                                   "errors": {"INV-acct-1002": {"currency": ["is invalid"]}}}},
    }))
    results = bulk.flush()
    assert clock.sleeps == [2.0, 2.0]
    assert results == [
        BulkResult("plan", "team-monthly", None, None, "imp-1"),
        BulkResult("customer", "acct-1001", "acct-1001", None, "imp-1"),
        BulkResult("invoice", "INV-acct-1001", "acct-1001", None, "imp-1"),
        BulkResult("customer", "acct-1002", "acct-1002", None, "imp-1"),
        BulkResult("invoice", "INV-acct-1002", "acct-1002",
                   'failed: {"currency": ["is invalid"]}', "imp-1"),
    ]
    body = sent(post.calls[0])
    assert body["external_id"].startswith("saasync-")
    assert body["plans"] == [{"external_id": "team-monthly", "name": "Team (monthly)",
                              "interval_count": 1, "interval_unit": "month"}]
    assert body["customers"][0] == {"external_id": "acct-1001", "name": "Customer acct-1001",
                                    "email": "acct-1001@x.test"}
    assert body["invoices"][0] == {"external_id": "INV-acct-1001",
                                   "customer_external_id": "acct-1001",
                                   "date": "2024-06-01T00:00:00Z", "currency": "USD"}
    assert body["line_items"][0] == {
        "invoice_external_id": "INV-acct-1001", "type": "subscription", "amount_in_cents": 4900,
        "quantity": 1, "discount_amount_in_cents": 0, "tax_amount_in_cents": 0,
        "subscription_external_id": "sub-acct-1001", "plan_external_id": "team-monthly",
        "service_period_start": "2024-06-01T00:00:00Z",
        "service_period_end": "2024-07-01T00:00:00Z", "prorated": False}
    assert body["transactions"][0] == {"invoice_external_id": "INV-acct-1001",
                                       "external_id": "pay-INV-acct-1001", "type": "payment",
                                       "result": "successful", "date": "2024-06-01T06:00:00Z"}
    assert bulk.flush() == []  # flushed: nothing left to send


def test_batches_are_cut_between_customers(rsps: responses.RequestsMock,
                                           dest: ChartMogulDestination) -> None:
    bulk = importer(dest, rsps, max_customers=1)
    rsps.post(IMPORTS, json=status("completed"))
    rsps.post(IMPORTS, json={**status("completed"), "id": "imp-2"})
    results = bulk.flush()
    posts = [sent(c) for c in rsps.calls if c.request.method == "POST"]
    assert [p["customers"][0]["external_id"] for p in posts] == ["acct-1001", "acct-1002"]
    assert [len(p["plans"]) for p in posts] == [1, 0]  # plans ride in the first
    assert [r.import_id for r in results] == ["imp-1"] * 3 + ["imp-2"] * 2
    assert all(r.ok for r in results)


def test_a_refused_import_fails_every_record_in_it(rsps: responses.RequestsMock,
                                                   dest: ChartMogulDestination) -> None:
    bulk = importer(dest, rsps)
    rsps.post(IMPORTS, status=422, json={"errors": {"base": "Payload too large"}})
    results = bulk.flush()
    assert len(results) == 5
    assert all(r.error == "bulk import refused (422): base: Payload too large" for r in results)


def test_a_failed_import_without_details_fails_its_records(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    bulk = importer(dest, rsps)
    rsps.post(IMPORTS, json=status("failed"))
    results = bulk.flush()
    assert {r.error for r in results} == {"bulk import imp-1 ended failed"}


def test_polling_gives_up_after_the_timeout(rsps: responses.RequestsMock,
                                            dest: ChartMogulDestination,
                                            clock: FakeClock) -> None:
    bulk = importer(dest, rsps, timeout=5.0, poll_interval=2.0)
    rsps.post(IMPORTS, json=status("queued"))
    rsps.get(f"{IMPORTS}/imp-1", json=status("processing"))
    with pytest.raises(FatalError, match="imp-1 still processing"):
        bulk.flush()
    assert clock.sleeps == [2.0, 2.0, 2.0]


def test_cancellations_are_applied_after_the_import(rsps: responses.RequestsMock,
                                                    dest: ChartMogulDestination) -> None:
    recording = ("ruby-Subscription-_update_cancellation_dates-when_array_includes_valid_"
                 "entries-is_setting_the_cancellation_dates_of_the_subscription.yml")
    customers = find(recording, "GET", "/customers").response
    ds = customers["entries"][0]["data_source_uuid"]
    subs = find(recording, "GET", "/subscriptions")
    patch = find(recording, "PATCH", "/import/subscriptions/")
    select(rsps, dest, ds)
    bulk = dest.bulk_importer()
    bulk.add_cancellation("test_cus_ext_id", "test_cus_sub_ext_id", [utc(1999, 12, 31, 22)])
    bulk.add_cancellation("test_cus_ext_id", "unknown_sub", [])
    lookup(rsps, "customers", ds, "test_cus_ext_id", customers)
    rsps.get(subs.url, json=subs.response)
    rsps.get(subs.url, json=subs.response)  # the miss lists again: new subscriptions may exist
    call = rsps.patch(patch.url, json=patch.response, status=202,
                      match=[matchers.json_params_matcher(
                          {"cancellation_dates": ["1999-12-31T22:00:00Z"]})])
    results = bulk.flush()
    assert call.call_count == 1
    assert results[0] == BulkResult("subscription", "test_cus_sub_ext_id", "test_cus_ext_id")
    assert results[1].error is not None and "not found" in results[1].error


def held_invoice(customer: str, amount: int) -> dict[str, Any]:
    """``invoice(customer, …)`` as ChartMogul lists it (shape of the recorded list bodies)."""
    ext = f"INV-{customer}"
    return {
        "uuid": f"inv_{customer}", "external_id": ext, "date": "2024-06-01T00:00:00.000Z",
        "due_date": None, "currency": "USD", "customer_uuid": f"cus_{customer}", "errors": {},
        "line_items": [{
            "uuid": "li_1", "external_id": None, "type": "subscription",
            "subscription_uuid": "sub_1", "subscription_external_id": f"sub-{customer}",
            "prorated": False, "proration_type": None,
            "service_period_start": "2024-06-01T00:00:00.000Z",
            "service_period_end": "2024-07-01T00:00:00.000Z", "plan_uuid": "pl_1",
            "amount_in_cents": amount, "quantity": 1, "discount_code": "",
            "discount_amount_in_cents": 0, "tax_amount_in_cents": 0,
            "transaction_fees_in_cents": 0, "account_code": "",
            "transaction_fees_currency": None, "discount_description": None, "event_order": None}],
        "transactions": [{"uuid": "tr_1", "external_id": f"pay-{ext}", "type": "payment",
                          "date": "2024-06-01T06:00:00.000Z", "result": "successful",
                          "amount_in_cents": None, "transaction_fees_in_cents": None,
                          "transaction_fees_currency": None}]}


def test_duplicates_in_a_retried_import_are_read_back(rsps: responses.RequestsMock,
                                                      dest: ChartMogulDestination,
                                                      clock: FakeClock) -> None:
    bulk = importer(dest, rsps)
    rsps.post(IMPORTS, status=502, body="502 Bad Gateway", content_type="text/plain")
    rsps.post(IMPORTS, json=status("completed", {
        "acct-1001": {"customers": {"status": "failed", "errors": {"acct-1001": {
            "external_id": "The external ID for this customer already exists in our system."}}}},
        "acct-1002": {"invoices": {"status": "failed", "errors": {"INV-acct-1002": {
            "external_id": "The external ID for this invoice already exists in our system."}}}},
    }))
    held_customer = {**find("go-customers.yaml", "POST", "/customers").response,
                     "external_id": "acct-1001", "external_ids": ["acct-1001"],
                     "name": "Customer acct-1001", "email": "acct-1001@x.test",
                     "data_source_uuid": DS, "data_source_uuids": [DS]}
    lookup(rsps, "customers", DS, "acct-1001", {"entries": [held_customer], "has_more": False})
    # acct-1001's invoice inherits its customer's error; read back, it is there and equal.
    lookup(rsps, "invoices", DS, "INV-acct-1001",
           {"invoices": [held_invoice("acct-1001", 4900)], "has_more": False})
    lookup(rsps, "invoices", DS, "INV-acct-1002",  # ChartMogul holds 5900, we send 4900
           {"invoices": [held_invoice("acct-1002", 5900)], "has_more": False})
    rsps.get(f"{BASE}/plans/pl_1", json={"external_id": "team-monthly", "name": "Team (monthly)",
                                         "interval_count": 1, "interval_unit": "month",
                                         "data_source_uuid": DS, "uuid": "pl_1"})
    results = {(r.kind, r.external_id): r for r in bulk.flush()}
    assert results[("customer", "acct-1001")].ok
    assert results[("invoice", "INV-acct-1001")].ok
    conflict = results[("invoice", "INV-acct-1002")]
    assert conflict.conflict_fields == ("line_items[0].amount_in_cents",)
    assert conflict.error is not None and "invoice 'INV-acct-1002' already exists" in conflict.error
    assert len(clock.sleeps) == 1  # the 502 was retried by the HTTP layer
