"""ChartMogulDestination: invoice import, duplicates, replace, void and cancellation dates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import responses
from responses import matchers

from saasync.destinations.base import InvoiceResult
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.destinations.chartmogul.mapping import InvoiceConflict, parse_time
from saasync.errors import BadRecordError
from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction
from tests.destinations.chartmogul.cassettes import find
from tests.destinations.chartmogul.helpers import (
    BASE,
    empty_page,
    lookup,
    one_page,
    select,
    sent,
    utc,
)

INVOICES = "go-invoices.yaml"
DS = "ds_c90cb72e-3c54-11ee-9297-ef372100a8ed"
CUS = "cus_c947e006-3c54-11ee-9298-fbab75204dd9"
PLAN = "pl_c92869ec-3c54-11ee-9275-73c5d5e48dff"
IMPORT_URL = f"{BASE}/import/customers/{CUS}/invoices"
DUPLICATE = {"external_id": "The external ID for this invoice already exists in our system."}
TIME_KEYS = {"date", "service_period_start", "service_period_end", "due_date"}


def recorded_invoice(n: int, amount: int = 4500, seats: int = 10, suffix: str = "") -> OutInvoice:
    """The n-th invoice of the go-invoices recording, as our builder would produce it."""
    return OutInvoice(
        external_id=f"INV_to_be_retrieved{suffix}",
        customer_external_id="ext_customer",
        date=utc(2023, 8, 16, 16, 48, 54),
        currency="EUR",
        lines=(
            OutLine(kind="one_time", amount=amount, quantity=2, description=f"fake_item{suffix}"),
            OutLine(kind="subscription", amount=10000 + 1000 * n, quantity=seats,
                    external_id=f"ext_line_item{suffix}",
                    subscription_external_id=f"ext_subscription{suffix}",
                    plan_external_id="ext_plan", service_period_start=utc(2017, 5, 1),
                    service_period_end=utc(2017, 5, 31)),
        ),
        transactions=(OutTransaction("payment", "successful", utc(2023, 8, 16, 19, 48, 54)),),
    )


def first() -> OutInvoice:
    return recorded_invoice(0)


def second() -> OutInvoice:
    return recorded_invoice(1, amount=4200, seats=11, suffix="1")


def answered(n: int) -> dict[str, Any]:
    """The n-th invoice as ChartMogul answered it, plus the customer_uuid lists carry."""
    imported = find(INVOICES, "POST", "/import/customers/").response["invoices"][n]
    return {**imported, "customer_uuid": CUS}


def prepare(rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    """Select the recording's data source; customer and plan are found by look-up."""
    select(rsps, dest, DS)
    customer = find(INVOICES, "POST", "/customers").response
    plan = find(INVOICES, "POST", "/plans").response
    lookup(rsps, "customers", DS, "ext_customer", one_page("entries", customer))
    lookup(rsps, "plans", DS, "ext_plan", one_page("plans", plan))


def find_invoice(rsps: responses.RequestsMock, external_id: str, *found: dict[str, Any]) -> None:
    lookup(rsps, "invoices", DS, external_id, {**empty_page("invoices"), "invoices": list(found)})


# -- import -------------------------------------------------------------------------------
def test_import_sends_all_of_a_customers_invoices_in_one_request(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    prepare(rsps, dest)
    recorded = find(INVOICES, "POST", "/import/customers/")
    post = rsps.post(IMPORT_URL, json=recorded.response, status=201)
    results = dest.import_invoices("ext_customer", [first(), second()])
    assert results == [
        InvoiceResult("INV_to_be_retrieved", "inv_959d8be4-2425-488d-99f4-36a5c7c70669"),
        InvoiceResult("INV_to_be_retrieved1", "inv_39afe347-c95f-43d4-8955-85f320f199de"),
    ]
    body = sent(post.calls[0])
    assert list(body) == ["invoices"]
    # Field by field against what the official Go client sent for the same invoices.
    for ours, theirs in zip(body["invoices"], recorded.request["invoices"], strict=True):
        _same_fields(ours, theirs)
    assert body["invoices"][0] == {
        "external_id": "INV_to_be_retrieved",
        "customer_external_id": "ext_customer",
        "date": "2023-08-16T16:48:54Z",
        "currency": "EUR",
        "line_items": [
            {"type": "one_time", "amount_in_cents": 4500, "quantity": 2,
             "discount_amount_in_cents": 0, "tax_amount_in_cents": 0, "description": "fake_item"},
            {"type": "subscription", "amount_in_cents": 10000, "quantity": 10,
             "discount_amount_in_cents": 0, "tax_amount_in_cents": 0,
             "external_id": "ext_line_item", "subscription_external_id": "ext_subscription",
             "service_period_start": "2017-05-01T00:00:00Z",
             "service_period_end": "2017-05-31T00:00:00Z", "prorated": False,
             "plan_uuid": PLAN},
        ],
        "transactions": [{"type": "payment", "result": "successful",
                          "date": "2023-08-16T19:48:54Z"}],
    }


def _same_fields(ours: Any, theirs: Any, path: str = "") -> None:
    """Every field the recorded request has, ours has with the same meaning."""
    if isinstance(theirs, dict):
        for key, value in theirs.items():
            if key == "subscription_set_external_id":  # not a field of our model
                continue
            assert key in ours, f"{path}.{key} missing"
            _same_fields(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same_fields(a, b, f"{path}[{i}]")
    elif path.rsplit(".", 1)[-1] in TIME_KEYS:
        assert parse_time(ours) == parse_time(theirs), path
    else:
        assert ours == theirs, path


def test_import_chunks_large_batches(rsps: responses.RequestsMock,
                                     dest: ChartMogulDestination) -> None:
    prepare(rsps, dest)
    invoices = [recorded_invoice(0, suffix=f"-{i}") for i in range(150)]

    def echo(request: Any) -> tuple[int, dict[str, str], str]:
        import json
        body = json.loads(request.body)
        answer = [{"uuid": f"inv_{i['external_id']}", "external_id": i["external_id"],
                   "errors": {}} for i in body["invoices"]]
        return 201, {}, json.dumps({"invoices": answer})

    rsps.add_callback(responses.POST, IMPORT_URL, callback=echo)
    results = dest.import_invoices("ext_customer", invoices)
    assert [len(sent(c)["invoices"]) for c in rsps.calls if c.request.method == "POST"] == [100, 50]
    assert all(r.destination_id == f"inv_{r.external_id}" for r in results)


def test_unknown_plan_and_foreign_customer_are_per_invoice_errors(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    select(rsps, dest, DS)
    customer = find(INVOICES, "POST", "/customers").response
    lookup(rsps, "customers", DS, "ext_customer", one_page("entries", customer))
    lookup(rsps, "plans", DS, "ext_plan", empty_page("plans"))
    foreign = OutInvoice("X-1", "someone_else", utc(2024, 1, 1), "EUR",
                         (OutLine(kind="one_time", amount=100),))
    results = dest.import_invoices("ext_customer", [first(), foreign])
    assert results[0].error == "line_items.plan_uuid: no plan with external_id 'ext_plan'"
    assert results[1].error is not None and "someone_else" in results[1].error


def test_unknown_customer_refuses_the_whole_call(rsps: responses.RequestsMock,
                                                 dest: ChartMogulDestination) -> None:
    select(rsps, dest, DS)
    lookup(rsps, "customers", DS, "ext_customer", empty_page("entries"))
    with pytest.raises(BadRecordError, match="customer 'ext_customer' not found"):
        dest.import_invoices("ext_customer", [first()])


# -- idempotency --------------------------------------------------------------------------
def test_retried_import_after_a_502_ends_as_success(rsps: responses.RequestsMock,
                                                    dest: ChartMogulDestination,
                                                    clock: Any) -> None:
    prepare(rsps, dest)
    rsps.post(IMPORT_URL, body="502 Bad Gateway", status=502, content_type="text/plain")
    rsps.post(IMPORT_URL, status=422, json={"invoices": [
        {"external_id": "INV_to_be_retrieved", "errors": DUPLICATE},
        {"external_id": "INV_to_be_retrieved1", "errors": DUPLICATE}]})
    find_invoice(rsps, "INV_to_be_retrieved", answered(0))
    find_invoice(rsps, "INV_to_be_retrieved1", answered(1))
    results = dest.import_invoices("ext_customer", [first(), second()])
    assert [r.destination_id for r in results] == [answered(0)["uuid"], answered(1)["uuid"]]
    assert all(r.error is None for r in results)
    assert len(clock.sleeps) == 1


def test_duplicate_invoice_with_other_content_is_an_invoice_conflict(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    prepare(rsps, dest)
    rsps.post(IMPORT_URL, status=422, json={"invoices": [
        {"external_id": "INV_to_be_retrieved", "errors": DUPLICATE}]})
    find_invoice(rsps, "INV_to_be_retrieved", answered(0))
    [result] = dest.import_invoices("ext_customer", [recorded_invoice(0, amount=4600)])
    assert isinstance(result, InvoiceConflict)
    assert result.destination_id is None
    assert result.fields == ("line_items[0].amount_in_cents",)
    assert result.error is not None and "invoice 'INV_to_be_retrieved'" in result.error


def test_per_invoice_422_is_answered_per_invoice(rsps: responses.RequestsMock,
                                                 dest: ChartMogulDestination) -> None:
    prepare(rsps, dest)
    rsps.post(IMPORT_URL, status=422, json={"invoices": [
        {"external_id": "INV_to_be_retrieved", "errors": {}},
        {"external_id": "INV_to_be_retrieved1", "errors": {"currency": ["Currency is invalid"],
                                                           "date": ["Date is in the future"]}}]})
    # Whether the clean one was stored is unconfirmed: it is looked up, then sent alone.
    find_invoice(rsps, "INV_to_be_retrieved")
    alone = rsps.post(IMPORT_URL, status=201, json={"invoices": [answered(0)]})
    results = dest.import_invoices("ext_customer", [first(), second()])
    assert results[0] == InvoiceResult("INV_to_be_retrieved", answered(0)["uuid"])
    assert results[1] == InvoiceResult(
        "INV_to_be_retrieved1", None, "currency: Currency is invalid; date: Date is in the future")
    assert [i["external_id"] for i in sent(alone.calls[0])["invoices"]] == ["INV_to_be_retrieved"]


def test_unattributable_422_is_retried_one_invoice_at_a_time(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    prepare(rsps, dest)
    rsps.post(IMPORT_URL, status=422, json={"errors": {"invoices": "are invalid"}})
    rsps.post(IMPORT_URL, status=201, json={"invoices": [answered(0)]})
    rsps.post(IMPORT_URL, status=422, json={"errors": {"currency": "Currency is invalid"}})
    results = dest.import_invoices("ext_customer", [first(), second()])
    assert results[0].destination_id == answered(0)["uuid"]
    assert results[1].error == "currency: Currency is invalid"


# -- replace ------------------------------------------------------------------------------
def held_invoice(rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    """ChartMogul holds the recording's first invoice; its plan is known by uuid only."""
    select(rsps, dest, DS)
    find_invoice(rsps, "INV_to_be_retrieved", answered(0))
    customer = find(INVOICES, "POST", "/customers").response
    lookup(rsps, "customers", DS, "ext_customer", one_page("entries", customer))
    rsps.get(f"{BASE}/plans/{PLAN}", json=find(INVOICES, "POST", "/plans").response)


def test_replace_unchanged_invoice_sends_nothing(rsps: responses.RequestsMock,
                                                dest: ChartMogulDestination) -> None:
    held_invoice(rsps, dest)
    assert dest.replace_invoice(first()) == answered(0)["uuid"]


def test_replace_changed_lines_deletes_and_imports_again(rsps: responses.RequestsMock,
                                                         dest: ChartMogulDestination) -> None:
    held_invoice(rsps, dest)
    rsps.delete(f"{BASE}/invoices/{answered(0)['uuid']}", status=204)
    fresh = {**answered(0), "uuid": "inv_new"}
    post = rsps.post(IMPORT_URL, status=201, json={"invoices": [fresh]})
    assert dest.replace_invoice(recorded_invoice(0, amount=4600)) == "inv_new"
    assert sent(post.calls[0])["invoices"][0]["line_items"][0]["amount_in_cents"] == 4600


def test_replace_with_only_new_transactions_adds_them(rsps: responses.RequestsMock,
                                                      dest: ChartMogulDestination) -> None:
    recording = "ruby-Transactions_Payment-API_Interactions-correctly_interracts_with_the_API.yml"
    ds = find(recording, "POST", "/data_sources").response["uuid"]
    customer = find(recording, "POST", "/customers").response
    held = {**find(recording, "POST", "/invoices").response["invoices"][0],
            "customer_uuid": customer["uuid"]}
    added = find(recording, "POST", "/transactions")
    select(rsps, dest, ds)
    lookup(rsps, "invoices", ds, "test_tr_inv_ext_id", one_page("invoices", held))
    lookup(rsps, "customers", ds, "test_cus_ext_id", one_page("entries", customer))
    post = rsps.post(f"{BASE}/import/invoices/{held['uuid']}/transactions", status=201,
                     json=added.response)
    ours = OutInvoice("test_tr_inv_ext_id", "test_cus_ext_id", utc(2016, 1, 1, 12), "USD",
                      (OutLine(kind="one_time", amount=1000),),
                      (OutTransaction("payment", "successful", utc(2016, 1, 1, 12), 500,
                                      "test_tr_ext_id"),))
    assert dest.replace_invoice(ours) == held["uuid"]
    body = sent(post.calls[0])
    for key in ("type", "result", "external_id", "amount_in_cents"):
        assert body[key] == added.request[key]
    assert parse_time(body["date"]) == parse_time(added.request["date"])


def test_replace_resumes_after_a_delete_that_was_not_followed_by_import(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    prepare(rsps, dest)
    find_invoice(rsps, "INV_to_be_retrieved")
    rsps.post(IMPORT_URL, status=201, json={"invoices": [answered(0)]})
    assert dest.replace_invoice(first()) == answered(0)["uuid"]


# -- void and cancellation dates ----------------------------------------------------------
def test_void_uses_the_status_endpoint_by_external_id(rsps: responses.RequestsMock,
                                                      dest: ChartMogulDestination) -> None:
    select(rsps, dest, DS)
    put = rsps.put(f"{BASE}/data_sources/{DS}/invoices/INV%2F2024%201/status",
                   json={"message": "Invoice updated"})
    dest.void_invoice("INV/2024 1")
    assert sent(put.calls[0]) == {"status": "voided"}


def test_void_of_an_already_voided_invoice_is_success(rsps: responses.RequestsMock,
                                                      dest: ChartMogulDestination) -> None:
    select(rsps, dest, DS)
    rsps.put(f"{BASE}/data_sources/{DS}/invoices/INV_to_be_retrieved/status", status=422,
             json={"message": "Status transition is not allowed"})
    find_invoice(rsps, "INV_to_be_retrieved", {**answered(0), "status": "voided"})
    dest.void_invoice("INV_to_be_retrieved")


CANCEL = ("ruby-Subscription-_update_cancellation_dates-when_array_includes_valid_entries-"
          "is_setting_the_cancellation_dates_of_the_subscription.yml")
REACTIVATE = ("ruby-Subscription-_update_cancellation_dates-when_array_is_empty-"
              "makes_an_API_call_and_removes_the_cancellation_dates.yml")


@pytest.mark.parametrize(("recording", "dates"), [
    (CANCEL, [utc(1999, 12, 31, 22)]),
    (REACTIVATE, []),
])
def test_cancellation_dates_replace_the_subscriptions_list(
        rsps: responses.RequestsMock, dest: ChartMogulDestination, recording: str,
        dates: list[datetime]) -> None:
    customers = find(recording, "GET", "/customers").response
    ds = customers["entries"][0]["data_source_uuid"]
    subs = find(recording, "GET", "/subscriptions")
    patch = find(recording, "PATCH", "/import/subscriptions/")
    select(rsps, dest, ds)
    lookup(rsps, "customers", ds, "test_cus_ext_id", customers)
    rsps.get(subs.url, json=subs.response, match=[matchers.query_param_matcher({"per_page": 200})])
    call = rsps.patch(patch.url, json=patch.response, status=202)
    dest.set_cancellation_dates("test_cus_ext_id", "test_cus_sub_ext_id", dates)
    ours = sent(call.calls[0])["cancellation_dates"]
    assert [parse_time(d) for d in ours] == [parse_time(d) for d in
                                              patch.request["cancellation_dates"]]


def test_cancellation_of_an_unknown_subscription_is_a_bad_record(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    customers = find(CANCEL, "GET", "/customers").response
    ds = customers["entries"][0]["data_source_uuid"]
    subs = find(CANCEL, "GET", "/subscriptions")
    select(rsps, dest, ds)
    lookup(rsps, "customers", ds, "test_cus_ext_id", customers)
    rsps.get(subs.url, json=subs.response)
    with pytest.raises(BadRecordError, match="'nope' of customer 'test_cus_ext_id'.*not found"):
        dest.set_cancellation_dates("test_cus_ext_id", "nope", [])
