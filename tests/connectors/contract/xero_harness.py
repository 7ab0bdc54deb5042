"""Contract harness of the Xero connector: the local fake Xero with a small organisation.

The organisation (``tests/connectors/xero/fixtures/organisation.json``) has four customer
contacts (one archived, one billing in yen) and a supplier, two repeating-invoice
templates, sales invoices in every status and tax mode, a credit note applied to one,
a bill (ACCPAY, never read) and an invoice whose item is not mapped (quarantined
``UNMAPPED_ITEM``). Tokens rotate through an in-memory token store.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync_connectors.xero.connector import XeroConnector
from tests.connectors.accounting.fake_server import MemoryTokenStore, oauth_env
from tests.connectors.contract.harness import SourceUnderTest
from tests.connectors.xero.fake_api import FakeXero, load_organisation, net_date, parse_net_date

ITEM_PLANS: dict[str, Any] = {
    "GOLD-M": {"plan": "gold-monthly", "name": "Gold", "interval_unit": "month"},
    "260": {"plan": "hosting-annual", "name": "Managed hosting", "interval_unit": "year"},
}
ONE_TIME = ["SETUP"]
PLANS = {"gold-monthly", "hosting-annual", "SUPPORT@2-week"}
LATER = datetime(2026, 6, 1, tzinfo=UTC)


def options(fake: FakeXero, **extra: Any) -> dict[str, Any]:
    return {"tenant_id": fake.tenant, "base_url": fake.base_url, "token_url": fake.token_url,
            "page_size": 3, "item_plans": ITEM_PLANS, "one_time_items": ONE_TIME, **extra}


def no_wait_retry() -> RetryPolicy:
    return RetryPolicy(sleep=lambda _: None, random=lambda: 0.0, max_retry_after=90.0)


def make_connector(fake: FakeXero, context: ConnectorContext | None = None,
                   **extra: Any) -> XeroConnector:
    context = context or ConnectorContext(env=oauth_env("XERO"), connection="xero",
                                          tokens=MemoryTokenStore())
    return XeroConnector(options(fake, **extra), context, retry=no_wait_retry(),
                         limiter=UnlimitedLimiter())


def sales(organisation: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [i for i in organisation["Invoices"] if i["Type"] == "ACCREC"]


class Harness:
    name = "xero"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        organisation = load_organisation()
        expected = {("customer", c["ContactID"]) for c in organisation["Contacts"]
                    if c["IsCustomer"]}
        expected |= {("invoice", i["InvoiceID"]) for i in sales(organisation)}
        expected |= {("plan", plan) for plan in PLANS}
        issued = sorted(d for i in sales(organisation) if (d := parse_net_date(i["Date"])))
        with FakeXero(organisation) as fake:
            yield SourceUnderTest(make_connector(fake), expected, issued[0], issued[-1],
                                  {"fake": fake})

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        """INV-0001 gets paid; INV-0010 is new."""
        fake: FakeXero = under_test.extra["fake"]  # type: ignore[assignment]
        invoices = fake.data["Invoices"]
        paid = next(i for i in invoices if i["InvoiceNumber"] == "INV-0001")
        paid.update(Status="PAID", AmountDue=0.0, AmountPaid=172.5,
                    UpdatedDateUTC=net_date(LATER), FullyPaidOnDate=net_date(LATER),
                    Payments=[{"PaymentID": "5a1b2c3d-0000-4000-8000-000000000001",
                               "Date": net_date(LATER), "Amount": 172.5, "CurrencyRate": 1.0,
                               "HasAccount": False, "HasValidationErrors": False}])
        new = copy.deepcopy(paid)
        new.update(InvoiceID="0b6b2f7c-1a3e-4c5d-8e9f-00000000a010", InvoiceNumber="INV-0010",
                   Status="AUTHORISED", Payments=[], AmountPaid=0.0, AmountDue=172.5,
                   Date=net_date(datetime(2026, 5, 10, tzinfo=UTC)))
        new.pop("FullyPaidOnDate")
        invoices.append(new)
        return {("invoice", paid["InvoiceID"]), ("invoice", new["InvoiceID"])}
