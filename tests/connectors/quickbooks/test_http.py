"""QuickBooks over HTTP (``responses``): query paging, payments lookup, throttling, 5xx,
malformed pages, token refresh, options. Bodies are shaped like QBO's query responses."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import AuthError, ConfigError, FatalError
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync.models import Customer, Invoice, Plan
from saasync.reasons import Reason
from saasync_connectors.quickbooks.connector import (
    PRODUCTION_URL,
    SANDBOX_URL,
    TOKEN_URL,
    QuickBooksConnector,
    configure,
)
from tests.connectors.accounting.fake_server import FIRST_REFRESH, MemoryTokenStore, oauth_env
from tests.connectors.quickbooks.fake_api import REALM, fault, load_company

QUERY_URL = f"{PRODUCTION_URL}/v3/company/{REALM}/query"
OPTIONS: dict[str, Any] = {"realm_id": REALM, "page_size": 2,
                           "item_plans": {"11": "gold-monthly",
                                          "13": {"plan": "silver-annual", "name": "Silver",
                                                 "interval_unit": "year"}},
                           "one_time_items": ["12"]}
COMPANY = load_company()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(sleeps: Sleeps | None = None, store: MemoryTokenStore | None = None,
              **options: Any) -> QuickBooksConnector:
    context = ConnectorContext(env=oauth_env("QUICKBOOKS"), connection="books",
                               tokens=store if store is not None else MemoryTokenStore())
    retry = RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(), random=lambda: 0.0)
    return QuickBooksConnector({**OPTIONS, **options}, context, retry=retry,
                               limiter=UnlimitedLimiter())


def token(rsps: responses.RequestsMock, presented: str = FIRST_REFRESH, n: int = 2) -> None:
    rsps.post(TOKEN_URL, json={"access_token": f"AT{n}", "refresh_token": f"RT{n}",
                               "token_type": "bearer", "expires_in": 3600,
                               "x_refresh_token_expires_in": 8726400},
              match=[matchers.urlencoded_params_matcher({"grant_type": "refresh_token",
                                                         "refresh_token": presented})])


def page(entity: str, items: list[dict[str, Any]], start: int) -> dict[str, Any]:
    response: dict[str, Any] = {"startPosition": start, "maxResults": len(items)}
    if items:
        response[entity] = copy.deepcopy(items)
    return {"QueryResponse": response, "time": "2026-11-21T08:00:00.000-08:00"}


def query(rsps: responses.RequestsMock, statement: str, body: Any = None, *, status: int = 200,
          **kwargs: Any) -> None:
    rsps.get(QUERY_URL, status=status, json=body, match=[matchers.query_param_matcher(
        {"query": statement, "minorversion": "75"})], **kwargs)


def by_id(entity: str, *ids: str) -> list[dict[str, Any]]:
    return [r for r in COMPANY[entity] if r["Id"] in ids]


CUSTOMERS = "select * from Customer where Active IN (true, false) orderby Id"
INVOICES = "select * from Invoice orderby Id"


def paged(statement: str, start: int, size: int = 2) -> str:
    return f"{statement} STARTPOSITION {start} MAXRESULTS {size}"


def test_reads_plans_customers_invoices_page_by_page_with_their_payments(
        rsps: responses.RequestsMock) -> None:
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), page("Customer", by_id("Customer", "1", "2"), 1))
    query(rsps, paged(CUSTOMERS, 3), page("Customer", by_id("Customer", "3"), 3))
    query(rsps, paged(INVOICES, 1), page("Invoice", by_id("Invoice", "130", "131"), 1))
    query(rsps, paged("select * from Payment where Id IN ('201') orderby Id", 1),
          page("Payment", by_id("Payment", "201"), 1))
    query(rsps, paged(INVOICES, 3), page("Invoice", by_id("Invoice", "132", "133"), 3))
    query(rsps, paged("select * from Payment where Id IN ('202') orderby Id", 1),
          page("Payment", by_id("Payment", "202"), 1))
    query(rsps, paged(INVOICES, 5), page("Invoice", [], 5))  # QBO leaves the key out
    items = list(connector().read(ReadWindow()))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Plan", "Plan", "Customer", "Customer", "Customer",
                     "Invoice", "Invoice", "Invoice", "Invoice"]
    invoices = {i.external_id: i for i in items if isinstance(i, Invoice)}
    assert invoices["130"].transactions[0].amount == 10800
    assert [t.type for t in invoices["132"].transactions] == ["payment", "refund"]
    assert {p.external_id for p in items if isinstance(p, Plan)} == {"gold-monthly",
                                                                       "silver-annual"}
    assert all(c.updated_at is not None for c in items if isinstance(c, Customer))


def test_incremental_and_backfill_use_qbos_filters(rsps: responses.RequestsMock) -> None:
    token(rsps)
    since = datetime(2026, 2, 1, 10, 30, 15, 999, tzinfo=UTC)
    query(rsps, paged(CUSTOMERS.replace(
        " orderby", " and MetaData.LastUpdatedTime >= '2026-02-01T10:30:15+00:00' orderby"), 1),
        page("Customer", [], 1))
    query(rsps, paged("select * from Invoice where MetaData.LastUpdatedTime >= "
                      "'2026-02-01T10:30:15+00:00' orderby Id", 1), page("Invoice", [], 1))
    query(rsps, paged(CUSTOMERS, 1), page("Customer", [], 1))
    query(rsps, paged("select * from Invoice where TxnDate >= '2026-02-02' and "
                      "TxnDate < '2026-03-01' orderby Id", 1), page("Invoice", [], 1))
    source = connector()
    assert not [i for i in source.read(ReadWindow("incremental", since))
                if not isinstance(i, Plan)]
    window = ReadWindow("backfill", since, datetime(2026, 3, 1, tzinfo=UTC))
    assert not [i for i in source.read(window) if not isinstance(i, Plan)]


def test_throttle_fault_waits_60_seconds_then_retries(rsps: responses.RequestsMock) -> None:
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), fault("SERVICE", "message=ThrottleExceeded; "
                                           "errorCode=003001; statusCode=429",
                                           "The request limit was reached.", "3001"), status=429)
    query(rsps, paged(CUSTOMERS, 1), page("Customer", by_id("Customer", "4"), 1))
    query(rsps, paged(INVOICES, 1), page("Invoice", [], 1))
    sleeps = Sleeps()
    assert [c.external_id for c in connector(sleeps).read(ReadWindow())
            if isinstance(c, Customer)] == ["4"]
    assert sleeps == [60.0]


def test_a_retry_after_header_wins_over_the_60_second_default(
        rsps: responses.RequestsMock) -> None:
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), {}, status=429, headers={"Retry-After": "5"})
    query(rsps, paged(CUSTOMERS, 1), page("Customer", [], 1))
    query(rsps, paged(INVOICES, 1), page("Invoice", [], 1))
    sleeps = Sleeps()
    list(connector(sleeps).read(ReadWindow()))
    assert sleeps == [5.0]


def test_a_5xx_is_retried(rsps: responses.RequestsMock) -> None:
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), status=503, body=None)
    query(rsps, paged(CUSTOMERS, 1), page("Customer", by_id("Customer", "1"), 1))
    query(rsps, paged(INVOICES, 1), page("Invoice", [], 1))
    sleeps = Sleeps()
    items = list(connector(sleeps).read(ReadWindow()))
    assert sum(isinstance(i, Customer) for i in items) == 1 and len(sleeps) == 1


def test_a_page_that_is_not_json_stops_the_run(rsps: responses.RequestsMock) -> None:
    token(rsps)
    rsps.get(QUERY_URL, body="<html>Intuit maintenance</html>")
    with pytest.raises(FatalError, match="not JSON"):
        list(connector().read(ReadWindow()))


def test_a_page_without_query_response_stops_the_run_with_the_fault(
        rsps: responses.RequestsMock) -> None:
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), fault("ValidationFault", "A business validation error "
                                           "has occurred", "Invalid company", "6000"))
    with pytest.raises(FatalError, match="without QueryResponse: ValidationFault"):
        list(connector().read(ReadWindow()))


def test_a_refused_query_stops_without_retrying(rsps: responses.RequestsMock) -> None:
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), fault("ValidationFault", "Error parsing query",
                                           "QueryParserError: Encountered \"orderby\"", "4000"),
          status=400)
    with pytest.raises(FatalError, match="QueryParserError"):
        list(connector().read(ReadWindow()))


def test_an_underivable_status_is_quarantined(rsps: responses.RequestsMock) -> None:
    broken = copy.deepcopy(by_id("Invoice", "131")[0])
    broken["Balance"] = -5
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), page("Customer", [], 1))
    query(rsps, paged(INVOICES, 1), page("Invoice", [broken], 1))
    items = [i for i in connector().read(ReadWindow()) if isinstance(i, Quarantined)]
    assert len(items) == 1
    assert (items[0].kind, items[0].external_id, items[0].reason, items[0].field) == \
        ("invoice", "131", Reason.UNKNOWN_STATUS, "Balance")
    assert items[0].raw is not None and items[0].raw["issued_at"] == "2026-02-05"


def test_an_expired_access_token_is_refreshed_once_and_the_new_pair_saved(
        rsps: responses.RequestsMock) -> None:
    store = MemoryTokenStore()
    token(rsps)
    query(rsps, paged(CUSTOMERS, 1), fault("AUTHENTICATION", "message=AuthenticationFailed; "
                                           "errorCode=003200; statusCode=401", "Token expired",
                                           "3200"), status=401)
    token(rsps, "RT2", 3)
    query(rsps, paged(CUSTOMERS, 1), page("Customer", [], 1))
    query(rsps, paged(INVOICES, 1), page("Invoice", [], 1))
    list(connector(store=store).read(ReadWindow()))
    assert [s["refresh_token"] for s in store.saves] == ["RT2", "RT3"]
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer AT3"


def test_a_revoked_refresh_token_stops_with_how_to_reauthorize(
        rsps: responses.RequestsMock) -> None:
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError, match="QUICKBOOKS_REFRESH_TOKEN") as caught:
        list(connector().read(ReadWindow()))
    assert "Re-authorize" in str(caught.value)


def test_options_are_checked() -> None:
    assert configure({"realm_id": "1"}).api_url == f"{PRODUCTION_URL}/v3/company/1"
    assert configure({"realm_id": 1, "sandbox": True}).base_url == SANDBOX_URL
    for bad, match in (({"realm_id": "1", "api_key_env": "X"}, "OAuth2"),
                       ({}, "realm_id"), ({"realm_id": "1", "page_size": 1001}, "page_size"),
                       ({"realm_id": "1", "base_url": "ftp://x"}, "base_url"),
                       ({"realm_id": "1", "home_currency": "XXX"}, "home_currency"),
                       ({"realm_id": "1", "day_first": "yes"}, "day_first")):
        with pytest.raises(ConfigError, match=match) as info:
            configure(bad)
        assert str(info.value).startswith("quickbooks connector: invalid configuration\n")
    with pytest.raises(ConfigError, match="item_plans.11"):
        connector(item_plans={"11": {"plan": "x", "interval_unit": "fortnight"}})
    with pytest.raises(ConfigError, match="QUICKBOOKS_CLIENT_ID"):
        QuickBooksConnector(OPTIONS, ConnectorContext(env={}))
