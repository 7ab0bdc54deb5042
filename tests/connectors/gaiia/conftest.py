"""Shared fixtures of the gaiia tests: the JSON data set, lookups by name, a connector."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy
from saasync_connectors.gaiia.connector import GaiiaConnector
from tests.connectors.gaiia.fake_api import API_KEY, FakeGaiia, load_dataset

Node = dict[str, Any]
_DATA = load_dataset()


class Data:
    """The data set, looked up the way a person reads it: by account name and month."""

    def __init__(self) -> None:
        self.raw: dict[str, list[Node]] = copy.deepcopy(_DATA)

    def account(self, name: str) -> Node:
        return next(a for a in self.raw["accounts"] if a["displayName"] == name)

    def product(self, name: str) -> Node:
        return next(p for p in self.raw["products"] if p["name"] == name)

    def subscription(self, account: str, product: str) -> Node:
        owner = self.account(account)["id"] if account else None
        return next(s for s in self.raw["billingSubscriptions"]
                    if (owner is None or s["entity"]["id"] == owner)
                    and s["productVersion"]["product"]["name"] == product)

    def invoice(self, account: str, month: int, status: str | None = None) -> Node:
        owner = self.account(account)["id"]
        return next(i for i in self.raw["invoices"] if i["entity"]["id"] == owner
                    and int(i["createdAt"][5:7]) == month and (status is None or i["status"] == status))


@pytest.fixture
def data() -> Data:
    return Data()


def make_connector(base_url: str, **options: Any) -> GaiiaConnector:
    nested = options.pop("nested_page_size", 25)
    retry = options.pop("retry", RetryPolicy(sleep=lambda _s: None))
    return GaiiaConnector({"base_url": base_url, **options},
                          ConnectorContext(env={"GAIIA_API_KEY": API_KEY}),
                          retry=retry, nested_page_size=nested)


@pytest.fixture
def fake() -> Iterator[FakeGaiia]:
    with FakeGaiia() as server:
        yield server
