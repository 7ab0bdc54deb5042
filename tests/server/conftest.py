"""A server on a free port per test, a session that authenticates, and small builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from saasync.server.app import ServerHandle, make_server

KEY = "test-key"
NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


class Api:
    """``requests`` against the server, with the API key and JSON helpers."""

    def __init__(self, url: str, key: str = KEY) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.auth = (key, "")

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
        response = self.request(method, path, json=body, **kw)
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None

    # -- builders ------------------------------------------------------------------------

    def data_source(self, name: str = "billing") -> str:
        return str(self.ok("POST", "/data_sources", {"name": name}, 201)["uuid"])

    def plan(self, ds: str, external_id: str = "pro", unit: str = "month", count: int = 1) -> str:
        body = {
            "data_source_uuid": ds,
            "external_id": external_id,
            "name": external_id.title(),
            "interval_unit": unit,
            "interval_count": count,
        }
        return str(self.ok("POST", "/plans", body, 201)["uuid"])

    def customer(self, ds: str, external_id: str = "c1", **fields: Any) -> str:
        body = {"data_source_uuid": ds, "external_id": external_id, "name": external_id, **fields}
        return str(self.ok("POST", "/customers", body, 201)["uuid"])

    def invoice(self, customer: str, *invoices: dict[str, Any], status: int = 201) -> Any:
        return self.ok(
            "POST", f"/import/customers/{customer}/invoices", {"invoices": list(invoices)}, status
        )


def monthly_invoice(
    external_id: str,
    plan: str,
    start: str,
    end: str,
    amount: int = 10000,
    sub: str = "sub-1",
    paid: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    line = {
        "type": "subscription",
        "subscription_external_id": sub,
        "plan_uuid": plan,
        "service_period_start": start,
        "service_period_end": end,
        "amount_in_cents": amount,
    }
    transactions = [{"type": "payment", "result": "successful", "date": start}] if paid else []
    return {
        "external_id": external_id,
        "date": start,
        "currency": "USD",
        "line_items": [line],
        "transactions": transactions,
        **extra,
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerHandle]:
    with make_server(
        tmp_path / "serve.db", rate_limit=0, max_concurrency=0, clock=lambda: NOW
    ) as handle:
        yield handle


@pytest.fixture
def api(server: ServerHandle) -> Api:
    return Api(server.url)
