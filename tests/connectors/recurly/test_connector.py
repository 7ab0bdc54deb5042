"""The connector against recorded-shape Recurly answers (``responses``): options, paging,
incremental and backfill filters, throttling, retries, malformed pages, refunds."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from responses import matchers

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.engine import KIND_OF
from saasync.errors import AuthError, ConfigError, FatalError, QuotaExhaustedError
from saasync.models import Customer, Invoice, Plan, SourceSubscription
from saasync.reasons import Reason
from saasync_connectors.recurly.connector import ACCEPT, RecurlyConnector
from saasync_connectors.recurly.streams import InvoicesStream, PlansStream
from tests.connectors.recurly.fake_api import KEY
from tests.connectors.recurly.support import (
    ENV_VAR,
    NOW,
    Sleeps,
    all_of,
    dumps,
    make_connector,
    obj,
)

BASE = "https://v3.recurly.test"
ASC = {"sort": "updated_at", "order": "asc", "limit": "200"}
AUTH = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


def page(data: list[dict[str, Any]], next_link: str | None = None) -> str:
    return dumps({"object": "list", "has_more": next_link is not None, "next": next_link,
                  "data": data})


def on(rsps: responses.RequestsMock, path: str, params: dict[str, str], body: str,
       status: int = 200, headers: dict[str, str] | None = None) -> None:
    rsps.get(f"{BASE}{path}", body=body, status=status, headers=headers,
             match=[matchers.query_param_matcher(params),
                    matchers.header_matcher({"Accept": ACCEPT, "Authorization": AUTH})])


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def charges() -> list[dict[str, Any]]:
    return [i for i in all_of("invoices") if i["type"] != "credit"]


def credits() -> list[dict[str, Any]]:
    return [i for i in all_of("invoices") if i["type"] == "credit"]


# -- options ------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "named"), [
    ({"regoin": "eu"}, "regoin"),
    ({"page_size": 0}, "page_size"), ({"page_size": 201}, "page_size"),
    ({"page_size": "50"}, "page_size"), ({"page_size": True}, "page_size"),
    ({"requests_per_minute": 0}, "requests_per_minute"),
    ({"concurrency": 0}, "concurrency"), ({"concurrency": 33}, "concurrency"),
    ({"concurrency": False}, "concurrency"),
    ({"base_url": "v3.recurly.com"}, "base_url"), ({"api_key_env": ""}, "api_key_env"),
])
def test_bad_options_are_config_errors_naming_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        RecurlyConnector(options, ConnectorContext(env={"RECURLY_API_KEY": KEY}))


def test_a_missing_key_variable_is_named_and_the_defaults_apply() -> None:
    with pytest.raises(ConfigError, match="RECURLY_API_KEY") as caught:
        RecurlyConnector({}, ConnectorContext(env={"OTHER": KEY}))
    assert KEY not in str(caught.value)
    connector = RecurlyConnector({}, ConnectorContext(env={"RECURLY_API_KEY": KEY}))
    assert connector.settings.base_url == "https://v3.recurly.com"
    assert connector.settings.page_size == 200
    eu = RecurlyConnector({"base_url": "https://v3.eu.recurly.com/"},
                          ConnectorContext(env={"RECURLY_API_KEY": KEY}))
    assert eu.api.client.base_url == "https://v3.eu.recurly.com" and KEY not in repr(eu)


# -- a whole read -------------------------------------------------------------------------

def test_a_full_read_yields_every_record_in_dependency_order(rsps: responses.RequestsMock) -> None:
    on(rsps, "/plans", ASC, page(all_of("plans")))
    on(rsps, "/accounts", ASC, page(all_of("accounts")))
    on(rsps, "/subscriptions", ASC, page(all_of("subscriptions")))
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page(credits()))
    on(rsps, "/invoices", ASC, page(all_of("invoices")))
    items = list(make_connector(BASE).read(ReadWindow()))
    kinds = [i.kind if isinstance(i, Quarantined) else KIND_OF[type(i)] for i in items]
    order = ["plan", "customer", "subscription", "invoice"]
    assert kinds == sorted(kinds, key=order.index)
    assert [kinds.count(k) for k in order] == [4, 5, 7, 11]
    by_id = {getattr(i, "external_id", None): i for i in items}
    assert "i1inv00001008" not in by_id, "a credit invoice is a refund, not an invoice"
    quarantined = [i for i in items if isinstance(i, Quarantined)]
    assert [(q.external_id, q.reason) for q in quarantined] == [
        ("i1inv00001011", Reason.UNKNOWN_STATUS)]
    refunded = by_id["i1inv00001007"]
    assert isinstance(refunded, Invoice)
    assert [t.type for t in refunded.transactions] == ["payment", "refund"]
    assert all(isinstance(i, (Plan, Customer, SourceSubscription, Invoice, Quarantined))
               for i in items)


def test_pages_are_followed_through_next_until_has_more_is_false(rsps: responses.RequestsMock) -> None:
    plans = all_of("plans")
    params = {"sort": "updated_at", "order": "asc", "limit": "2"}
    on(rsps, "/plans", params, page(plans[:2], "/plans?cursor=c2&limit=2&order=asc&sort=updated_at"))
    on(rsps, "/plans", {**params, "cursor": "c2"},
       page(plans[2:3], "/plans?cursor=c3&limit=2&order=asc&sort=updated_at"))
    on(rsps, "/plans", {**params, "cursor": "c3"}, page(plans[3:]))
    connector = make_connector(BASE, page_size=2)
    found = [p.external_id for p in PlansStream().read(connector.api, ReadWindow())]
    assert found == [p["id"] for p in plans]


def test_more_pages_without_a_next_link_stop_the_run(rsps: responses.RequestsMock) -> None:
    body = dumps({"object": "list", "has_more": True, "next": None, "data": all_of("plans")})
    on(rsps, "/plans", ASC, body)
    with pytest.raises(FatalError, match="no token"):
        list(PlansStream().read(make_connector(BASE).api, ReadWindow()))


# -- windows ------------------------------------------------------------------------------

def test_incremental_asks_for_changes_since_in_ascending_update_order(
        rsps: responses.RequestsMock) -> None:
    since = datetime(2024, 2, 1, 12, 30, 15, 123456, tzinfo=UTC)
    changed = {**ASC, "begin_time": "2024-02-01T12:30:15Z"}
    for path in ("/plans", "/accounts", "/subscriptions"):
        on(rsps, path, changed, page([]))
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page(credits()))
    on(rsps, "/invoices", changed, page([obj("invoices", "i1inv00001012")]))
    items = list(make_connector(BASE).read(ReadWindow("incremental", since)))
    assert [i.external_id for i in items] == ["i1inv00001012"]


def test_backfill_reads_invoices_by_creation_and_keeps_until_exclusive(
        rsps: responses.RequestsMock) -> None:
    since, until = datetime(2024, 1, 6, tzinfo=UTC), datetime(2024, 1, 9, 8, tzinfo=UTC)
    for path in ("/plans", "/accounts", "/subscriptions"):
        on(rsps, path, ASC, page([]))
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page(credits()))
    window = {"sort": "created_at", "order": "asc", "limit": "200",
              "begin_time": "2024-01-06T00:00:00Z", "end_time": "2024-01-09T08:00:00Z"}
    inside = [obj("invoices", i) for i in ("i1inv00001003", "i1inv00001004", "i1inv00001007")]
    on(rsps, "/invoices", window, page(inside))  # 1007 was created at `until` exactly
    items = list(make_connector(BASE).read(ReadWindow("backfill", since, until)))
    assert [i.external_id for i in items] == ["i1inv00001003", "i1inv00001004"]


# -- throttling, retries, broken pages ----------------------------------------------------

def test_a_throttled_page_waits_until_the_rate_limit_resets(rsps: responses.RequestsMock) -> None:
    reset = str(int((NOW + timedelta(seconds=7)).timestamp()))
    on(rsps, "/plans", ASC, dumps({"error": {"type": "rate_limited", "message": "slow down"}}),
       status=429, headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": reset})
    on(rsps, "/plans", ASC, page(all_of("plans")))
    sleeps = Sleeps()
    plans = list(PlansStream().read(make_connector(BASE, sleeps).api, ReadWindow()))
    assert len(plans) == 4 and sleeps.waits == [7.0]


def test_a_reset_too_far_away_stops_clearly_instead_of_sleeping(rsps: responses.RequestsMock) -> None:
    reset = str(int((NOW + timedelta(hours=1)).timestamp()))
    on(rsps, "/plans", ASC, "{}", status=429, headers={"X-RateLimit-Reset": reset})
    with pytest.raises(QuotaExhaustedError, match="3600"):
        list(PlansStream().read(make_connector(BASE).api, ReadWindow()))


def test_a_server_error_is_retried(rsps: responses.RequestsMock) -> None:
    on(rsps, "/plans", ASC, dumps({"error": {"type": "internal_server_error"}}), status=503)
    on(rsps, "/plans", ASC, dumps({"error": {"type": "internal_server_error"}}), status=502)
    on(rsps, "/plans", ASC, page(all_of("plans")))
    sleeps = Sleeps()
    assert len(list(PlansStream().read(make_connector(BASE, sleeps).api, ReadWindow()))) == 4
    assert len(sleeps.waits) == 2


def test_a_page_that_is_not_json_stops_the_run_with_a_clear_message(
        rsps: responses.RequestsMock) -> None:
    on(rsps, "/plans", ASC, "<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(FatalError, match=r"GET /plans: Recurly answered 200 with a body that is not JSON"):
        list(PlansStream().read(make_connector(BASE).api, ReadWindow()))


def test_a_page_without_data_stops_the_run(rsps: responses.RequestsMock) -> None:
    on(rsps, "/plans", ASC, dumps({"object": "list", "has_more": False, "next": None}))
    with pytest.raises(FatalError, match=r"GET /plans: malformed list page"):
        list(PlansStream().read(make_connector(BASE).api, ReadWindow()))


def test_refused_credentials_stop_at_once_without_showing_the_key(rsps: responses.RequestsMock) -> None:
    on(rsps, "/plans", ASC, dumps({"error": {"type": "unauthorized", "message": "no"}}), status=401)
    with pytest.raises(AuthError) as caught:
        list(PlansStream().read(make_connector(BASE).api, ReadWindow()))
    assert KEY not in str(caught.value) and AUTH.split()[1] not in str(caught.value)


@pytest.mark.parametrize(("status", "error", "shown"), [
    (406, {"type": "invalid_api_version", "message": "Try one of these"}, "v2021-02-25"),
    (400, {"type": "invalid_api_request", "message": "limit must be between 1 and 200"}, "limit"),
    (404, {"type": "not_found", "message": "Couldn't find resource"}, "base_url"),
])
def test_client_errors_on_a_list_stop_the_run_with_recurlys_message(
        rsps: responses.RequestsMock, status: int, error: dict[str, str], shown: str) -> None:
    on(rsps, "/plans", ASC, dumps({"error": error}), status=status)
    with pytest.raises(FatalError, match=shown):
        list(PlansStream().read(make_connector(BASE).api, ReadWindow()))


# -- invoices: line items and refunds -----------------------------------------------------

def test_an_invoice_with_more_line_items_fetches_them_all(rsps: responses.RequestsMock) -> None:
    full = obj("invoices", "i1inv00001012")
    short = dict(full, line_items=full["line_items"][:1], has_more_line_items=True)
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page([]))
    on(rsps, "/invoices", ASC, page([short]))
    on(rsps, "/invoices/i1inv00001012/line_items", {"limit": "200"}, page(full["line_items"]))
    (invoice,) = InvoicesStream().read(make_connector(BASE).api, ReadWindow())
    assert isinstance(invoice, Invoice) and len(invoice.lines) == 2


def test_a_refund_made_in_the_window_sends_its_unchanged_invoice_again(
        rsps: responses.RequestsMock) -> None:
    since = datetime(2024, 1, 10, tzinfo=UTC)
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page(credits()))
    on(rsps, "/invoices", {**ASC, "begin_time": "2024-01-10T00:00:00Z"}, page([]))
    rsps.get(f"{BASE}/invoices/i1inv00001007", body=dumps(obj("invoices", "i1inv00001007")))
    (invoice,) = InvoicesStream().read(make_connector(BASE).api, ReadWindow("incremental", since))
    assert isinstance(invoice, Invoice) and invoice.external_id == "i1inv00001007"
    assert [(t.type, t.amount) for t in invoice.transactions] == [("payment", 1500), ("refund", 1500)]


def test_a_refund_of_an_invoice_recurly_does_not_return_is_quarantined(
        rsps: responses.RequestsMock) -> None:
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page(credits()))
    on(rsps, "/invoices", {**ASC, "begin_time": "2024-01-10T00:00:00Z"}, page([]))
    rsps.get(f"{BASE}/invoices/i1inv00001007", status=404,
             body=dumps({"error": {"type": "not_found", "message": "Couldn't find Invoice"}}))
    window = ReadWindow("incremental", datetime(2024, 1, 10, tzinfo=UTC))
    (item,) = InvoicesStream().read(make_connector(BASE).api, window)
    assert isinstance(item, Quarantined) and item.reason is Reason.INVALID_RECORD
    assert (item.external_id, item.field) == ("i1inv00001007", "id")
    assert "i1inv00001008" in item.message


def test_an_unreadable_refund_quarantines_the_invoice_it_refunds(
        rsps: responses.RequestsMock) -> None:
    bad = dict(obj("invoices", "i1inv00001008"), currency="???")
    on(rsps, "/invoices", {**ASC, "type": "credit"}, page([bad]))
    on(rsps, "/invoices", ASC, page([obj("invoices", "i1inv00001007"), bad,
                                     obj("invoices", "i1inv00001001")]))
    first, second = InvoicesStream().read(make_connector(BASE).api, ReadWindow())
    assert isinstance(first, Quarantined) and first.external_id == "i1inv00001007"
    assert first.field == "refunds.i1inv00001008.currency" and "i1inv00001008" in first.message
    assert isinstance(second, Invoice) and second.external_id == "i1inv00001001"


def test_env_var_name_is_used_not_a_value() -> None:
    with pytest.raises(ConfigError, match=ENV_VAR):
        RecurlyConnector({"api_key_env": ENV_VAR}, ConnectorContext(env={}))
