"""Read-back for dry runs: cursor paging over every listing, mapped into comparable docs."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import responses
from responses import matchers

from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.destinations.chartmogul.mapping import comparable_doc
from saasync.destinations.chartmogul.readback import DestinationSnapshot, read_customer, read_state
from saasync.errors import BadRecordError
from saasync.models import Customer, Plan
from saasync.rules.changeset import CancellationMarker, OutInvoice, OutLine, OutTransaction
from tests.destinations.chartmogul.cassettes import find
from tests.destinations.chartmogul.helpers import BASE, empty_page, select, utc

CUSTOMER_PAGES = "ruby-Customer-API_Actions-with_pagination-paginates_correctly.yml"
INVOICE_PAGES = "ruby-Invoice-API_Actions-with_pagination-paginates_correctly.yml"
SUB_PAGES = "go-subscriptions.yaml"
DS = "ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46"  # the data source of the Ruby recordings
JOHN = "cus_23740208-2c7e-11ee-9ea2-ffd2435982bb"
GAVIN = "cus_23c11cf0-2c7e-11ee-b2cd-fbfd681a34dd"
PLAN = "pl_de9e281e-76cb-11ee-b63f-b727630ce4d4"


def page(rsps: responses.RequestsMock, path: str, body: dict[str, Any],
         cursor: str | None = None, **filters: str) -> None:
    params = {**filters, "per_page": "200", **({"cursor": cursor} if cursor else {})}
    rsps.get(f"{BASE}/{path}", json=body, match=[matchers.query_param_matcher(params)])


def register_account(rsps: responses.RequestsMock) -> None:
    """Three customer pages (the last with a cursor but has_more false), one plan page,
    two invoice pages, and two pages of subscriptions for John, whose invoices bill a
    subscription. Gavin has no invoice, so no subscription: his listing is never asked."""
    first, second = (find(CUSTOMER_PAGES, "GET", "/customers", i).response for i in (0, 1))
    last = {**empty_page("entries"), "cursor": "bGFzdA==", "has_more": False}
    page(rsps, "customers", first, data_source_uuid=DS)
    page(rsps, "customers", second, first["cursor"], data_source_uuid=DS)
    page(rsps, "customers", last, second["cursor"], data_source_uuid=DS)
    register_plans(rsps)
    inv1, inv2 = invoice_pages()
    page(rsps, "invoices", inv1, data_source_uuid=DS)
    page(rsps, "invoices", inv2, inv1["cursor"], data_source_uuid=DS)
    register_subscriptions(rsps)


def register_plans(rsps: responses.RequestsMock) -> None:
    plan = {"external_id": "test_cus_pl_ext_id", "name": "Test Plan", "interval_count": 7,
            "uuid": PLAN, "interval_unit": "day", "data_source_uuid": DS}
    page(rsps, "plans", {"plans": [plan], "current_page": 1, "total_pages": 1, "cursor": None,
                         "has_more": False}, data_source_uuid=DS)


def invoice_pages() -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded invoice pages, their invoices John's (a customer we list)."""
    inv1, inv2 = (find(INVOICE_PAGES, "GET", "/invoices", i).response for i in (0, 1))
    for body in (inv1, inv2):
        body["invoices"] = [{**i, "customer_uuid": JOHN} for i in body["invoices"]]
    return inv1, {**inv2, "has_more": False}


def subscription_pages() -> tuple[dict[str, Any], dict[str, Any]]:
    sub1, sub2 = (find(SUB_PAGES, "GET", "/subscriptions", i).response for i in (0, 1))
    for body in (sub1, sub2):
        body["subscriptions"] = [{**s, "data_source_uuid": DS} for s in body["subscriptions"]]
    sub2["subscriptions"][0]["cancellation_dates"] = ["2024-06-30T00:00:00.000Z"]
    return sub1, sub2


def register_subscriptions(rsps: responses.RequestsMock) -> None:
    sub1, sub2 = subscription_pages()
    page(rsps, f"import/customers/{JOHN}/subscriptions", sub1)
    page(rsps, f"import/customers/{JOHN}/subscriptions", sub2, sub1["cursor"])


def read(rsps: responses.RequestsMock, dest: ChartMogulDestination) -> DestinationSnapshot:
    select(rsps, dest, DS)
    register_account(rsps)
    return dest.snapshot()


def test_read_state_pages_through_every_listing(rsps: responses.RequestsMock,
                                                dest: ChartMogulDestination) -> None:
    snap = read(rsps, dest)
    assert snap.data_source_uuid == DS
    assert sorted(snap.customers) == ["cus_002", "cus_003"]
    assert comparable_doc(snap.customers["cus_002"]) == {
        "external_id": "cus_002", "name": "John Smith", "email": "john@example.com",
        "company": "Initrode", "country": "US", "created_at": "2015-11-01T00:00:00Z"}
    assert snap.plans == {"test_cus_pl_ext_id": Plan(external_id="test_cus_pl_ext_id",
                                                     name="Test Plan", interval_unit="day",
                                                     interval_count=7)}
    assert sorted(snap.invoices) == ["test_cus_inv_ext_id_1", "test_cus_inv_ext_id_2"]
    assert sorted(snap.subscriptions) == [("cus_002", "ext_subscription"),
                                          ("cus_002", "ext_subscription1")]
    assert snap.subscriptions[("cus_002", "ext_subscription1")].cancellation_dates == (
        utc(2024, 6, 30),)
    assert snap.uuids[("customer", "cus_003")] == GAVIN
    assert snap.uuids[("invoice", "test_cus_inv_ext_id_1")] == (
        "inv_8ab74614-4e62-49f6-b4b3-f779109e50d0")
    asked = [c.request.url or "" for c in rsps.calls]
    assert not any(GAVIN in url for url in asked)  # no invoice, so no subscription to list
    assert all("per_page=200" in url for url in asked if "data_sources" not in url)


def test_read_state_reports_progress_listing_by_listing(rsps: responses.RequestsMock,
                                                        dest: ChartMogulDestination) -> None:
    select(rsps, dest, DS)
    register_account(rsps)
    heard: list[tuple[str, int, int | None]] = []
    snap = read_state(dest.client, DS, progress=lambda *a: heard.append(a))
    assert len(snap.subscriptions) == 2
    assert heard == [("invoices", 0, None), ("subscriptions", 0, 1), ("subscriptions", 1, 1)]


def test_read_state_lists_subscriptions_while_invoices_are_still_listed(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    """John's first invoice page names a subscription: his subscription listing starts
    before the second invoice page is answered (which waits for it, and for the customer
    listing, up to 5 s each), so customers are listed beside the invoices. The snapshot is
    the one the recorded account reads as."""
    expected = read(rsps, dest)
    subscriptions_asked, customers_asked = threading.Event(), threading.Event()
    inv1, inv2 = invoice_pages()
    first, second = (find(CUSTOMER_PAGES, "GET", "/customers", i).response for i in (0, 1))
    customers = {**first, "entries": first["entries"] + second["entries"], "has_more": False}
    sub1, sub2 = subscription_pages()

    def answer(body: dict[str, Any], *, note: threading.Event | None = None,
               after: tuple[threading.Event, ...] = ()) -> Any:
        def respond(request: Any) -> tuple[int, dict[str, str], str]:
            if note is not None:
                note.set()
            overlapped = all(event.wait(5) for event in after)
            return (200 if overlapped else 599), {}, json.dumps(body)
        return respond

    def query(cursor: str | None = None, **filters: str) -> Any:
        return [matchers.query_param_matcher(
            {**filters, "per_page": "200", **({"cursor": cursor} if cursor else {})})]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        page(mock, f"import/customers/{JOHN}/subscriptions", sub2, sub1["cursor"])
        mock.add_callback(responses.GET, f"{BASE}/import/customers/{JOHN}/subscriptions",
                          callback=answer(sub1, note=subscriptions_asked), match=query())
        register_plans(mock)
        mock.add_callback(responses.GET, f"{BASE}/customers", match=query(data_source_uuid=DS),
                          callback=answer(customers, note=customers_asked))
        page(mock, "invoices", inv1, data_source_uuid=DS)
        mock.add_callback(responses.GET, f"{BASE}/invoices",
                          match=query(inv1["cursor"], data_source_uuid=DS),
                          callback=answer(inv2, after=(subscriptions_asked, customers_asked)))
        snap = read_state(dest.client, DS)
    assert snap == expected


def test_read_customer_reads_one_customer_as_read_state_maps_it(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    full = read(rsps, dest)
    rsps.reset()
    john = next(e for e in find(CUSTOMER_PAGES, "GET", "/customers", 0).response["entries"]
                if e["uuid"] == JOHN)
    rsps.get(f"{BASE}/customers", json={**empty_page("entries"), "entries": [john]},
             match=[matchers.query_param_matcher({"data_source_uuid": DS,
                                                   "external_id": "cus_002"})])
    register_plans(rsps)
    inv1, inv2 = invoice_pages()
    page(rsps, "invoices", inv1, data_source_uuid=DS, customer_uuid=JOHN)
    page(rsps, "invoices", inv2, inv1["cursor"], data_source_uuid=DS, customer_uuid=JOHN)
    register_subscriptions(rsps)
    one = read_customer(dest.client, DS, "cus_002")
    assert one.customers == {"cus_002": full.customers["cus_002"]}
    assert one.plans == full.plans and one.invoices == full.invoices
    assert one.subscriptions == full.subscriptions
    assert len(rsps.calls) == 6  # customer, plans, 2 invoice pages, 2 subscription pages


def test_read_customer_of_an_unknown_customer_is_one_request(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    rsps.get(f"{BASE}/customers", json=empty_page("entries"))
    assert read_customer(dest.client, DS, "nobody") == DestinationSnapshot(DS)
    assert len(rsps.calls) == 1


def desired_invoice(amount: int = 1000) -> OutInvoice:
    """What our builder would send for the recorded ``test_cus_inv_ext_id_1``."""
    return OutInvoice(
        external_id="test_cus_inv_ext_id_1", customer_external_id="cus_002",
        date=utc(2016, 1, 1, 12), currency="USD", due_date=utc(2016, 1, 7, 12),
        lines=(OutLine(kind="subscription", amount=amount, quantity=5, discount_amount=1200,
                       tax_amount=200, external_id="test_cus_li_ext_id",
                       subscription_external_id="test_cus_sub_ext_id",
                       plan_external_id="test_cus_pl_ext_id",
                       service_period_start=utc(2016, 1, 1, 12),
                       service_period_end=utc(2016, 2, 1, 12),
                       description="not echoed by ChartMogul"),),
        transactions=(OutTransaction("payment", "successful", utc(2016, 1, 1, 12),
                                     external_id="test_cus_tr_ext_id"),),
    )


def test_snapshot_diffs_desired_records(rsps: responses.RequestsMock,
                                        dest: ChartMogulDestination) -> None:
    snap = read(rsps, dest)
    assert snap.diff(desired_invoice()) == []
    assert snap.diff(desired_invoice(amount=1100)) == ["line_items[0].amount_in_cents"]
    john = Customer(external_id="cus_002", name="John Smith", email="john@example.com",
                    company="Initrode", country="US", created_at=utc(2015, 11, 1))
    assert snap.diff(john) == []
    assert snap.diff(john.model_copy(update={"email": "j@example.com"})) == ["email"]
    assert snap.diff(Customer(external_id="cus_new", name="New")) is None
    weekly = Plan(external_id="test_cus_pl_ext_id", name="Test Plan", interval_unit="week")
    assert snap.diff(weekly) == []  # one week is held as 7 days
    cancelled = CancellationMarker("ext_subscription1", "cus_002", (utc(2024, 6, 30),))
    assert snap.diff(cancelled) == []
    assert snap.diff(CancellationMarker("ext_subscription", "cus_002", (utc(2024, 1, 1),))) == [
        "cancellation_dates"]
    assert snap.diff(CancellationMarker("never", "cus_002", ())) == []
    assert set(snap.docs()) == {"customer", "plan", "invoice", "subscription"}


def test_snapshot_of_a_missing_data_source_is_empty(rsps: responses.RequestsMock,
                                                    dest: ChartMogulDestination) -> None:
    rsps.get(f"{BASE}/data_sources", json={"data_sources": []},
             match=[matchers.query_param_matcher({"name": "not-yet"})])
    snap = dest.snapshot("not-yet")
    assert snap == DestinationSnapshot.empty()
    assert snap.diff(Customer(external_id="c1", name="C")) is None


def test_read_state_fails_when_a_subscription_listing_fails(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    """A listing refused in a worker thread fails the read (no partial snapshot)."""
    inv1 = invoice_pages()[0]
    first = find(CUSTOMER_PAGES, "GET", "/customers", 0).response
    page(rsps, "customers", {**first, "has_more": False}, data_source_uuid=DS)
    register_plans(rsps)
    page(rsps, "invoices", {**inv1, "has_more": False}, data_source_uuid=DS)
    rsps.get(f"{BASE}/import/customers/{JOHN}/subscriptions", status=404,
             json={"message": "gone"})
    with pytest.raises(BadRecordError):
        read_state(dest.client, DS)
