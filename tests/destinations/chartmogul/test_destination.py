"""ChartMogulDestination: data sources, customers, plans, auth, throttling and secrets.

Answers are recorded ChartMogul bodies; our requests are compared with recorded ones.
"""

from __future__ import annotations

import base64
import json

import pytest
import responses
from responses import matchers

from saasync.destinations.base import Destination
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.destinations.chartmogul.mapping import RecordConflict
from saasync.errors import AuthError, BadRecordError, ConfigError, ConflictError
from saasync.http import HttpClient, SecretRegistry
from saasync.models import Customer, Plan
from saasync.settings import DestinationSettings
from tests.destinations.chartmogul.cassettes import find
from tests.destinations.chartmogul.helpers import (
    BASE,
    DS_FILE,
    KEY,
    KEY_ENV,
    FakeClock,
    empty_page,
    lookup,
    one_page,
    select,
    sent,
)

CUSTOMERS = "go-customers.yaml"
CUS_DS = "ds_8c1713a8-432c-11ee-8ee1-3b3ea70e77a3"
PLANS = "go-plans.yaml"
PLAN_DS = "ds_ce594e00-3c4e-11ee-b766-73e0b574063a"
DUPLICATE_CUSTOMER = {"errors": {
    "external_id": "The external ID for this customer already exists in our system."}}
DUPLICATE_PLAN = {"errors": {
    "external_id": "A plan with this identifier already exists in our system."}}


def first_customer() -> Customer:
    return Customer(external_id="TestImportCustomers_01", name="Test customer",
                    email="abc@123.com")


# -- construction -------------------------------------------------------------------------
def test_is_a_destination_with_chartmogul_limits(dest: ChartMogulDestination) -> None:
    assert isinstance(dest, Destination)
    limiter = dest.client.http.limiter
    assert (limiter.rate, limiter.per, limiter.max_concurrent) == (38, 1.0, 20)  # 5 % under ChartMogul's 40/s by default  # type: ignore[attr-defined]
    assert KEY not in repr(dest) and KEY_ENV in repr(dest)


def test_missing_key_is_a_config_error_naming_the_variable(clock: FakeClock) -> None:
    settings = DestinationSettings(type="chartmogul", api_key_env="CM_KEY_FOR_TEST")
    with pytest.raises(ConfigError, match="CM_KEY_FOR_TEST"):
        ChartMogulDestination(settings, {"CHARTMOGUL_API_KEY": KEY}, sleep=clock.sleep)


def test_basic_auth_sends_the_key_as_username(rsps: responses.RequestsMock,
                                              dest: ChartMogulDestination) -> None:
    token = base64.b64encode(f"{KEY}:".encode()).decode()
    rsps.get(f"{BASE}/data_sources", json={"data_sources": []},
             match=[matchers.header_matcher({"Authorization": f"Basic {token}"})])
    assert dest.find_data_source("nothing") is None


# -- data sources -------------------------------------------------------------------------
def test_ensure_data_source_finds_it_by_name(rsps: responses.RequestsMock,
                                             dest: ChartMogulDestination) -> None:
    listing = find(DS_FILE, "GET", "/data_sources?").response
    rsps.get(f"{BASE}/data_sources", json=listing,
             match=[matchers.query_param_matcher({"name": "Test Data Source"})])
    assert dest.ensure_data_source("Test Data Source") == "ds_d0b59f2a-cf61-11f0-95c7-c7391c16ed34"
    assert dest.data_source_uuid == "ds_d0b59f2a-cf61-11f0-95c7-c7391c16ed34"


def test_ensure_data_source_creates_it_when_missing(rsps: responses.RequestsMock,
                                                   dest: ChartMogulDestination) -> None:
    created = find(DS_FILE, "POST", "/data_sources")
    rsps.get(f"{BASE}/data_sources", json=find(DS_FILE, "GET", "/data_sources", 2).response)
    post = rsps.post(f"{BASE}/data_sources", json=created.response, status=201)
    assert dest.ensure_data_source("Test Data Source") == created.response["uuid"]
    assert sent(post.calls[0]) == created.request


# -- customers ----------------------------------------------------------------------------
def test_customer_created_when_lookup_is_empty(rsps: responses.RequestsMock,
                                              dest: ChartMogulDestination) -> None:
    select(rsps, dest, CUS_DS)
    created = find(CUSTOMERS, "POST", "/customers")
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", empty_page("entries"))
    post = rsps.post(f"{BASE}/customers", json=created.response, status=201)
    assert dest.upsert_customer(first_customer()) == created.response["uuid"]
    assert sent(post.calls[0]) == created.request  # exactly the recorded request
    # The same content again costs no request: the cache knows it.
    assert dest.upsert_customer(first_customer()) == created.response["uuid"]


def test_customer_lookup_keeps_to_our_data_source(rsps: responses.RequestsMock,
                                                  dest: ChartMogulDestination) -> None:
    recorded = find("ruby-Customer-_find_by_external_id-returns_matching_user_if_exists.yml",
                    "GET", "/customers").response
    ds = recorded["entries"][1]["data_source_uuid"]  # the second of two sources answering
    select(rsps, dest, ds)
    lookup(rsps, "customers", ds, "test_cus_ext_id", recorded)
    ours = Customer(external_id="test_cus_ext_id", name="Test Customer",
                    email="test@customer.com", country="DE")
    assert dest.upsert_customer(ours) == recorded["entries"][1]["uuid"]  # equal: no PATCH


def test_customer_update_patches_only_changed_fields(rsps: responses.RequestsMock,
                                                     dest: ChartMogulDestination) -> None:
    select(rsps, dest, CUS_DS)
    held = find(CUSTOMERS, "GET", "/customers/cus_8c593a12").response
    patch = find(CUSTOMERS, "PATCH", "/customers/")
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_02", one_page("entries", held))
    call = rsps.patch(f"{BASE}/customers/{held['uuid']}", json=patch.response)
    ours = Customer(external_id="TestImportCustomers_02", name="Chocolate customer 2",
                    email="abc@123.com")
    assert dest.upsert_customer(ours) == held["uuid"]
    assert sent(call.calls[0]) == patch.request == {"name": "Chocolate customer 2"}


def test_duplicate_customer_read_back_equal_is_success(rsps: responses.RequestsMock,
                                                       dest: ChartMogulDestination) -> None:
    select(rsps, dest, CUS_DS)
    held = find(CUSTOMERS, "POST", "/customers").response
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", empty_page("entries"))
    rsps.post(f"{BASE}/customers", json=DUPLICATE_CUSTOMER, status=422)
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", one_page("entries", held))
    assert dest.upsert_customer(first_customer()) == held["uuid"]


def test_duplicate_customer_read_back_different_is_a_conflict(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    select(rsps, dest, CUS_DS)
    held = find(CUSTOMERS, "POST", "/customers").response
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", empty_page("entries"))
    rsps.post(f"{BASE}/customers", json=DUPLICATE_CUSTOMER, status=422)
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", one_page("entries", held))
    ours = Customer(external_id="TestImportCustomers_01", name="Renamed Ltd",
                    email="abc@123.com", country="NL")
    with pytest.raises(ConflictError) as caught:
        dest.upsert_customer(ours)
    assert isinstance(caught.value, RecordConflict)
    assert caught.value.fields == ("country", "name")
    assert "customer 'TestImportCustomers_01'" in str(caught.value)
    assert "name (ChartMogul: \"Test customer\", ours: \"Renamed Ltd\")" in str(caught.value)


def test_retried_post_whose_first_attempt_landed_ends_as_success(
        rsps: responses.RequestsMock, dest: ChartMogulDestination, clock: FakeClock) -> None:
    select(rsps, dest, CUS_DS)
    held = find(CUSTOMERS, "POST", "/customers").response
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", empty_page("entries"))
    rsps.post(f"{BASE}/customers", body="502 Bad Gateway", status=502,
              content_type="text/plain")
    rsps.post(f"{BASE}/customers", json=DUPLICATE_CUSTOMER, status=422)
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", one_page("entries", held))
    assert dest.upsert_customer(first_customer()) == held["uuid"]
    assert len(clock.sleeps) == 1  # one backoff, taken through the injected sleep


def test_refused_customer_is_a_bad_record_naming_it(rsps: responses.RequestsMock,
                                                   dest: ChartMogulDestination) -> None:
    select(rsps, dest, CUS_DS)
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", empty_page("entries"))
    rsps.post(f"{BASE}/customers", json={"errors": {"country": "Country is invalid"}}, status=422)
    with pytest.raises(BadRecordError, match="customer 'TestImportCustomers_01'.*Country is "
                                             "invalid") as caught:
        dest.upsert_customer(first_customer())
    assert caught.value.status == 422


# -- plans --------------------------------------------------------------------------------
def test_plan_created_with_the_recorded_body(rsps: responses.RequestsMock,
                                             dest: ChartMogulDestination) -> None:
    select(rsps, dest, PLAN_DS)
    created = find(PLANS, "POST", "/plans")
    lookup(rsps, "plans", PLAN_DS, "plan_0001", empty_page("plans"))
    post = rsps.post(f"{BASE}/plans", json=created.response, status=201)
    plan = Plan(external_id="plan_0001", name="Bronze Plan", interval_unit="month")
    assert dest.upsert_plan(plan) == created.response["uuid"]
    assert sent(post.calls[0]) == created.request


def test_plan_patched_when_name_differs(rsps: responses.RequestsMock,
                                       dest: ChartMogulDestination) -> None:
    select(rsps, dest, PLAN_DS)
    held = find(PLANS, "GET", "/plans/pl_").response
    patch = find(PLANS, "PATCH", "/plans/")
    lookup(rsps, "plans", PLAN_DS, "plan_0002", one_page("plans", held))
    call = rsps.patch(f"{BASE}/plans/{held['uuid']}", json=patch.response, status=202)
    plan = Plan(external_id="plan_0002", name="Chocolate Plan 2", interval_unit="day")
    assert dest.upsert_plan(plan) == held["uuid"]
    assert sent(call.calls[0]) == patch.request


def test_duplicate_plan_equal_is_success_and_week_is_seven_days(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    select(rsps, dest, PLAN_DS)
    held = {**find(PLANS, "POST", "/plans").response, "external_id": "weekly",
            "interval_unit": "day", "interval_count": 14}
    lookup(rsps, "plans", PLAN_DS, "weekly", empty_page("plans"))
    post = rsps.post(f"{BASE}/plans", json=DUPLICATE_PLAN, status=422)
    lookup(rsps, "plans", PLAN_DS, "weekly", one_page("plans", held))
    plan = Plan(external_id="weekly", name="Bronze Plan", interval_unit="week", interval_count=2)
    assert dest.upsert_plan(plan) == held["uuid"]
    assert sent(post.calls[0])["interval_unit"] == "day"
    assert sent(post.calls[0])["interval_count"] == 14


def test_duplicate_plan_different_is_a_conflict(rsps: responses.RequestsMock,
                                                dest: ChartMogulDestination) -> None:
    select(rsps, dest, PLAN_DS)
    held = find(PLANS, "POST", "/plans").response
    lookup(rsps, "plans", PLAN_DS, "plan_0001", empty_page("plans"))
    rsps.post(f"{BASE}/plans", json=DUPLICATE_PLAN, status=422)
    lookup(rsps, "plans", PLAN_DS, "plan_0001", one_page("plans", held))
    plan = Plan(external_id="plan_0001", name="Bronze Plan", interval_unit="year")
    with pytest.raises(RecordConflict, match="plan 'plan_0001'.*interval_unit") as caught:
        dest.upsert_plan(plan)
    assert caught.value.fields == ("interval_unit",)


# -- auth, throttling, secrets ------------------------------------------------------------
def test_401_is_an_auth_error_naming_the_variable_never_the_key(
        rsps: responses.RequestsMock, dest: ChartMogulDestination) -> None:
    refused = find("ruby-Ping-pings-and_fails_on_incorrect_credentials.yml", "GET", "/ping")
    rsps.get(f"{BASE}/data_sources", body=refused.response_text, status=refused.status,
             content_type="application/json")
    with pytest.raises(AuthError) as caught:
        dest.ensure_data_source("saasync")
    message = str(caught.value)
    assert KEY_ENV in message and "No valid API key provided" in message
    assert KEY not in message
    assert base64.b64encode(f"{KEY}:".encode()).decode() not in message


def test_429_waits_as_long_as_retry_after_says(rsps: responses.RequestsMock,
                                               dest: ChartMogulDestination,
                                               clock: FakeClock) -> None:
    listing = find(DS_FILE, "GET", "/data_sources?").response
    rsps.get(f"{BASE}/data_sources", status=429, headers={"Retry-After": "3"},
             json={"code": 429, "message": "Your request rate has exceeded our rate limit.",
                   "param": None})
    rsps.get(f"{BASE}/data_sources", json=listing)
    assert dest.ensure_data_source("Test Data Source") == listing["data_sources"][0]["uuid"]
    assert clock.sleeps == [3.0]


def test_a_key_echoed_by_the_server_is_masked(rsps: responses.RequestsMock,
                                              dest: ChartMogulDestination) -> None:
    select(rsps, dest, CUS_DS)
    lookup(rsps, "customers", CUS_DS, "TestImportCustomers_01", empty_page("entries"))
    rsps.post(f"{BASE}/customers", status=400, body=json.dumps(
        {"code": 400, "message": f"bad request for key {KEY}", "param": None}))
    with pytest.raises(BadRecordError) as caught:
        dest.upsert_customer(first_customer())
    assert KEY not in str(caught.value) and KEY not in json.dumps(caught.value.body)


def test_an_injected_client_gets_the_key_registered_as_a_secret(clock: FakeClock) -> None:
    http = HttpClient(BASE, secrets=SecretRegistry())
    settings = DestinationSettings(type="chartmogul")
    with ChartMogulDestination(settings, {KEY_ENV: KEY}, http=http, sleep=clock.sleep) as dest:
        assert dest.client.http is http
        assert http.secrets.mask(f"key={KEY}") == "key=***"
