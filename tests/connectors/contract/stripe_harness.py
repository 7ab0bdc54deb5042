"""Contract harness of the Stripe connector: the local fake Stripe API with a small account."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync_connectors.stripe.connector import StripeConnector
from tests.connectors.contract.harness import SourceUnderTest
from tests.connectors.stripe.fake_api import KEY, FakeStripe


def make_connector(fake: FakeStripe, tmp_path: Path, **options: object) -> StripeConnector:
    """A connector on ``fake``: its clock is the fake's, retries never really sleep."""
    return StripeConnector(
        {"base_url": fake.base_url, "page_size": 3, **options},
        ConnectorContext(base_dir=tmp_path, env={"STRIPE_API_KEY": KEY}),
        clock=lambda: fake.now_dt, retry=RetryPolicy(sleep=lambda _: None),
        limiter=UnlimitedLimiter(),
    )


def expected_keys(fake: FakeStripe) -> set[tuple[str, str]]:
    keys = {("plan", p["id"]) for p in fake.prices.values() if p["type"] == "recurring"}
    keys |= {("customer", c) for c in fake.customers}
    keys |= {("subscription", s) for s in fake.subscriptions}
    keys |= {("invoice", i) for i in fake.invoices}
    return keys


class Harness:
    name = "stripe"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        with FakeStripe() as fake:
            created = sorted(i["created"] for i in fake.invoices.values())
            yield SourceUnderTest(
                make_connector(fake, tmp_path), expected_keys(fake),
                datetime.fromtimestamp(created[0], tz=UTC),
                datetime.fromtimestamp(created[-1], tz=UTC), {"fake": fake},
            )

    def with_concurrency(self, under_test: SourceUnderTest, tmp_path: Path,
                         concurrency: int) -> StripeConnector:
        """Another connector on the same fake, reading ``concurrency`` windows at once."""
        fake: FakeStripe = under_test.extra["fake"]  # type: ignore[assignment]
        return make_connector(fake, tmp_path, concurrency=concurrency)

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        fake: FakeStripe = under_test.extra["fake"]  # type: ignore[assignment]
        fake.pay_invoice("in_SAcmeJun03", fake.now - 1800)
        new = copy.deepcopy(fake.invoices["in_SAcmeJun03"])
        new.update(id="in_SAcmeJul04", number="ACME-0004", created=fake.now - 1200,
                   status="open", amount_paid=0, amount_remaining=new["amount_due"])
        new["status_transitions"].update(paid_at=None, finalized_at=fake.now - 1100)
        for line in new["lines"]["data"]:
            line.update(id=line["id"].replace("Jun03", "Jul04"), invoice="in_SAcmeJul04")
        fake.add_invoice(new)
        return {("invoice", "in_SAcmeJun03"), ("invoice", "in_SAcmeJul04")}
