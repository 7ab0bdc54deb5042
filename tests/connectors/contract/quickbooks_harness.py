"""Contract harness of the QuickBooks connector: the local fake QBO with a small company.

The company (``tests/connectors/quickbooks/fixtures/company.json``) has four customers
(one inactive, one billing in yen), invoices that are paid, open, voided, paid partly
with a credit memo, and one whose item is not mapped (quarantined ``UNMAPPED_ITEM``).
Tokens rotate through an in-memory token store, as they would through the state store.
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
from saasync_connectors.quickbooks.connector import QuickBooksConnector
from tests.connectors.accounting.fake_server import MemoryTokenStore, oauth_env
from tests.connectors.contract.harness import SourceUnderTest
from tests.connectors.quickbooks.fake_api import FakeQuickBooks, load_company

ITEM_PLANS: dict[str, Any] = {
    "11": {"plan": "gold-monthly", "name": "Gold", "interval_unit": "month"},
    "Silver Plan": {"plan": "silver-annual", "name": "Silver", "interval_unit": "year"},
}
ONE_TIME = ["12"]
LATER = "2026-06-01T00:00:00-07:00"


def options(fake: FakeQuickBooks, **extra: Any) -> dict[str, Any]:
    return {"realm_id": fake.realm, "base_url": fake.base_url, "token_url": fake.token_url,
            "page_size": 3, "item_plans": ITEM_PLANS, "one_time_items": ONE_TIME, **extra}


def no_wait_retry() -> RetryPolicy:
    return RetryPolicy(sleep=lambda _: None, random=lambda: 0.0)


def make_connector(fake: FakeQuickBooks, context: ConnectorContext | None = None,
                   **extra: Any) -> QuickBooksConnector:
    context = context or ConnectorContext(env=oauth_env("QUICKBOOKS"), connection="qbo",
                                          tokens=MemoryTokenStore())
    return QuickBooksConnector(options(fake, **extra), context, retry=no_wait_retry(),
                               limiter=UnlimitedLimiter())


def _issued(invoice: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(invoice["TxnDate"]).replace(tzinfo=UTC)


class Harness:
    name = "quickbooks"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        company = load_company()
        expected = {("customer", c["Id"]) for c in company["Customer"]}
        expected |= {("invoice", i["Id"]) for i in company["Invoice"]}
        expected |= {("plan", "gold-monthly"), ("plan", "silver-annual")}
        issued = sorted(_issued(i) for i in company["Invoice"])
        with FakeQuickBooks(company) as fake:
            yield SourceUnderTest(make_connector(fake), expected, issued[0], issued[-1],
                                  {"fake": fake})

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        """Invoice 131 gets paid (payment 204); invoice 137 is new."""
        fake: FakeQuickBooks = under_test.extra["fake"]  # type: ignore[assignment]
        invoices = fake.data["Invoice"]
        paid = next(i for i in invoices if i["Id"] == "131")
        paid.update(Balance=0, LinkedTxn=[{"TxnId": "204", "TxnType": "Payment"}],
                    MetaData={**paid["MetaData"], "LastUpdatedTime": LATER})
        fake.data["Payment"].append({
            "Id": "204", "SyncToken": "0", "domain": "QBO", "sparse": False,
            "TxnDate": "2026-05-30", "CustomerRef": {"value": "1"},
            "CurrencyRef": {"value": "USD"}, "TotalAmt": 142.2, "UnappliedAmt": 0,
            "Line": [{"Amount": 142.2, "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]}],
            "MetaData": {"CreateTime": LATER, "LastUpdatedTime": LATER}})
        new = copy.deepcopy(next(i for i in invoices if i["Id"] == "136"))
        new.update(Id="137", DocNumber="1044", TxnDate="2026-05-01",
                   MetaData={"CreateTime": LATER, "LastUpdatedTime": LATER})
        invoices.append(new)
        return {("invoice", "131"), ("invoice", "137")}
