"""Metrics endpoints after a small import, and the bulk JSON import with status polling."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from saasync.destinations.local import LocalStore
from saasync.reports.metrics import monthly_series
from saasync.server.app import ServerHandle
from tests.server.conftest import Api, monthly_invoice

MONTHS = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01",
          "2024-07-01"]  # fmt: skip
WINDOW = {"start-date": "2024-01-01", "end-date": "2024-05-31"}


@pytest.fixture
def business(api: Api) -> dict[str, str]:
    """A: 100.00 a month, 150.00 from March (expansion). B: 50.00, cancelled on 1 March
    (churn). C: new in March at 20.00."""
    ds = api.data_source()
    plan = api.plan(ds)
    a, b, c = (api.customer(ds, name) for name in ("A", "B", "C"))
    for i in range(6):
        amount = 10000 if i < 2 else 15000
        api.invoice(a, monthly_invoice(f"A-{i}", plan, MONTHS[i], MONTHS[i + 1], amount))
    for i in range(2):
        api.invoice(b, monthly_invoice(f"B-{i}", plan, MONTHS[i], MONTHS[i + 1], 5000))
    for i in range(2, 6):
        api.invoice(c, monthly_invoice(f"C-{i}", plan, MONTHS[i], MONTHS[i + 1], 2000))
    [sub] = api.ok("GET", f"/import/customers/{b}/subscriptions")["subscriptions"]
    api.ok("PATCH", f"/import/subscriptions/{sub['uuid']}", {"cancelled_at": "2024-03-01"}, 202)
    return {"ds": ds, "a": a, "b": b, "c": c}


def test_mrr_entries_and_movements_follow_the_rules(api: Api, business: dict[str, str],
                                                    server: ServerHandle) -> None:  # fmt: skip
    body = api.ok("GET", "/metrics/mrr", params={**WINDOW, "interval": "month"})
    entries = {e["date"]: e for e in body["entries"]}
    assert list(entries) == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]
    assert [e["mrr"] for e in entries.values()] == [15000, 15000, 17000, 17000, 17000]
    assert entries["2024-01-31"]["mrr-new-business"] == 15000
    march = entries["2024-03-31"]
    assert (march["mrr-expansion"], march["mrr-churn"], march["mrr-new-business"]) == (
        5000,
        -5000,
        2000,
    )
    assert march["percentage-change"] == round(100 * 2000 / 15000, 2)
    assert body["summary"] == {"current": 17000, "previous": 17000, "percentage-change": 0.0}
    # The headline numbers are those of ``saasync metrics`` (reports.metrics) on the same store.
    path = server.store.path
    with LocalStore(path) as store:
        series = monthly_series(store, date(2024, 1, 1), date(2024, 5, 31))
    assert [sum(p.metrics.mrr.values()) for p in series] == [e["mrr"] for e in entries.values()]


def test_all_key_metrics_and_customer_count(api: Api, business: dict[str, str]) -> None:
    count = api.ok("GET", "/metrics/customer-count", params=WINDOW)
    assert [e["customers"] for e in count["entries"]] == [2, 2, 2, 2, 2]
    every = api.ok("GET", "/metrics/all", params=WINDOW)
    jan, _, march = every["entries"][:3]
    assert (jan["mrr"], jan["arr"], jan["arpa"], jan["asp"], jan["customers"]) == (
        15000,
        180000,
        7500,
        7500,
        2,
    )
    assert march["customer-churn-rate"] == 50.0 and march["asp"] == 2000
    assert every["summary"]["current-mrr"] == 17000 and "arpa-percentage-change" in every["summary"]
    arr = api.ok("GET", "/metrics/arr", params=WINDOW)
    assert [e["arr"] for e in arr["entries"]] == [
        12 * e for e in (15000, 15000, 17000, 17000, 17000)
    ]


def test_quarter_and_year_intervals_date_entries_at_their_ends(
    api: Api, business: dict[str, str]
) -> None:
    quarters = api.ok("GET", "/metrics/mrr", params={**WINDOW, "interval": "quarter"})
    assert [(e["date"], e["mrr"]) for e in quarters["entries"]] == [
        ("2024-03-31", 17000),
        ("2024-05-31", 17000),
    ]
    assert quarters["entries"][0]["mrr-new-business"] == 17000  # A and C since the year began
    year = api.ok("GET", "/metrics/customer-count", params={**WINDOW, "interval": "year"})
    assert [e["date"] for e in year["entries"]] == ["2024-05-31"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"end-date": "2024-01-31"}, "start-date"),
        ({**WINDOW, "interval": "day"}, "interval"),
        ({**WINDOW, "geo": "DE"}, "geo"),
        ({"start-date": "2024-02-01", "end-date": "2024-01-01"}, "end-date"),
        ({"start-date": "yesterday", "end-date": "2024-01-01"}, "start-date"),
    ],
)
def test_metrics_refuse_what_they_cannot_answer(
    api: Api, params: dict[str, str], param: str
) -> None:
    assert api.ok("GET", "/metrics/mrr", params=params, status=400)["param"] == param


def _bulk(plan_ext: str = "pro") -> dict[str, Any]:
    return {
        "external_id": "nightly-1",
        "plans": [{"external_id": plan_ext, "name": "Pro", "interval_count": 1,
                   "interval_unit": "month"}],
        "customers": [{"external_id": "acct-1", "name": "One", "email": "one@example.com"},
                      {"external_id": "acct-2", "name": "Two"}],
        "invoices": [{"external_id": "INV-1", "customer_external_id": "acct-1",
                      "date": "2024-06-01", "currency": "USD", "collection_method": "automatic"},
                     {"external_id": "INV-2", "customer_external_id": "acct-2",
                      "date": "2024-06-01", "currency": "EUR"}],
        "line_items": [{"invoice_external_id": "INV-1", "type": "subscription",
                        "subscription_external_id": "s-1", "plan_external_id": plan_ext,
                        "service_period_start": "2024-06-01", "service_period_end": "2024-07-01",
                        "amount_in_cents": 4900},
                       {"invoice_external_id": "INV-2", "type": "subscription",
                        "subscription_external_id": "s-2", "plan_external_id": plan_ext,
                        "service_period_start": "2024-06-01", "service_period_end": "2024-07-01",
                        "amount_in_cents": 2900}],
        "transactions": [{"invoice_external_id": "INV-1", "type": "payment",
                          "result": "successful", "date": "2024-06-01", "external_id": "pay-1"}],
        "subscription_events": [{"customer_external_id": "acct-2", "event_type":
                                 "subscription_cancelled", "subscription_external_id": "s-2",
                                 "event_date": "2024-06-10", "effective_date": "2024-06-10",
                                 "external_id": "ev-1"}],
    }  # fmt: skip


def test_a_bulk_import_is_queued_then_completed_with_every_record(api: Api) -> None:
    ds = api.data_source()
    created = api.ok("POST", f"/data_sources/{ds}/json_imports", _bulk(), 202)
    assert created["status"] == "queued" and created["external_id"] == "nightly-1"
    done = api.ok("GET", f"/data_sources/{ds}/json_imports/{created['id']}")
    assert done["status"] == "completed", done
    details = done["status_details"]
    assert details["plans"]["status"] == "imported"
    assert {k: v["status"] for k, v in details["acct-1"].items()} == {
        "customers": "imported",
        "invoices": "imported",
        "line_items": "imported",
        "transactions": "imported",
    }
    customers = {c["external_id"]: c for c in api.ok("GET", "/customers")["entries"]}
    assert (customers["acct-1"]["status"], customers["acct-1"]["mrr"]) == ("Active", 4900)
    assert customers["acct-2"]["status"] == "Cancelled"


def test_a_repeated_bulk_import_reports_each_duplicate(api: Api) -> None:
    ds = api.data_source()
    api.ok("POST", f"/data_sources/{ds}/json_imports", _bulk(), 202)
    body = _bulk()
    body["line_items"].append({"invoice_external_id": "INV-404", "type": "one_time",
                               "amount_in_cents": 1})  # fmt: skip
    again = api.ok("POST", f"/data_sources/{ds}/json_imports", body, 202)
    done = api.ok("GET", f"/data_sources/{ds}/json_imports/{again['id']}")
    assert done["status"] == "completed_with_errors"  # the cancellation is idempotent
    details = done["status_details"]
    assert details["plans"]["errors"][0]["errors"] == {
        "external_id": "A plan with this identifier already exists in our system."
    }
    invoice_errors = details["acct-1"]["invoices"]["errors"]
    assert invoice_errors == [
        {
            "external_id": "INV-1",
            "errors": {
                "external_id": "The external ID for this invoice already exists in our system."
            },
        }
    ]
    assert details["acct-1"]["line_items"]["status"] == "failed"
    assert details["_unmatched"]["line_items"]["failed"] == 1
    api.ok("GET", f"/data_sources/{ds}/json_imports/nope", status=404)
    api.ok("POST", "/data_sources/ds_nope/json_imports", _bulk(), 404)
    assert api.ok("POST", f"/data_sources/{ds}/json_imports", {"plans": {}}, 422) == {
        "errors": {"plans": "must be a list"}
    }
