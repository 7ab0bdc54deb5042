"""Contract harness of the gaiia connector: its local fake GraphQL API and data set.

Small pages (4) and nested pages (2) make every connection page, including an invoice's
debits and credits finished through ``invoice(id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy
from saasync.models import to_utc
from saasync_connectors.gaiia.connector import GaiiaConnector
from tests.connectors.contract.harness import SourceUnderTest
from tests.connectors.gaiia.fake_api import API_KEY, FakeGaiia

LATER = "2030-01-01T00:00:00.000Z"


class Harness:
    name = "gaiia"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        with FakeGaiia() as fake:
            connector = GaiiaConnector(
                {"base_url": fake.base_url, "page_size": 4},
                ConnectorContext(base_dir=tmp_path, env={"GAIIA_API_KEY": API_KEY}),
                retry=RetryPolicy(sleep=lambda _s: None), nested_page_size=2,
            )
            data = fake.data
            expected = {("customer", a["id"]) for a in data["accounts"]}
            expected |= {("plan", p["id"]) for p in data["products"] if p["type"] == "DEBIT"}
            expected |= {("subscription", s["id"]) for s in data["billingSubscriptions"]}
            expected |= {("invoice", i["id"]) for i in data["invoices"]}
            issued = sorted(to_utc(i["createdAt"]) for i in data["invoices"])
            yield SourceUnderTest(connector, expected, issued[0], issued[-1], {"fake": fake})

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        fake: FakeGaiia = under_test.extra["fake"]  # type: ignore[assignment]
        target = next(i for i in fake.data["invoices"] if i["status"] == "OPEN")
        fake.pay_invoice(target["id"], LATER)
        new = fake.copy_invoice(target["id"], LATER)
        return {("invoice", target["id"]), ("invoice", new)}
