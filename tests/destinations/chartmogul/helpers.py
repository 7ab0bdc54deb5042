"""Build mocked ChartMogul answers from recorded bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import responses
from responses import matchers

from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.settings import DestinationSettings
from tests.destinations.chartmogul.cassettes import find

BASE = "https://api.chartmogul.com/v1"
KEY = "cm_live_TESTKEY_0123456789abcdef"
KEY_ENV = "CHARTMOGUL_API_KEY"
ENV = {KEY_ENV: KEY}

DS_FILE = "ruby-DataSource-API_Interactions-correctly_interracts_with_the_API.yml"
NOT_FOUND_FILE = "ruby-Customer-_find_by_external_id-returns_nil_if_customer_does_not_exist.yml"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that moves only when ``sleep`` is called; sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_destination(clock: FakeClock, **settings: Any) -> ChartMogulDestination:
    return ChartMogulDestination(DestinationSettings(type="chartmogul", **settings), ENV,
                                 sleep=clock.sleep, clock=clock.monotonic)


def data_source_object(uuid: str, name: str) -> dict[str, Any]:
    """The recorded data-source object, renamed (its shape is what matters)."""
    recorded = find(DS_FILE, "POST", "/data_sources").response
    return {**recorded, "uuid": uuid, "name": name}


def select(rsps: responses.RequestsMock, dest: ChartMogulDestination, uuid: str,
           name: str = "saasync") -> None:
    """Make ``dest`` work on an existing data source, through the real look-up."""
    rsps.get(f"{BASE}/data_sources", json={"data_sources": [data_source_object(uuid, name)]},
             match=[matchers.query_param_matcher({"name": name})])
    assert dest.ensure_data_source(name) == uuid


def empty_page(key: str) -> dict[str, Any]:
    """The recorded empty look-up page, under ``key`` (``entries``, ``plans``, ``invoices``)."""
    page = dict(find(NOT_FOUND_FILE, "GET", "/customers").response)
    page[key] = page.pop("entries")
    return page


def one_page(key: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {**empty_page(key), key: list(items)}


def lookup(rsps: responses.RequestsMock, path: str, ds: str, external_id: str,
           body: dict[str, Any], status: int = 200) -> None:
    rsps.get(f"{BASE}/{path}", json=body, status=status, match=[
        matchers.query_param_matcher({"data_source_uuid": ds, "external_id": external_id})])


def sent(call: Any) -> Any:
    """The JSON body of a recorded ``responses`` call."""
    return json.loads(call.request.body)
