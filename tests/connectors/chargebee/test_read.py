"""What the connector asks Chargebee and what it makes of the answers, request by request.

``responses`` serves pages shaped like the documented list responses (``fixtures/pages``)
and checks every query parameter exactly; every registered answer must be asked for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import AuthError, FatalError
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync.models import Customer, Invoice, Plan, SourceSubscription
from saasync.reasons import Reason
from saasync_connectors.chargebee.connector import ChargebeeConnector

BASE = "https://acme-test.chargebee.com/api/v2"
KEY = "test_cbKEY_9f3e0a7d2b1c"
PAGES = Path(__file__).parent / "fixtures" / "pages"
SINCE = datetime(2026, 1, 1, tzinfo=UTC)
AFTER = str(int(SINCE.timestamp()) - 1)
INCREMENTAL = {"include_deleted": "true", "sort_by[asc]": "updated_at", "updated_at[after]": AFTER}
ITEM_PRICES = {"item_type[in]": '["plan","addon"]', "sort_by[asc]": "updated_at"}
WALL = datetime(2026, 3, 1, tzinfo=UTC)


def page(name: str) -> Any:
    return json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connector(sleeps: list[float], **options: Any) -> ChargebeeConnector:
    return ChargebeeConnector(
        {"site": "acme-test", "api_key_env": "CB_KEY", "page_size": 2, **options},
        ConnectorContext(env={"CB_KEY": KEY}),
        retry=RetryPolicy(sleep=sleeps.append, random=lambda: 0.0, wall_clock=lambda: WALL),
        limiter=UnlimitedLimiter(),
    )


def get(api: responses.RequestsMock, path: str, params: dict[str, str], body: Any,
        status: int = 200, headers: dict[str, str] | None = None) -> None:
    kwargs: dict[str, Any] = {"body": body} if isinstance(body, str) else {"json": body}
    api.get(f"{BASE}{path}", status=status, headers=headers,
            match=[matchers.query_param_matcher(params)], **kwargs)


def listed(api: responses.RequestsMock, path: str, params: dict[str, str], *names: str) -> None:
    """Register pages chained by next_offset: page 2 is asked with page 1's token."""
    offset: str | None = None
    for name in names:
        body = page(name)
        get(api, path, {**params, "limit": "2", **({"offset": offset} if offset else {})}, body)
        offset = body.get("next_offset")


def keys(items: list[Any]) -> list[tuple[str, str | None]]:
    return [(i.kind if isinstance(i, Quarantined) else type(i).__name__, i.external_id)
            for i in items]


def test_incremental_read_pages_filters_retries_and_maps(api: responses.RequestsMock,
                                                        sleeps: list[float]) -> None:
    listed(api, "/item_prices", ITEM_PRICES, "item_prices_1", "item_prices_2")
    get(api, "/customers", {**INCREMENTAL, "limit": "2"}, page("customers_1"))
    get(api, "/customers", {**INCREMENTAL, "limit": "2", "offset": page("customers_1")["next_offset"]},
        page("error_503"), status=503)  # a 5xx: retried
    get(api, "/customers", {**INCREMENTAL, "limit": "2", "offset": page("customers_1")["next_offset"]},
        page("customers_2"))
    listed(api, "/subscriptions", INCREMENTAL, "subscriptions_1")
    get(api, "/invoices", {**INCREMENTAL, "limit": "2"}, page("invoices_1"))
    # inv_1002 says a refundable credit note was issued against it: its refunds are looked up
    listed(api, "/credit_notes", {"reference_invoice_id[in]": '["inv_1002"]', "sort_by[asc]": "date"},
           "credit_notes_1")
    second = {**INCREMENTAL, "limit": "2", "offset": page("invoices_1")["next_offset"]}
    get(api, "/invoices", second, page("error_429"), status=429, headers={"Retry-After": "7"})
    get(api, "/invoices", second, page("invoices_2"))
    # credit notes changed since: they point at inv_1002, already read, so nothing more
    listed(api, "/credit_notes", {"include_deleted": "true", "sort_by[asc]": "date",
                                  "updated_at[after]": AFTER}, "credit_notes_1")

    items = list(connector(sleeps).read(ReadWindow("incremental", SINCE)))

    # every plan is read (line proration needs them) but none changed since: none yielded
    assert keys(items) == [
        ("Customer", "cus_1"), ("Customer", "cus_2"), ("Customer", "cus_3"),
        ("SourceSubscription", "sub_1"), ("subscription", "sub_2"),
        ("Invoice", "inv_1001"), ("Invoice", "inv_1002"), ("invoice", "inv_1003"),
    ]
    assert sleeps == [0.0, 7.0]  # the 5xx backed off (jitter 0), the 429 waited Retry-After
    by_id = {i.external_id: i for i in items}
    refunded = by_id["inv_1002"]
    assert isinstance(refunded, Invoice)
    assert [(t.type, t.result, t.amount) for t in refunded.transactions] == [
        ("payment", "successful", 4840), ("refund", "successful", 1100)]
    moved, odd = by_id["sub_2"], by_id["inv_1003"]
    assert isinstance(moved, Quarantined) and moved.reason is Reason.UNKNOWN_STATUS
    assert isinstance(odd, Quarantined) and odd.reason is Reason.UNKNOWN_STATUS
    assert odd.field == "status" and "in_review" in odd.message and odd.raw is not None
    # the raw record, plus what reconcile needs to name the subscription it bills
    assert odd.raw["status"] == "in_review" and odd.raw["line_items"]
    assert odd.raw["customer_external_id"] == "cus_1" and odd.raw["currency"] == "USD"
    assert odd.raw["lines"] == [{"subscription_external_id": "sub_1"}] * 2
    assert isinstance(by_id["cus_2"], Customer) and by_id["cus_2"].country == "DE"
    assert isinstance(by_id["sub_1"], SourceSubscription)
    # Basic auth: the key as username, empty password
    assert all(call.request.headers["Authorization"] == "Basic dGVzdF9jYktFWV85ZjNlMGE3ZDJiMWM6"
               for call in api.calls)


def test_a_429_without_retry_after_waits_out_the_minute(api: responses.RequestsMock,
                                                       sleeps: list[float]) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, page("error_429"), status=429)
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, {"list": []})
    for path in ("/customers", "/subscriptions", "/invoices"):
        get(api, path, {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
            {"list": []})
    assert list(connector(sleeps).read(ReadWindow())) == []
    assert sleeps == [60.0]


def test_a_429_asking_for_too_long_stops_clearly(api: responses.RequestsMock,
                                                 sleeps: list[float]) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, page("error_429"), status=429,
        headers={"Retry-After": "3600"})
    with pytest.raises(FatalError, match="asked to wait 3600s"):
        list(connector(sleeps).read(ReadWindow()))
    assert sleeps == []


def test_server_errors_are_retried_then_the_run_stops(api: responses.RequestsMock,
                                                      sleeps: list[float]) -> None:
    for _ in range(6):
        get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, page("error_503"), status=503)
    with pytest.raises(FatalError, match="gave up after 6 attempts.*internal_temporary_error"):
        list(connector(sleeps).read(ReadWindow()))
    assert len(sleeps) == 5


@pytest.mark.parametrize(("body", "message"), [
    ("<html><body>502 Bad Gateway</body></html>", "not JSON"),
    ({"customers": []}, "malformed page: expected an object with a 'list' array"),
    ({"list": [{"card": {}}]}, r"malformed page: list\[0\] has no 'item_price' object"),
    ([], "malformed page"),
])
def test_a_malformed_page_stops_the_run_with_a_clear_message(
    api: responses.RequestsMock, sleeps: list[float], body: Any, message: str
) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, body)
    with pytest.raises(FatalError, match=message):
        list(connector(sleeps).read(ReadWindow()))


def test_a_refused_call_is_fatal_and_says_why(api: responses.RequestsMock,
                                              sleeps: list[float]) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, page("error_400_restricted"), status=400)
    with pytest.raises(FatalError, match="api_restricted.*product_catalog"):
        list(connector(sleeps).read(ReadWindow()))
    assert sleeps == []


def test_a_refused_key_is_an_auth_error_that_never_shows_the_key(
    api: responses.RequestsMock, sleeps: list[float]
) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, page("error_401"), status=401)
    with pytest.raises(AuthError) as info:
        list(connector(sleeps).read(ReadWindow()))
    assert "api_authentication_failed" in str(info.value) and KEY not in str(info.value)
    assert KEY not in repr(connector(sleeps))


def test_backfill_asks_for_the_issue_dates_and_cuts_exactly(api: responses.RequestsMock,
                                                            sleeps: list[float]) -> None:
    since, until = datetime(2026, 1, 5, 10, tzinfo=UTC), datetime(2026, 2, 5, 10, tzinfo=UTC)
    everything = {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "100"}
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "100"}, {"list": []})
    get(api, "/customers", everything, {"list": []})
    get(api, "/subscriptions", everything, {"list": []})
    body = page("invoices_1")  # inv_1001 issued exactly at since, inv_1002 exactly at until
    body.pop("next_offset")
    body["list"][1]["invoice"]["issued_credit_notes"] = []
    get(api, "/invoices", {"include_deleted": "true", "sort_by[asc]": "date", "limit": "100",
                           "date[between]": f"[{int(since.timestamp()) - 1},{int(until.timestamp())}]"},
        body)
    items = list(connector(sleeps, page_size=100).read(ReadWindow("backfill", since, until)))
    assert keys(items) == [("Invoice", "inv_1001")]


def test_truncated_line_items_are_fetched_in_full(api: responses.RequestsMock,
                                                  sleeps: list[float]) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, {"list": []})
    get(api, "/customers", {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
        {"list": []})
    get(api, "/subscriptions", {"include_deleted": "true", "sort_by[asc]": "updated_at",
                                "limit": "2"}, {"list": []})
    get(api, "/invoices", {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
        page("invoices_truncated"))
    get(api, "/invoices/inv_big", {"line_items_limit": "300", "line_items_offset": '["li_1"]'},
        page("invoice_big_lines"))
    (invoice,) = list(connector(sleeps).read(ReadWindow()))
    assert isinstance(invoice, Invoice)
    assert [line.external_id for line in invoice.lines] == ["li_1", "li_2"]
    assert sum(line.amount for line in invoice.lines) == 4840


def test_a_repeated_line_items_token_stops_rather_than_loops(api: responses.RequestsMock,
                                                             sleeps: list[float]) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, {"list": []})
    for path in ("/customers", "/subscriptions"):
        get(api, path, {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
            {"list": []})
    get(api, "/invoices", {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
        page("invoices_truncated"))
    again = page("invoice_big_lines")
    again["invoice"]["line_items_next_offset"] = '["li_1"]'
    get(api, "/invoices/inv_big", {"line_items_limit": "300", "line_items_offset": '["li_1"]'}, again)
    with pytest.raises(FatalError, match="line_items_next_offset .* repeated"):
        list(connector(sleeps).read(ReadWindow()))


def test_a_refund_on_an_unchanged_invoice_brings_the_invoice_back(
    api: responses.RequestsMock, sleeps: list[float]
) -> None:
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, {"list": []})
    for path in ("/customers", "/subscriptions", "/invoices"):
        get(api, path, {**INCREMENTAL, "limit": "2"}, {"list": []})
    get(api, "/credit_notes", {"include_deleted": "true", "sort_by[asc]": "date",
                               "updated_at[after]": AFTER, "limit": "2"}, page("credit_notes_1"))
    body = page("invoices_1")
    body.pop("next_offset")
    body["list"] = body["list"][1:]
    get(api, "/invoices", {"id[in]": '["inv_1002"]', "include_deleted": "true", "limit": "2"}, body)
    get(api, "/credit_notes", {"reference_invoice_id[in]": '["inv_1002"]', "sort_by[asc]": "date",
                               "limit": "2"}, page("credit_notes_1"))
    (invoice,) = list(connector(sleeps).read(ReadWindow("incremental", SINCE)))
    assert isinstance(invoice, Invoice) and invoice.external_id == "inv_1002"
    assert [t.type for t in invoice.transactions] == ["payment", "refund"]


def test_product_catalog_1_reads_plans_and_recurring_addons(api: responses.RequestsMock,
                                                            sleeps: list[float]) -> None:
    objects = json.loads((PAGES.parent / "objects.json").read_text(encoding="utf-8"))
    one_time = {**objects["addon_v1"], "id": "setup_help", "charge_type": "non_recurring",
                "period_unit": "not_applicable"}
    get(api, "/plans", {"include_deleted": "true", "limit": "2"}, {"list": [{"plan": objects["plan_v1"]}]})
    get(api, "/addons", {"include_deleted": "true", "limit": "2"},
        {"list": [{"addon": objects["addon_v1"]}, {"addon": one_time}]})
    for path in ("/customers", "/subscriptions", "/invoices"):
        get(api, path, {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
            {"list": []})
    items = list(connector(sleeps, product_catalog="1.0").read(ReadWindow()))
    assert keys(items) == [("Plan", "no_trial"), ("Plan", "data_usage")]
    assert all(isinstance(i, Plan) for i in items)


def test_a_record_updated_while_paging_is_yielded_again_only_if_newer(
    api: responses.RequestsMock, sleeps: list[float]
) -> None:
    first, second = page("customers_1"), page("customers_2")
    second["list"] = [first["list"][0], first["list"][1]]
    second["list"][1] = {"customer": {**first["list"][1]["customer"], "updated_at": 1769000000,
                                      "email": "bo@berg.example"}}
    get(api, "/item_prices", {**ITEM_PRICES, "limit": "2"}, {"list": []})
    get(api, "/customers", {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
        first)
    get(api, "/customers", {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2",
                            "offset": first["next_offset"]}, second)
    for path in ("/subscriptions", "/invoices"):
        get(api, path, {"include_deleted": "true", "sort_by[asc]": "updated_at", "limit": "2"},
            {"list": []})
    items = list(connector(sleeps).read(ReadWindow()))
    assert [(c.external_id, c.email) for c in items if isinstance(c, Customer)] == [
        ("cus_1", "ada@example.com"), ("cus_2", "bo@example.de"), ("cus_2", "bo@berg.example")]
