"""What every handler shares: the store, the account settings, the clock, and look-ups.

Handlers run one at a time under ``lock`` (the dispatcher holds it), so the single SQLite
connection is never used by two threads at once and a handler sees a consistent store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from saasync.destinations.local.rows import (
    DataSourceInfo,
    StoredCustomer,
    StoredInvoice,
    StoredPlan,
    StoredSubscription,
)
from saasync.fx import RateTable, sample_rates
from saasync.server.api_store import ApiStore
from saasync.server.wire import ApiError

_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF", "AUD": "A$",
          "CAD": "C$", "INR": "₹", "BRL": "R$", "SEK": "kr"}  # fmt: skip


def currency_sign(code: str) -> str:
    return _SIGNS.get(code, code)


@dataclass(frozen=True)
class Account:
    """``GET /v1/account``. Metrics are in ``currency``, converted with the context's rates."""

    name: str = "saasync local account"
    currency: str = "USD"
    time_zone: str = "UTC"
    week_start_on: str = "monday"

    @property
    def currency_sign(self) -> str:
        return currency_sign(self.currency)

    def doc(self) -> dict[str, str]:
        return {
            "name": self.name,
            "currency": self.currency,
            "time_zone": self.time_zone,
            "week_start_on": self.week_start_on,
        }


class ApiContext:
    def __init__(
        self,
        store: ApiStore,
        *,
        account: Account | None = None,
        grace: timedelta = timedelta(0),
        clock: Callable[[], datetime] | None = None,
        base_url: str = "",
        rates: RateTable | None = None,
    ) -> None:
        self.store = store
        self.account = account or Account()
        self.rates = rates if rates is not None else sample_rates()  # into account.currency
        self.grace = grace
        self.lock = threading.RLock()
        self.base_url = base_url
        self._clock = clock or store.now

    def now(self) -> datetime:
        return self._clock()

    # -- look-ups that answer 404 the way ChartMogul does --------------------------------

    def data_source(self, uuid: str) -> DataSourceInfo:
        ds = self.store.sources.by_uuid(uuid)
        if ds is None:
            raise ApiError.not_found("Data source")
        return ds

    def customer(self, uuid: str) -> StoredCustomer:
        found = self.store.customers.by_uuid(uuid)
        if found is None:
            raise ApiError.not_found("Customer")
        return found

    def plan(self, uuid: str) -> StoredPlan:
        found = self.store.plans.by_uuid(uuid)
        if found is None:
            raise ApiError.not_found("Plan")
        return found

    def invoice(self, uuid: str) -> StoredInvoice:
        found = self.store.invoices.by_uuid(uuid)
        if found is None:
            raise ApiError.not_found("Invoice")
        return found

    def subscription(self, uuid: str) -> StoredSubscription:
        found = self.store.subscriptions.by_uuid(uuid)
        if found is None:
            raise ApiError.not_found("Subscription")
        return found
