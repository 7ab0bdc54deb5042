"""The connector over real HTTP against the local fake Stripe: incremental reads after
changes, ascending windows, the event horizon, and the fake's fault switches."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from saasync.connector import Quarantined, ReadWindow
from saasync.errors import FatalError
from saasync.models import Customer, Invoice, InvoiceStatus
from tests.connectors.contract.stripe_harness import make_connector
from tests.connectors.stripe.fake_api import FakeStripe


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def by_id(items: list[object]) -> dict[str, object]:
    return {getattr(i, "external_id", None) or "?": i for i in items}


def test_every_request_is_pinned_to_the_api_version(fake: FakeStripe, tmp_path: Path) -> None:
    list(make_connector(fake, tmp_path).read(ReadWindow()))
    assert {version for _, _, version in fake.requests} == {"2025-03-31.basil"}


def test_a_payment_and_a_new_invoice_are_found_by_the_next_incremental_read(
    fake: FakeStripe, tmp_path: Path
) -> None:
    connector = make_connector(fake, tmp_path)
    since = fake.now_dt - timedelta(days=2)
    before = by_id(list(connector.read(ReadWindow("incremental", since))))
    assert "in_SAcmeJun03" not in before  # created and last changed before ``since``
    fake.pay_invoice("in_SAcmeJun03", fake.now - 60)
    after = by_id(list(connector.read(ReadWindow("incremental", since))))
    paid = after["in_SAcmeJun03"]
    assert isinstance(paid, Invoice) and paid.status is InvoiceStatus.PAID
    assert paid.updated_at == fake.now_dt - timedelta(seconds=60)
    assert paid.transactions[0].date == paid.updated_at


def test_new_invoices_are_listed_in_ascending_created_windows(
    fake: FakeStripe, tmp_path: Path
) -> None:
    since = fake.now_dt - timedelta(days=10)
    list(make_connector(fake, tmp_path, window_days=3, concurrency=1).read(ReadWindow("incremental", since)))
    starts = [int(q["created[gte]"][0]) for path, q, _ in fake.requests
              if path == "/v1/invoices" and "starting_after" not in q]
    assert starts == sorted(starts) and len(starts) == 4
    last = [q for path, q, _ in fake.requests if path == "/v1/invoices"][-1]
    assert "created[lt]" not in last  # the newest window is open-ended


def test_records_only_carry_the_time_of_events_stripe_still_keeps(
    fake: FakeStripe, tmp_path: Path
) -> None:
    items = by_id(list(make_connector(fake, tmp_path).read(ReadWindow())))
    april = items["in_SAcmeApr01"]  # its invoice.paid event is older than 30 days
    assert isinstance(april, Invoice) and april.updated_at is None
    beta = items["cus_SBeta0002"]
    assert isinstance(beta, Customer) and beta.updated_at is not None
    odd = items["in_SEchoOdd002"]
    assert isinstance(odd, Quarantined) and odd.raw is not None


def test_throttled_and_failing_answers_are_retried(fake: FakeStripe, tmp_path: Path) -> None:
    whole = list(make_connector(fake, tmp_path).read(ReadWindow()))
    fake.throttle, fake.fail = 2, 2
    again = list(make_connector(fake, tmp_path).read(ReadWindow()))
    assert again == whole
    assert fake.throttle == 0 and fake.fail == 0


def test_throttling_that_stripe_says_not_to_retry_stops_the_run(
    fake: FakeStripe, tmp_path: Path
) -> None:
    fake.throttle, fake.should_retry = 1, "false"
    with pytest.raises(FatalError, match="Stripe-Should-Retry"):
        list(make_connector(fake, tmp_path).read(ReadWindow()))


def test_a_malformed_page_stops_the_run_with_a_clear_message(
    fake: FakeStripe, tmp_path: Path
) -> None:
    fake.malformed = 1
    with pytest.raises(FatalError, match="not JSON"):
        list(make_connector(fake, tmp_path).read(ReadWindow()))


def test_an_invoice_created_during_a_windowed_read_is_read_once(
    fake: FakeStripe, tmp_path: Path
) -> None:
    """The newest window has no upper bound: an invoice created after the read started
    (stamped after the connector's clock) is found by it, once, and by the next run."""
    template = copy.deepcopy(fake.invoices["in_SAcmeJun03"])

    def create_mid_read(path: str, query: dict[str, list[str]]) -> None:
        if path == "/v1/subscriptions" and "in_SMidRead01" not in fake.invoices:
            new = copy.deepcopy(template)
            new.update(id="in_SMidRead01", created=fake.now + 60, number="MID-1")
            for line in new["lines"]["data"]:
                line.update(id=line["id"] + "m", invoice="in_SMidRead01")
            fake.invoices[new["id"]] = new
            fake.add_event("invoice.created", new, fake.now + 60)

    fake.on_request = create_mid_read
    connector = make_connector(fake, tmp_path, concurrency=3)
    first = [i.external_id for i in connector.read(ReadWindow()) if isinstance(i, Invoice)]
    assert len(first) == len(set(first)) and first.count("in_SMidRead01") == 1
    assert first[0] == "in_SMidRead01"  # newest first, as one list gives them
    fake.on_request = None
    since = fake.now_dt - timedelta(hours=1)
    later = [i.external_id for i in connector.read(ReadWindow("incremental", since))
             if isinstance(i, Invoice)]
    assert later.count("in_SMidRead01") == 1
