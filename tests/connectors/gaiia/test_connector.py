"""The gaiia connector over HTTP (``responses``): options, paging, throttling, errors, windows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import AuthError, ConfigError, FatalError
from saasync.http import OutcomeKind, RetryPolicy
from saasync.models import Customer, Invoice, Plan, SourceSubscription
from saasync.reasons import Reason
from saasync_connectors.gaiia.connector import GaiiaConnector, classify_gaiia
from tests.connectors.gaiia.conftest import Data

URL = "https://api.gaiia.test/api/v1"
KEY = "gaiia-live-key-5d8e1f"
FIXTURES = Path(__file__).with_name("fixtures")
WALL = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
Node = dict[str, Any]


def fixture(name: str) -> Node:
    loaded: Node = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


def connection(root: str, nodes: list[Node], end: str | None = None) -> Node:
    """A root connection page exactly as gaiia sends it."""
    return {"data": {root: {"nodes": nodes, "pageInfo": {"hasNextPage": end is not None,
                                                         "endCursor": end}}}}


def op(name: str, **variables: Any) -> Any:
    return matchers.json_params_matcher({"operationName": name, "variables": variables},
                                        strict_match=False)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def connector(sleeps: Sleeps | None = None, **options: Any) -> GaiiaConnector:
    retry = RetryPolicy(sleep=sleeps or Sleeps(), wall_clock=lambda: WALL, random=lambda: 0.0)
    nested = options.pop("nested_page_size", 25)
    return GaiiaConnector({"base_url": URL, **options},
                          ConnectorContext(env={"GAIIA_API_KEY": KEY}), retry=retry,
                          nested_page_size=nested)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def empty(rsps: responses.RequestsMock, *roots: str) -> None:
    names = {"products": "SaasyncProducts", "accounts": "SaasyncAccounts",
             "billingSubscriptions": "SaasyncBillingSubscriptions", "invoices": "SaasyncInvoices"}
    for root in roots:
        rsps.post(URL, json=connection(root, []), match=[op(names[root])])


# -- options ---------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "message"), [
    ({"api_key": "x"}, r"api_key: unknown key.*\n  known options: api_key_env, base_url"),
    ({"page_size": 251}, "page_size: must be an integer 1..250, got 251"),
    ({"page_size": True}, "page_size: must be an integer 1..250, got True"),
    ({"settle_days": -1}, "settle_days: "),
    ({"base_url": "api.gaiia.com"}, "base_url: must be an absolute"),
    ({"api_key_env": " "}, "api_key_env: "),
])
def test_bad_options_are_config_errors(options: Node, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        GaiiaConnector(options, ConnectorContext(env={"GAIIA_API_KEY": KEY}))
    assert str(info.value).startswith("gaiia connector: invalid configuration\n")


def test_missing_key_names_the_variable_never_a_value() -> None:
    with pytest.raises(ConfigError) as info:
        GaiiaConnector({"api_key_env": "ISP_GAIIA_KEY"}, ConnectorContext(env={"GAIIA_API_KEY": KEY}))
    assert "ISP_GAIIA_KEY" in str(info.value) and KEY not in str(info.value)


# -- paging and order ------------------------------------------------------------------

def test_every_page_in_dependency_order_with_the_key_header(rsps: responses.RequestsMock,
                                                            data: Data) -> None:
    accounts = [data.account(n) for n in ("Maya Thompson", "Luis Ortega", "Priya Raman")]
    rsps.post(URL, json=connection("products", [data.product("Fiber 100"),
                                                data.product("Installation fee")]),
              match=[op("SaasyncProducts", first=2)])
    rsps.post(URL, json=connection("accounts", accounts[:2], end="YXJyYXljb25uZWN0aW9uOjE="),
              match=[op("SaasyncAccounts", first=2)])
    rsps.post(URL, json=connection("accounts", accounts[2:]),
              match=[op("SaasyncAccounts", first=2, after="YXJyYXljb25uZWN0aW9uOjE=")])
    rsps.post(URL, json=connection("billingSubscriptions",
                                   [data.subscription("Maya Thompson", "Fiber 100")]),
              match=[op("SaasyncBillingSubscriptions", first=2)])
    rsps.post(URL, json=connection("invoices", [data.invoice("Maya Thompson", 10)]),
              match=[op("SaasyncInvoices", first=2, nested=25)])
    items = list(connector(page_size=2).read(ReadWindow()))
    assert [type(i) for i in items] == [Plan, Customer, Customer, Customer, SourceSubscription,
                                        Invoice]
    assert all(c.request.headers["X-Gaiia-Api-Key"] == KEY for c in rsps.calls)
    assert "filter" not in json.loads(rsps.calls[-1].request.body or b"{}")["variables"]


def test_nested_debits_and_credits_are_finished_through_the_invoice(
        rsps: responses.RequestsMock, data: Data) -> None:
    full = data.invoice("Hannah Weiss", 10)
    first = json.loads(json.dumps(full))
    for name in ("debits", "credits"):
        first[name] = {"nodes": full[name]["nodes"][:2],
                       "pageInfo": {"hasNextPage": True, "endCursor": f"{name}-1"}}
    empty(rsps, "products", "accounts", "billingSubscriptions")
    rsps.post(URL, json=connection("invoices", [first]), match=[op("SaasyncInvoices", nested=2)])
    for name in ("debits", "credits"):
        rest = {"nodes": full[name]["nodes"][2:], "pageInfo": {"hasNextPage": False,
                                                               "endCursor": f"{name}-2"}}
        rsps.post(URL, json={"data": {"invoice": {name: rest}}},
                  match=[op(f"SaasyncInvoice{name.title()}", id=full["id"], after=f"{name}-1",
                            first=2, nested=2)])
    (invoice,) = connector(nested_page_size=2).read(ReadWindow())
    assert isinstance(invoice, Invoice)
    assert [line.kind for line in invoice.lines] == ["subscription", "subscription", "one_time"]
    assert sum(t.amount or 0 for t in invoice.transactions) == full["total"]


# -- windows ---------------------------------------------------------------------------

def test_incremental_reads_a_settle_window_and_old_open_invoices(
        rsps: responses.RequestsMock, data: Data) -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    old = data.invoice("Maya Thompson", 10)  # paid 2026-10-03: unchanged since
    newer = data.invoice("Maya Thompson", 11, "OPEN")
    still_open = data.invoice("Hannah Weiss", 11) | {"createdAt": "2026-08-01T06:00:00.000Z"}
    rsps.post(URL, json=connection("products", [data.product("Fiber 100")]))
    rsps.post(URL, json=connection("accounts", [data.account("Maya Thompson"),
                                                data.account("Hannah Weiss")]))
    rsps.post(URL, json=connection("billingSubscriptions",
                                   [data.subscription("Maya Thompson", "Fiber 100")]))
    rsps.post(URL, json=connection("invoices", [old, newer]), match=[op(
        "SaasyncInvoices", filter={"createdAt": {"gte": "2026-10-02T00:00:00.000Z"}})])
    rsps.post(URL, json=connection("invoices", [still_open]), match=[op(
        "SaasyncInvoices", filter={"status": {"in": ["OPEN"]},
                                   "createdAt": {"lt": "2026-10-02T00:00:00.000Z"}})])
    items = list(connector(settle_days=30).read(ReadWindow("incremental", since)))
    kept = {(type(i).__name__, i.external_id) for i in items}
    # the product and Maya's subscription did not change since; Hannah was updated 11-12
    assert kept == {("Customer", data.account("Hannah Weiss")["id"]),
                    ("Invoice", newer["id"]), ("Invoice", still_open["id"])}


def test_backfill_reads_invoices_created_in_the_window_and_everything_else(
        rsps: responses.RequestsMock, data: Data) -> None:
    since, until = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    rsps.post(URL, json=connection("products", [data.product("Fiber 100")]))
    rsps.post(URL, json=connection("accounts", [data.account("Maya Thompson")]))
    rsps.post(URL, json=connection("billingSubscriptions", []))
    rsps.post(URL, json=connection("invoices", [data.invoice("Maya Thompson", 9)]), match=[op(
        "SaasyncInvoices", filter={"createdAt": {"gte": "2026-09-01T00:00:00.000Z",
                                                 "lt": "2026-10-01T00:00:00.000Z"}})])
    items = list(connector().read(ReadWindow("backfill", since, until)))
    assert [type(i) for i in items] == [Plan, Customer, Invoice]


def test_unknown_status_is_quarantined_and_the_read_goes_on(rsps: responses.RequestsMock,
                                                            data: Data) -> None:
    odd = data.subscription("Maya Thompson", "Home Voice")
    empty(rsps, "products", "accounts")
    rsps.post(URL, json=connection("billingSubscriptions",
                                   [odd, data.subscription("Maya Thompson", "Fiber 100")]))
    empty(rsps, "invoices")
    items = list(connector().read(ReadWindow()))
    assert isinstance(items[0], Quarantined) and items[0].reason is Reason.UNKNOWN_STATUS
    assert items[0].external_id == odd["id"] and items[0].field == "status"
    assert isinstance(items[1], SourceSubscription)


# -- throttling and failures -----------------------------------------------------------

def test_throttled_answer_waits_until_retry_at(rsps: responses.RequestsMock, data: Data) -> None:
    sleeps = Sleeps()
    rsps.post(URL, json=fixture("rate_limited.json"), status=200)
    rsps.post(URL, json=connection("products", [data.product("Fiber 100")]))
    empty(rsps, "accounts", "billingSubscriptions", "invoices")
    items = list(connector(sleeps).read(ReadWindow()))
    assert sleeps.waits == [4.5] and isinstance(items[0], Plan)
    assert len(rsps.calls) == 5


def test_server_error_is_retried(rsps: responses.RequestsMock, data: Data) -> None:
    sleeps = Sleeps()
    rsps.post(URL, status=502, body="Bad Gateway")
    rsps.post(URL, json=connection("products", [data.product("Fiber 100")]))
    empty(rsps, "accounts", "billingSubscriptions", "invoices")
    items = list(connector(sleeps).read(ReadWindow()))
    assert isinstance(items[0], Plan) and len(sleeps.waits) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"json": {"data": {"products": {"nodes": "Fiber 100"}}}}, "malformed page"),
    ({"json": {"data": None}}, "no 'data' object"),
    ({"body": "<html>maintenance</html>"}, "not JSON"),
    ({"json": fixture("graphql_error.json")},
     'gaiia query SaasyncProducts failed: Cannot query field "billingPeriod"'),
    ({"json": fixture("graphql_error.json"), "status": 400},
     "gaiia query SaasyncProducts was refused \\(HTTP 400\\)"),
])
def test_bad_answers_stop_the_run_clearly(rsps: responses.RequestsMock, kwargs: Node,
                                          message: str) -> None:
    rsps.post(URL, **kwargs)
    with pytest.raises(FatalError, match=message):
        list(connector().read(ReadWindow()))


def test_refused_key_is_an_auth_error_without_the_key(rsps: responses.RequestsMock) -> None:
    rsps.post(URL, json=fixture("unauthorized.json"))
    with pytest.raises(AuthError, match="UNAUTHORIZED") as info:
        list(connector().read(ReadWindow()))
    assert KEY not in str(info.value)


def test_query_costing_more_than_the_bucket_stops(rsps: responses.RequestsMock) -> None:
    body = fixture("rate_limited.json")
    body["errors"][0]["extensions"].update(cost=720, limit=500)
    rsps.post(URL, json=body)
    with pytest.raises(FatalError, match="lower the connection's page_size"):
        list(connector().read(ReadWindow()))


def test_http_429_waits_for_the_retry_at_header() -> None:
    response = requests.Response()
    response.status_code = 429
    response._content = b""
    response.headers["X-Rate-Limit-Retry-At"] = "2024-06-27T19:01:02.000Z"
    outcome = classify_gaiia(response)
    assert outcome.kind is OutcomeKind.RATE_LIMITED
    assert outcome.at == datetime(2024, 6, 27, 19, 1, 2, tzinfo=UTC)
