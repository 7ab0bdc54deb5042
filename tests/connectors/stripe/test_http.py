"""The connector against recorded-shape Stripe pages (``responses``): paging, the created
windows and the event feed, throttling, 5xx, malformed pages, options."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import responses
from responses import matchers

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import AuthError, ConfigError, FatalError
from saasync.http import RetryPolicy, SlidingWindowLimiter, UnlimitedLimiter
from saasync.models import Customer, Invoice, SourceSubscription
from saasync.reasons import Reason
from saasync_connectors.stripe.connector import StripeConnector
from saasync_connectors.stripe.streams import (
    EVENT_TYPES,
    Changes,
    CustomersStream,
    InvoicesStream,
    SubscriptionsStream,
)

BASE = "https://api.stripe.test"
KEY = "sk_test_51HttpTestKey000000000"
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).with_name("fixtures")
ACCOUNT: dict[str, Any] = json.loads((FIXTURES / "fake_account.json").read_text("utf-8"))
EMPTY: dict[str, Any] = {}


def obj(kind: str, ident: str) -> dict[str, Any]:
    found: dict[str, Any] = next(o for o in ACCOUNT[kind] if o["id"] == ident)
    return found


def page(path: str, *items: dict[str, Any], more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": list(items), "has_more": more, "url": path}


def epoch(when: datetime) -> int:
    return int(when.timestamp())


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connector(sleeps: list[float], **options: Any) -> StripeConnector:
    """One list call at a time (``concurrency`` 1): these tests pin the exact calls."""
    return StripeConnector(
        {"base_url": BASE, "page_size": 2, "concurrency": 1, **options},
        ConnectorContext(env={"STRIPE_API_KEY": KEY}), clock=lambda: NOW,
        retry=RetryPolicy(sleep=sleeps.append, random=lambda: 0.5), limiter=UnlimitedLimiter(),
    )


def expect(rsps: responses.RequestsMock, path: str, query: dict[str, Any], body: Any = None, *,
           status: int = 200, headers: dict[str, str] | None = None, text: str | None = None) -> None:
    rsps.add(responses.GET, BASE + path, status=status, headers=headers,
             match=[matchers.query_string_matcher(urlencode(query, doseq=True))],
             **({"body": text} if text is not None else {"json": body}))


def events_query(since: datetime | None = None, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {"types[]": list(EVENT_TYPES), "limit": 2}
    if since is not None:
        query["created[gte]"] = epoch(since)
    return {**query, **extra}


PRICES = {"type": "recurring", "expand[]": "data.product", "limit": 2}


# -- a full read ---------------------------------------------------------------------------

def test_a_full_read_pages_every_list_and_an_invoices_extra_lines(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    delta = obj("invoices", "in_SDeltaUp002")
    embedded = dict(delta, lines=dict(delta["lines"], data=delta["lines"]["data"][:2],
                                      has_more=True))
    beta = obj("invoices", "in_SBetaYear01")
    changed = {"id": "evt_1", "object": "event", "created": epoch(NOW - timedelta(days=2)),
               "type": "customer.updated", "data": {"object": obj("customers", "cus_SBeta0002")}}
    expect(rsps, "/v1/events", events_query(), page("/v1/events", changed))
    expect(rsps, "/v1/prices", PRICES, page("/v1/prices", obj("prices", "price_1QProQuarterly"),
                                            obj("prices", "price_1QProMonthlyUSD"), more=True))
    expect(rsps, "/v1/prices", {**PRICES, "starting_after": "price_1QProMonthlyUSD"},
           page("/v1/prices", obj("prices", "price_1QTeamYearlyUSD")))
    expect(rsps, "/v1/customers", {"limit": 2},
           page("/v1/customers", obj("customers", "cus_SDelta004"),
                obj("customers", "cus_SBeta0002")))
    expect(rsps, "/v1/subscriptions", {"status": "all", "limit": 2},
           page("/v1/subscriptions", obj("subscriptions", "sub_SDeltaQtr4")))
    expect(rsps, "/v1/invoices", {"limit": 2}, page("/v1/invoices", embedded, more=True))
    expect(rsps, f"/v1/invoices/{delta['id']}/lines",
           {"starting_after": "il_SDeltaUp002b", "limit": 2},
           page(f"/v1/invoices/{delta['id']}/lines", *delta["lines"]["data"][2:]))
    expect(rsps, "/v1/invoices", {"limit": 2, "starting_after": delta["id"]},
           page("/v1/invoices", beta))
    expect(rsps, "/v1/credit_notes", {"invoice": beta["id"], "limit": 2},
           page("/v1/credit_notes", ACCOUNT["credit_notes"][0]))

    items = list(connector(sleeps).read(ReadWindow()))

    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Plan"] * 3 + ["Customer"] * 2 + ["SourceSubscription"] + ["Invoice"] * 2
    customers = {i.external_id: i for i in items if isinstance(i, Customer)}
    assert customers["cus_SBeta0002"].updated_at == NOW - timedelta(days=2)
    assert customers["cus_SDelta004"].updated_at is None
    invoices = [i for i in items if isinstance(i, Invoice)]
    assert [len(i.lines) for i in invoices] == [4, 1]
    # the quarterly price is known as recurring, so its prorations are subscription lines
    assert [line.kind for line in invoices[0].lines] == [
        "subscription", "subscription", "one_time", "subscription"]
    assert [t.type for t in invoices[1].transactions] == ["payment", "refund"]
    for call in rsps.calls:
        assert call.request.headers["Stripe-Version"] == "2025-03-31.basil"
        assert call.request.headers["Authorization"] == f"Bearer {KEY}"


def test_the_api_version_is_an_option(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, page("/v1/customers"))
    api = connector(sleeps, api_version="2024-06-20").api
    assert list(api.list("/v1/customers")) == []
    assert rsps.calls[0].request.headers["Stripe-Version"] == "2024-06-20"


# -- incremental: created windows, the event feed, the 30-day horizon ----------------------

def test_incremental_reads_created_windows_then_what_the_events_name(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    since = NOW - timedelta(days=2, hours=12)
    old = obj("invoices", "in_SAcmeMay02")
    paid_at = NOW - timedelta(days=1)
    events = [
        {"id": "evt_3", "object": "event", "created": epoch(paid_at), "type": "invoice.paid",
         "data": {"object": old}},
        {"id": "evt_2", "object": "event", "created": epoch(since) + 5,
         "type": "customer.deleted", "data": {"object": obj("customers", "cus_SEcho0005")}},
        {"id": "evt_1", "object": "event", "created": epoch(since) + 1,
         "type": "customer.subscription.updated",
         "data": {"object": obj("subscriptions", "sub_SDeltaQtr4")}},
    ]
    expect(rsps, "/v1/events", events_query(since), page("/v1/events", *events))
    expect(rsps, "/v1/prices", PRICES, page("/v1/prices"))
    expect(rsps, "/v1/customers", {"created[gte]": epoch(since), "limit": 2}, page("/v1/customers"))
    expect(rsps, "/v1/subscriptions", {"status": "all", "created[gte]": epoch(since), "limit": 2},
           page("/v1/subscriptions"))
    # changed, but gone since: skipped, not an error
    expect(rsps, "/v1/subscriptions/sub_SDeltaQtr4", EMPTY, {"error": {
        "type": "invalid_request_error", "code": "resource_missing",
        "message": "No such subscription: 'sub_SDeltaQtr4'"}}, status=404)
    day = timedelta(days=1)
    for low, high in ((since, since + day), (since + day, since + 2 * day)):
        expect(rsps, "/v1/invoices", {"created[gte]": epoch(low), "created[lt]": epoch(high),
                                      "limit": 2}, page("/v1/invoices"))
    expect(rsps, "/v1/invoices", {"created[gte]": epoch(since + 2 * day), "limit": 2},
           page("/v1/invoices"))
    expect(rsps, f"/v1/invoices/{old['id']}", EMPTY, old)

    items = list(connector(sleeps, window_days=1).read(ReadWindow("incremental", since)))

    assert len(items) == 1 and isinstance(items[0], Invoice)
    assert items[0].external_id == old["id"] and items[0].updated_at == paid_at


def test_a_cursor_older_than_the_event_retention_rescans_everything(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/events", events_query(), page("/v1/events"))
    expect(rsps, "/v1/prices", PRICES, page("/v1/prices"))
    expect(rsps, "/v1/customers", {"limit": 2}, page("/v1/customers"))
    expect(rsps, "/v1/subscriptions", {"status": "all", "limit": 2}, page("/v1/subscriptions"))
    expect(rsps, "/v1/invoices", {"limit": 2}, page("/v1/invoices"))
    since = NOW - timedelta(days=30)
    assert list(connector(sleeps).read(ReadWindow("incremental", since))) == []


def test_backfill_lists_invoices_issued_in_the_window_and_everything_else(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    since, until = NOW - timedelta(days=90), NOW - timedelta(days=60)
    expect(rsps, "/v1/events", events_query(), page("/v1/events"))
    expect(rsps, "/v1/prices", PRICES, page("/v1/prices"))
    expect(rsps, "/v1/customers", {"limit": 2}, page("/v1/customers"))
    expect(rsps, "/v1/subscriptions", {"status": "all", "limit": 2}, page("/v1/subscriptions"))
    expect(rsps, "/v1/invoices", {"created[gte]": epoch(since), "created[lt]": epoch(until),
                                  "limit": 2}, page("/v1/invoices"))
    assert list(connector(sleeps, window_days=60).read(ReadWindow("backfill", since, until))) == []


# -- throttling, errors, malformed pages ---------------------------------------------------

RATE_LIMITED = {"error": {"type": "invalid_request_error", "code": "rate_limit",
                          "message": "Request rate limit exceeded."}}


def test_a_throttled_page_is_retried_after_the_servers_wait(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, RATE_LIMITED, status=429,
           headers={"Retry-After": "2"})
    expect(rsps, "/v1/customers", {"limit": 2}, RATE_LIMITED, status=429)
    expect(rsps, "/v1/customers", {"limit": 2},
           page("/v1/customers", obj("customers", "cus_SAcme0001")))
    found = list(connector(sleeps).api.list("/v1/customers"))
    assert [c["id"] for c in found] == ["cus_SAcme0001"]
    assert sleeps[0] == 2.0 and len(sleeps) == 2


def test_stripe_should_retry_false_is_never_retried(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, RATE_LIMITED, status=429,
           headers={"Stripe-Should-Retry": "false"})
    with pytest.raises(FatalError, match="Stripe-Should-Retry: false"):
        list(connector(sleeps).api.list("/v1/customers"))
    assert sleeps == [] and len(rsps.calls) == 1


def test_stripe_should_retry_true_retries_even_a_4xx(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, {"error": {"type": "invalid_request_error",
           "code": "lock_timeout", "message": "This object cannot be accessed right now"}},
           status=409, headers={"Stripe-Should-Retry": "true"})
    expect(rsps, "/v1/customers", {"limit": 2}, page("/v1/customers"))
    assert list(connector(sleeps).api.list("/v1/customers")) == []
    assert len(sleeps) == 1


def test_a_5xx_is_retried(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, {"error": {"type": "api_error",
           "message": "An unknown error occurred"}}, status=500)
    expect(rsps, "/v1/customers", {"limit": 2}, {"error": {"type": "api_error"}}, status=502)
    expect(rsps, "/v1/customers", {"limit": 2}, page("/v1/customers"))
    assert list(connector(sleeps).api.list("/v1/customers")) == []
    assert len(sleeps) == 2


def test_a_page_that_is_not_json_stops_the_run(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, text="<html>502 Bad Gateway</html>")
    with pytest.raises(FatalError, match="not JSON"):
        list(connector(sleeps).api.list("/v1/customers"))


@pytest.mark.parametrize("body", [
    {"object": "list", "has_more": False},
    {"object": "list", "data": {"id": "cus_1"}, "has_more": False},
    {"object": "list", "data": [], "has_more": "no"},
    {"object": "list", "data": ["cus_1"], "has_more": False},
])
def test_a_page_without_a_data_list_stops_the_run(
    rsps: responses.RequestsMock, sleeps: list[float], body: dict[str, Any]
) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, body)
    with pytest.raises(FatalError, match="malformed list page"):
        list(connector(sleeps).api.list("/v1/customers"))


def test_a_refused_key_is_an_auth_error(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, {"error": {"type": "invalid_request_error",
           "message": "Invalid API Key provided: sk_test_****"}}, status=401)
    with pytest.raises(AuthError) as caught:
        list(connector(sleeps).api.list("/v1/customers"))
    assert KEY not in str(caught.value)


def test_a_refused_list_call_stops_the_run(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    expect(rsps, "/v1/customers", {"limit": 2}, {"error": {"type": "invalid_request_error",
           "code": "parameter_unknown", "message": "Received unknown parameter: x"}}, status=400)
    with pytest.raises(FatalError, match="parameter_unknown"):
        list(connector(sleeps).api.list("/v1/customers"))


# -- quarantine ----------------------------------------------------------------------------

def test_unknown_statuses_are_quarantined_and_the_read_goes_on(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/subscriptions", {"status": "all", "limit": 2}, page(
        "/v1/subscriptions", obj("subscriptions", "sub_SDeltaOdd5"),
        obj("subscriptions", "sub_SAcmePro01")))
    odd = obj("invoices", "in_SEchoOdd002")
    expect(rsps, "/v1/invoices", {"limit": 2}, page("/v1/invoices", odd))
    api = connector(sleeps).api
    subs = list(SubscriptionsStream(api).read([(None, None)], Changes()))
    assert isinstance(subs[0], Quarantined) and isinstance(subs[1], SourceSubscription)
    assert (subs[0].kind, subs[0].external_id, subs[0].reason, subs[0].field) == (
        "subscription", "sub_SDeltaOdd5", Reason.UNKNOWN_STATUS, "status")
    assert "on_vacation" in subs[0].message and subs[0].raw is not None
    invoices = list(InvoicesStream(api, set).read([(None, None)], Changes()))
    assert isinstance(invoices[0], Quarantined)
    assert (invoices[0].kind, invoices[0].external_id, invoices[0].reason) == (
        "invoice", odd["id"], Reason.UNKNOWN_STATUS)


def test_an_object_deleted_since_its_event_is_skipped(
    rsps: responses.RequestsMock, sleeps: list[float]
) -> None:
    expect(rsps, "/v1/customers/cus_SEcho0005", EMPTY,
           {"id": "cus_SEcho0005", "object": "customer", "deleted": True})
    changes = Changes()
    changes.add("customer", "cus_SEcho0005", NOW, deleted=False)
    changes.add("customer", "cus_SDelta004", NOW, deleted=True)  # no call at all
    stream = CustomersStream(connector(sleeps).api)
    assert list(stream.read([], changes, refetch=True)) == []


# -- options -------------------------------------------------------------------------------

def test_a_missing_key_variable_is_named_and_its_value_never_shown() -> None:
    with pytest.raises(ConfigError, match="STRIPE_LIVE_KEY"):
        StripeConnector({"api_key_env": "STRIPE_LIVE_KEY"}, ConnectorContext(env={}))


@pytest.mark.parametrize(("options", "named"), [
    ({"api_key": "sk_live_x"}, "api_key"), ({"page_size": 0}, "page_size"),
    ({"page_size": 101}, "page_size"), ({"page_size": "100"}, "page_size"),
    ({"window_days": 0}, "window_days"), ({"base_url": "api.stripe.com"}, "base_url"),
    ({"api_version": ""}, "api_version"), ({"requests_per_second": 0}, "requests_per_second"),
    ({"concurrency": 0}, "concurrency"), ({"concurrency": 65}, "concurrency"),
    ({"concurrency": "4"}, "concurrency"), ({"concurrency": 2.5}, "concurrency"),
    ({"concurrency": True}, "concurrency"),
])
def test_bad_options_are_config_errors_naming_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        StripeConnector(options, ConnectorContext(env={"STRIPE_API_KEY": KEY}))


def test_defaults() -> None:
    made = StripeConnector({}, ConnectorContext(env={"STRIPE_API_KEY": KEY}))
    assert made.client.base_url == "https://api.stripe.com"
    assert (made.options.page_size, made.options.api_version) == (100, "2025-03-31.basil")
    assert KEY not in repr(made.client)
    trailing = StripeConnector({"base_url": "https://proxy.example/stripe/v1/"},
                               ConnectorContext(env={"STRIPE_API_KEY": KEY}))
    assert trailing.client.base_url == "https://proxy.example/stripe"


@pytest.mark.parametrize(("key", "rate", "readers"), [
    ("sk_live_51abc", 100, 32), ("rk_live_51abc", 100, 32), ("sk_test_51abc", 25, 10),
    ("rk_test_51abc", 25, 10), ("mystery", 25, 10),
])
def test_the_pace_and_readers_follow_the_keys_mode(key: str, rate: int, readers: int) -> None:
    made = StripeConnector({}, ConnectorContext(env={"STRIPE_API_KEY": key}))
    limiter = made.client.limiter
    assert isinstance(limiter, SlidingWindowLimiter)
    assert (limiter.rate, limiter.per, made.concurrency) == (rate, 1.05, readers)
    given = StripeConnector({"requests_per_second": 10, "concurrency": 3},
                            ConnectorContext(env={"STRIPE_API_KEY": key}))
    assert isinstance(given.client.limiter, SlidingWindowLimiter)
    assert (given.client.limiter.rate, given.concurrency) == (10, 3)
