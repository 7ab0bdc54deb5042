"""Xero over HTTP (``responses``): page=N paging, If-Modified-Since, the ACCREC filter,
Retry-After, the daily limit, 5xx, malformed pages, token refresh, options. Bodies are
shaped like Xero's list responses."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import AuthError, ConfigError, FatalError, QuotaExhaustedError
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync.models import Customer, Invoice, Plan
from saasync.reasons import Reason
from saasync_connectors.xero.connector import DEFAULT_BASE_URL, TOKEN_URL, XeroConnector, configure
from tests.connectors.accounting.fake_server import FIRST_REFRESH, MemoryTokenStore, oauth_env
from tests.connectors.xero.fake_api import TENANT, load_organisation

ORG = load_organisation()
OPTIONS: dict[str, Any] = {"tenant_id": TENANT, "page_size": 2,
                           "item_plans": {"GOLD-M": "gold-monthly",
                                          "260": {"plan": "hosting-annual", "name": "Hosting",
                                                  "interval_unit": "year"}},
                           "one_time_items": ["SETUP"]}
CONTACT_PARAMS = {"where": "IsCustomer==true", "includeArchived": "true",
                  "order": "ContactID ASC", "pageSize": "2"}
INVOICE_PARAMS = {"where": 'Type=="ACCREC"', "order": "InvoiceID ASC", "pageSize": "2"}


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connector(sleeps: Sleeps | None = None, store: MemoryTokenStore | None = None,
              **options: Any) -> XeroConnector:
    context = ConnectorContext(env=oauth_env("XERO"), connection="xero",
                               tokens=store if store is not None else MemoryTokenStore())
    retry = RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(), random=lambda: 0.0,
                        max_retry_after=90.0)
    return XeroConnector({**OPTIONS, **options}, context, retry=retry,
                         limiter=UnlimitedLimiter())


def token(rsps: responses.RequestsMock, presented: str = FIRST_REFRESH, n: int = 2) -> None:
    rsps.post(TOKEN_URL, json={"id_token": "not-used", "access_token": f"AT{n}",
                               "expires_in": 1800, "token_type": "Bearer",
                               "refresh_token": f"RT{n}", "scope": "offline_access"},
              match=[matchers.urlencoded_params_matcher({"grant_type": "refresh_token",
                                                         "refresh_token": presented})])


def envelope(key: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"Id": "900c500b-e83c-4ce2-902a-b8ba04751748", "Status": "OK",
            "ProviderName": "saasync tests", "DateTimeUTC": "/Date(1552326816230)/",
            **extra, key: copy.deepcopy(items)}


def get(rsps: responses.RequestsMock, path: str, params: dict[str, Any] | None, body: Any = None,
        *, status: int = 200, headers: dict[str, str] | None = None,
        sent: dict[str, str] | None = None, **kwargs: Any) -> None:
    match = [matchers.header_matcher({"xero-tenant-id": TENANT, **(sent or {})})]
    if params is not None:
        match.append(matchers.query_param_matcher(params))
    rsps.get(f"{DEFAULT_BASE_URL}/{path}", status=status, json=body, headers=headers,
             match=match, **kwargs)


def templates(rsps: responses.RequestsMock, items: list[dict[str, Any]] | None = None) -> None:
    get(rsps, "RepeatingInvoices", {}, envelope("RepeatingInvoices", items or []))


def invoices(*numbers: str) -> list[dict[str, Any]]:
    return [i for i in ORG["Invoices"] if i["InvoiceNumber"] in numbers]


def test_reads_templates_plans_contacts_and_paged_invoices(rsps: responses.RequestsMock) -> None:
    token(rsps)
    templates(rsps, ORG["RepeatingInvoices"])
    contacts = [c for c in ORG["Contacts"] if c["IsCustomer"]][:3]
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", contacts[:2]))
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "2"}, envelope("Contacts", contacts[2:]))
    pagination = {"page": 1, "pageSize": 2, "pageCount": 2, "itemCount": 4}
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"},
        envelope("Invoices", invoices("INV-0001", "INV-0002"), pagination=pagination))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "2"},
        envelope("Invoices", invoices("INV-0003", "INV-0004"),
                 pagination={**pagination, "page": 2}))  # full page, but the last one
    items = list(connector().read(ReadWindow()))
    assert [type(i).__name__ for i in items] == ["Plan"] * 3 + ["Customer"] * 3 + ["Invoice"] * 4
    assert {p.external_id for p in items if isinstance(p, Plan)} == \
        {"gold-monthly", "hosting-annual", "SUPPORT@2-week"}


def test_without_pagination_a_short_page_ends_the_list(rsps: responses.RequestsMock) -> None:
    token(rsps)
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", []))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"},
        envelope("Invoices", invoices("INV-0001", "INV-0002")))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "2"}, envelope("Invoices", []))
    assert sum(isinstance(i, Invoice) for i in connector().read(ReadWindow())) == 2


def test_incremental_sends_if_modified_since_and_backfill_filters_dates(
        rsps: responses.RequestsMock) -> None:
    token(rsps)
    since = datetime(2026, 3, 1, 12, 0, 0, 500, tzinfo=UTC)
    modified = {"If-Modified-Since": "2026-03-01T11:59:59"}
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", []),
        sent=modified)
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"}, envelope("Invoices", []),
        sent=modified)
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", []))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1", "where": 'Type=="ACCREC" AND Date >= '
                           'DateTime(2026, 03, 02) AND Date < DateTime(2026, 04, 01)'},
        envelope("Invoices", []))
    source = connector()
    assert not [i for i in source.read(ReadWindow("incremental", since))
                if not isinstance(i, Plan)]
    window = ReadWindow("backfill", since, datetime(2026, 4, 1, tzinfo=UTC))
    assert not [i for i in source.read(window) if not isinstance(i, Plan)]
    assert "If-Modified-Since" not in rsps.calls[-1].request.headers


def test_bills_are_never_read(rsps: responses.RequestsMock) -> None:
    token(rsps)
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", []))
    bill = [i for i in ORG["Invoices"] if i["Type"] == "ACCPAY"]
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"}, envelope("Invoices", bill))
    assert not [i for i in connector().read(ReadWindow()) if isinstance(i, Invoice)]


def test_minute_limit_waits_retry_after(rsps: responses.RequestsMock) -> None:
    token(rsps)
    get(rsps, "RepeatingInvoices", None, status=429,
        headers={"Retry-After": "12", "X-Rate-Limit-Problem": "minute"})
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", []))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"}, envelope("Invoices", []))
    sleeps = Sleeps()
    list(connector(sleeps).read(ReadWindow()))
    assert sleeps == [12.0]


def test_the_daily_limit_stops_the_run_instead_of_sleeping(rsps: responses.RequestsMock) -> None:
    token(rsps)
    get(rsps, "RepeatingInvoices", None, status=429,
        headers={"Retry-After": "50400", "X-Rate-Limit-Problem": "day"})
    sleeps = Sleeps()
    with pytest.raises(QuotaExhaustedError, match="daily API limit"):
        list(connector(sleeps).read(ReadWindow()))
    assert sleeps == []


def test_a_huge_retry_after_without_the_header_also_stops(rsps: responses.RequestsMock) -> None:
    token(rsps)
    get(rsps, "RepeatingInvoices", None, status=429, headers={"Retry-After": "66975"})
    with pytest.raises(QuotaExhaustedError, match="66975"):
        list(connector().read(ReadWindow()))


def test_a_5xx_is_retried(rsps: responses.RequestsMock) -> None:
    token(rsps)
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, status=503, body=None)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"},
        envelope("Contacts", ORG["Contacts"][:1]))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"}, envelope("Invoices", []))
    sleeps = Sleeps()
    assert sum(isinstance(i, Customer) for i in connector(sleeps).read(ReadWindow())) == 1
    assert len(sleeps) == 1


def test_malformed_pages_stop_the_run(rsps: responses.RequestsMock) -> None:
    token(rsps)
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, {"Status": "OK"})
    with pytest.raises(FatalError, match="without a list under 'Contacts'"):
        list(connector().read(ReadWindow()))
    templates(rsps)
    rsps.get(f"{DEFAULT_BASE_URL}/Contacts", body="<html>down for maintenance</html>")
    with pytest.raises(FatalError, match="not JSON"):
        list(connector().read(ReadWindow()))


def test_an_unknown_status_is_quarantined(rsps: responses.RequestsMock) -> None:
    odd = copy.deepcopy(invoices("INV-0001")[0])
    odd["Status"] = "ARCHIVED"
    token(rsps)
    templates(rsps)
    get(rsps, "Contacts", {**CONTACT_PARAMS, "page": "1"}, envelope("Contacts", []))
    get(rsps, "Invoices", {**INVOICE_PARAMS, "page": "1"}, envelope("Invoices", [odd]))
    [item] = [i for i in connector().read(ReadWindow()) if isinstance(i, Quarantined)]
    assert (item.reason, item.field, item.external_id) == \
        (Reason.UNKNOWN_STATUS, "Status", odd["InvoiceID"])
    assert item.raw is not None and item.raw["issued_at"] == "2026-01-10T00:00:00+00:00"


def test_a_401_refreshes_and_resends_and_a_403_names_the_tenant(
        rsps: responses.RequestsMock) -> None:
    store = MemoryTokenStore()
    token(rsps)
    get(rsps, "RepeatingInvoices", None, status=401, body={"Title": "Unauthorized"})
    token(rsps, "RT2", 3)
    templates(rsps)
    get(rsps, "Contacts", None, status=403, body={"Title": "Forbidden",
                                                  "Detail": "AuthenticationUnsuccessful"})
    with pytest.raises(AuthError, match="tenant_id"):
        list(connector(store=store).read(ReadWindow()))
    assert [s["refresh_token"] for s in store.saves] == ["RT2", "RT3"]


def test_options_are_checked() -> None:
    assert configure({"tenant_id": "t"}).page_size == 100
    assert configure({"tenant_id": "t"}).day_first is True
    for bad, match in (({"tenant_id": "t", "api_key_env": "X"}, "OAuth2"), ({}, "tenant_id"),
                       ({"tenant_id": "t", "page_size": 0}, "page_size"),
                       ({"tenant_id": "t", "base_url": "api.xero.com"}, "base_url")):
        with pytest.raises(ConfigError, match=match) as info:
            configure(bad)
        assert str(info.value).startswith("xero connector: invalid configuration\n")
    with pytest.raises(ConfigError, match="one_time_items"):
        connector(one_time_items="SETUP")
    with pytest.raises(ConfigError, match="both in one_time_items and in item_plans"):
        connector(one_time_items=["GOLD-M"])
    with pytest.raises(ConfigError, match="XERO_REFRESH_TOKEN"):
        XeroConnector(OPTIONS, ConnectorContext(env={"XERO_CLIENT_ID": "a",
                                                     "XERO_CLIENT_SECRET": "b"}))
