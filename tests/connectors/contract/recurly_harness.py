"""Contract harness of the Recurly connector: the fake v3 API serving the fixture site."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy
from saasync_connectors.recurly.connector import RecurlyConnector
from tests.connectors.contract.harness import SourceUnderTest
from tests.connectors.recurly.fake_api import KEY, FakeRecurly, load_site

LATER = "2030-01-01T00:00:00Z"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def connector_on(fake: FakeRecurly, tmp_path: Path, **options: object) -> RecurlyConnector:
    """A connector on the fake whose retries never really sleep."""
    return RecurlyConnector(
        {"base_url": fake.base_url, "api_key_env": "RECURLY_TEST_KEY", "page_size": 3,
         **options},
        ConnectorContext(base_dir=tmp_path, env={"RECURLY_TEST_KEY": KEY}),
        retry=RetryPolicy(sleep=lambda _: None),
    )


class Harness:
    name = "recurly"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        site = load_site()
        charges = [i for i in site["invoices"] if i["type"] != "credit"]
        expected = {("plan", p["id"]) for p in site["plans"]}
        expected |= {("customer", a["id"]) for a in site["accounts"]}
        expected |= {("subscription", s["id"]) for s in site["subscriptions"]}
        expected |= {("invoice", i["id"]) for i in charges}
        issued = sorted(_when(i["created_at"]) for i in charges)
        with FakeRecurly(site, embedded_line_items=1) as fake:
            connector = connector_on(fake, tmp_path)
            yield SourceUnderTest(connector, expected, issued[0], issued[-1], {"fake": fake})

    def with_concurrency(self, under_test: SourceUnderTest, tmp_path: Path,
                         concurrency: int) -> RecurlyConnector:
        """Another connector on the same fake, reading ``concurrency`` windows at once."""
        fake: FakeRecurly = under_test.extra["fake"]  # type: ignore[assignment]
        return connector_on(fake, tmp_path, concurrency=concurrency)

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        """The past-due EUR invoice gets paid; a new invoice is issued for it."""
        fake: FakeRecurly = under_test.extra["fake"]  # type: ignore[assignment]
        paid = copy.deepcopy(fake.get("invoices", "i1inv00001004"))
        paid.update(state="paid", updated_at=LATER, closed_at=LATER, paid=paid["total"], balance=0.0)
        retry = dict(paid["transactions"][0], id="t1txn00100402", status="success", success=True,
                     created_at=LATER, updated_at=LATER, collected_at=LATER)
        paid["transactions"] = [*paid["transactions"], retry]
        fake.put("invoices", paid)
        new = copy.deepcopy(paid)
        new.update(id="i1inv00001099", number="1099", created_at=LATER, due_at=LATER)
        for index, line in enumerate(new["line_items"]):
            line.update(id=f"l1line0109901{index}", invoice_id="i1inv00001099", invoice_number="1099")
        new["transactions"] = [dict(retry, id="t1txn00109901")]
        fake.put("invoices", new)
        return {("invoice", "i1inv00001004"), ("invoice", "i1inv00001099")}
