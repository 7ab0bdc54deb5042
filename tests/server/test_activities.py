"""Activities (``/v1/activities``, ``/v1/customers/{uuid}/activities``) over real HTTP.

They come from the same MRR movements as the metrics endpoints' ``mrr-new-business`` ...
``mrr-reactivation``, so a month's movements are the sum of its activities.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import chartmogul
import pytest

from saasync.server.app import ServerHandle
from tests.server.conftest import Api, monthly_invoice

MONTHS = ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"]
ACTIVITY_KEYS = {
    "activity-arr", "activity-mrr", "activity-mrr-movement", "currency", "date",
    "description", "type", "subscription-external-id", "uuid",
}  # fmt: skip


@pytest.fixture
def history(api: Api) -> dict[str, str]:
    """A: 100.00 from January, 150.00 from March. B: 50.00 from January, cancelled on
    1 March, back on 1 May with invoices from then on (churn, then reactivation)."""
    ds = api.data_source()
    plan = api.plan(ds)
    a, b = api.customer(ds, "A"), api.customer(ds, "B")
    for i in range(5):
        amount = 10000 if i < 2 else 15000
        api.invoice(a, monthly_invoice(f"A-{i}", plan, MONTHS[i], MONTHS[i + 1], amount))
    for i in (0, 1, 4):
        api.invoice(b, monthly_invoice(f"B-{i}", plan, MONTHS[i], MONTHS[i + 1], 5000))
    [sub] = api.ok("GET", f"/import/customers/{b}/subscriptions")["subscriptions"]
    body = {"cancellation_dates": ["2024-03-01"]}
    api.ok("PATCH", f"/import/subscriptions/{sub['uuid']}", body, 202)
    return {"ds": ds, "a": a, "b": b}


def test_customer_activities_route_answers_like_chartmogul(
    api: Api, history: dict[str, str]
) -> None:
    body = api.ok("GET", f"/customers/{history['b']}/activities")
    assert set(body) >= {"entries", "has_more", "cursor"}
    assert body["has_more"] is False
    entries = body["entries"]
    assert all(set(e) >= ACTIVITY_KEYS | {"id", "currency-sign"} for e in entries)
    assert [(e["type"], e["date"][:10], e["activity-mrr-movement"], e["activity-mrr"])
            for e in entries] == [
        ("new_biz", "2024-01-01", 5000, 5000),
        ("churn", "2024-03-01", -5000, 0),
        ("reactivation", "2024-05-01", 5000, 5000),
    ]  # fmt: skip
    assert all(e["activity-arr"] == 12 * e["activity-mrr"] for e in entries)
    assert {e["subscription-external-id"] for e in entries} == {"sub-1"}
    assert entries[0]["currency"] == "USD" and entries[0]["currency-sign"] == "$"
    assert api.ok("GET", "/customers/cus_nope/activities", status=404) == {
        "error": "Customer not found"
    }


def test_churn_then_reactivation_month_by_month(api: Api, history: dict[str, str]) -> None:
    """Churn in March, reactivation in May, each in its own month of ``metrics/mrr``."""
    params = {"start-date": "2024-01-01", "end-date": "2024-05-31", "interval": "month"}
    entries = api.ok("GET", "/metrics/mrr", params=params)["entries"]
    moves = {e["date"]: (e["mrr-churn"], e["mrr-reactivation"], e["mrr-expansion"])
             for e in entries}  # fmt: skip
    assert moves == {
        "2024-01-31": (0, 0, 0),
        "2024-02-29": (0, 0, 0),
        "2024-03-31": (-5000, 0, 5000),
        "2024-04-30": (0, 0, 0),
        "2024-05-31": (0, 5000, 0),
    }
    assert [e["mrr"] for e in entries] == [15000, 15000, 15000, 15000, 20000]


def test_monthly_movements_are_the_sum_of_the_activities(api: Api, history: dict[str, str]) -> None:
    params = {"start-date": "2024-01-01", "end-date": "2024-05-31", "interval": "month"}
    entries = api.ok("GET", "/metrics/mrr", params=params)["entries"]
    activities = api.ok("GET", "/activities")["entries"]
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for act in activities:
        summed[act["date"][:7], act["type"]] += act["activity-mrr-movement"]
    keys = {"new_biz": "mrr-new-business", "expansion": "mrr-expansion",
            "contraction": "mrr-contraction", "churn": "mrr-churn",
            "reactivation": "mrr-reactivation"}  # fmt: skip
    for entry in entries:
        for kind, key in keys.items():
            assert entry[key] == summed.get((entry["date"][:7], kind), 0), (entry, kind)
    first = activities[0]
    assert first["customer-external-id"] in {"A", "B"} and first["customer-uuid"].startswith("cus_")
    assert {"plan-external-id", "customer-name", "subscription-set-external-id"} <= set(first)


def _all_pages(api: Api, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    seen: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        page = api.ok("GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
        seen += page["entries"]
        pages += 1
        if not page["has_more"]:
            return seen, pages
        cursor = page["cursor"]


def test_activities_filter_by_type_and_dates_order_and_page_by_cursor(
    api: Api, history: dict[str, str]
) -> None:
    everything = api.ok("GET", "/activities")["entries"]
    assert [e["date"] for e in everything] == sorted(e["date"] for e in everything)
    assert len(everything) == 5  # A new, B new, A expansion, B churn, B reactivation
    paged, pages = _all_pages(api, "/activities", per_page=2)
    assert pages == 3 and [e["uuid"] for e in paged] == [e["uuid"] for e in everything]
    churn = api.ok("GET", "/activities", params={"type": "churn"})["entries"]
    assert [(e["type"], e["customer-external-id"]) for e in churn] == [("churn", "B")]
    window = api.ok(
        "GET", "/activities", params={"start-date": "2024-02-01", "end-date": "2024-04-30"}
    )["entries"]
    assert sorted(e["type"] for e in window) == ["churn", "expansion"]
    newest_first = api.ok("GET", "/activities", params={"order": "-date"})["entries"]
    assert [e["uuid"] for e in newest_first] == [e["uuid"] for e in reversed(everything)]
    assert api.ok("GET", "/activities", params={"type": "upgrade"}, status=400)["param"] == "type"
    assert api.ok("GET", "/activities", params={"order": "size"}, status=400)["param"] == "order"
    customer, _ = _all_pages(api, f"/customers/{history['a']}/activities", per_page=1)
    assert [e["type"] for e in customer] == ["new_biz", "expansion"]


def test_the_official_python_client_lists_activities(
    server: ServerHandle, history: dict[str, str]
) -> None:
    config = chartmogul.Config("test-key", max_retries=0)
    config.uri = server.url  # the client's base URL, pointed at saasync serve
    mine = chartmogul.CustomerActivity.all(config, uuid=history["b"]).get()
    assert [a.type for a in mine.entries] == ["new_biz", "churn", "reactivation"]
    assert mine.entries[1].activity_mrr_movement == -5000 and mine.has_more is False
    every = chartmogul.Activity.all(config, start_date="2024-03-01", type="churn").get()
    assert [(a.type, a.customer_external_id) for a in every.entries] == [("churn", "B")]
