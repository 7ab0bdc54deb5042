"""Over real HTTP against the local fake of Chargebee: throttling, server errors, malformed
pages, windows, and a whole engine run into the local analytics store (twice)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import FatalError
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync.models import Invoice
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from saasync_connectors.chargebee.connector import ChargebeeConnector
from tests.connectors.chargebee.fake_api import FakeChargebee
from tests.connectors.contract.chargebee_harness import QUARANTINED, expected_keys, load_site


@pytest.fixture
def fake() -> Iterator[FakeChargebee]:
    with FakeChargebee(load_site(), "test_site_key").running() as server:
        yield server


def connect(fake: FakeChargebee, sleeps: list[float], **options: Any) -> ChargebeeConnector:
    return ChargebeeConnector(
        {"base_url": fake.base_url, "api_key_env": "CB", "page_size": 4, **options},
        ConnectorContext(env={"CB": fake.api_key}),
        retry=RetryPolicy(sleep=sleeps.append, random=lambda: 0.0),
        limiter=UnlimitedLimiter(),
    )


def key(item: Any) -> tuple[str, str]:
    kind = item.kind if isinstance(item, Quarantined) else {
        "sourcesubscription": "subscription"}.get(item.kind, item.kind)
    return kind, item.external_id


def test_the_whole_site_is_read_and_the_bad_records_are_quarantined(fake: FakeChargebee) -> None:
    items = list(connect(fake, []).read(ReadWindow()))
    assert {key(i) for i in items} == expected_keys(fake.data)
    assert {key(i) for i in items if isinstance(i, Quarantined)} == QUARANTINED
    kinds = [key(i)[0] for i in items]
    assert kinds == sorted(kinds, key=["plan", "customer", "subscription", "invoice"].index)


def test_throttled_and_failing_pages_are_retried_without_really_waiting(fake: FakeChargebee) -> None:
    sleeps: list[float] = []
    connector = connect(fake, sleeps)
    fake.throttle_next(2, retry_after="2")
    first = list(connector.read(ReadWindow()))
    fake.fail_next(1)
    second = list(connector.read(ReadWindow()))
    assert sleeps == [2.0, 2.0, 0.0]
    assert first == second and len(first) == len(expected_keys(fake.data))


def test_a_malformed_page_stops_the_run(fake: FakeChargebee) -> None:
    fake.malform_next(1)
    with pytest.raises(FatalError, match="not JSON"):
        list(connect(fake, []).read(ReadWindow()))


def test_the_fake_refuses_what_chargebee_refuses(fake: FakeChargebee) -> None:
    """Keeps the fake honest: unknown filters and bad limits are 400, a wrong key is 401."""
    assert fake.answer("/api/v2/invoices?status%5Bis%5D=paid", None)[0] == 401
    auth = "Basic dGVzdF9zaXRlX2tleTo="
    assert fake.answer("/api/v2/invoices?bogus%5Bis%5D=1", auth)[0] == 400
    assert fake.answer("/api/v2/invoices?limit=101", auth)[0] == 400
    assert fake.answer("/api/v2/credit_notes?sort_by%5Basc%5D=updated_at", auth)[0] == 400
    assert fake.answer("/api/v2/invoices?limit=100", auth)[0] == 200


def test_incremental_reads_only_what_changed(fake: FakeChargebee) -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)
    items = list(connect(fake, []).read(ReadWindow("incremental", since)))
    assert sorted(key(i) for i in items) == [
        ("invoice", "inv_ada_3"), ("invoice", "inv_ada_4"), ("invoice", "inv_odd_1"),
        ("subscription", "sub_ada"),
    ]
    requested = [(path, query) for path, query in fake.requests if path.endswith("/invoices")]
    assert all(q["updated_at[after]"] == str(int(since.timestamp()) - 1) for _, q in requested)


def test_backfill_gets_invoices_issued_in_the_window_and_everything_else(fake: FakeChargebee) -> None:
    since, until = datetime(2026, 1, 15, 9, tzinfo=UTC), datetime(2026, 2, 1, 8, tzinfo=UTC)
    items = list(connect(fake, []).read(ReadWindow("backfill", since, until)))
    invoices = sorted(key(i)[1] for i in items if key(i)[0] == "invoice")
    # inv_eve_1 is issued exactly at `since` (in), inv_bo_3 exactly at `until` (out)
    assert invoices == ["inv_chi_1", "inv_eve_1", "inv_gus_1", "inv_gus_2"]
    assert {key(i)[0] for i in items} == {"plan", "customer", "subscription", "invoice"}
    assert len([i for i in items if key(i)[0] == "customer"]) == len(fake.data["customers"])


def test_a_refund_recorded_later_brings_its_invoice_back(fake: FakeChargebee) -> None:
    later = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
    note = fake.data["credit_notes"][0]
    note["linked_refunds"].append({"txn_id": "txn_eve_1_refund_2", "applied_amount": 500,
                                   "applied_at": later, "txn_status": "success",
                                   "txn_date": later, "txn_amount": 500})
    note["updated_at"] = later
    since = datetime.fromtimestamp(later, tz=UTC) - timedelta(hours=1)
    (invoice,) = [i for i in connect(fake, []).read(ReadWindow("incremental", since))]
    assert isinstance(invoice, Invoice) and invoice.external_id == "inv_eve_1"
    assert [t.amount for t in invoice.transactions if t.type == "refund"] == [1000, 500]


def run(tmp_path: Path, connector: ChargebeeConnector, store: LocalStore) -> Any:
    with StateStore(tmp_path / "state.db") as state:
        engine = Engine("chargebee", connector, state, store, rules=RuleSettings(),
                        data_source="chargebee")
        with state.lock("chargebee"):
            return engine.run("sync")


def test_an_engine_run_lands_in_the_store_and_a_second_run_pushes_nothing(
    fake: FakeChargebee, tmp_path: Path
) -> None:
    connector = connect(fake, [])
    with LocalStore(tmp_path / "analytics.db") as store:
        report = run(tmp_path, connector, store)
        assert report.status == "ok" and report.counts()["balanced"]
        assert report.changes()["created"] > 0 and report.changes()["cancelled"] == 1
        sent = {s.external_id for s in store.list_invoices()}
        assert {"inv_ada_1", "inv_bo_1", "inv_chi_1", "inv_eve_1", "inv_gus_1", "inv_ada_3"} <= sent
        # open (excluded by default), draft, failed, void, deleted, one-time-only: not sent
        assert not sent & {"inv_ada_2", "inv_chi_2", "inv_ada_4", "inv_eve_2", "inv_bo_2",
                           "inv_bo_3", "inv_gus_2", "inv_odd_1"}
        yen = store.get_invoice("inv_chi_1")
        assert yen is not None and yen.invoice.currency == "JPY"
        assert yen.invoice.lines[0].amount == 3000
        refunded = store.get_invoice("inv_eve_1")
        assert refunded is not None
        assert {t.type for t in refunded.invoice.transactions} == {"payment", "refund"}
        subs = {s.external_id: s for s in store.list_subscriptions()}
        assert {"sub_ada", "sub_bo", "sub_chi", "sub_eve", "sub_gus"} <= set(subs)
        assert subs["sub_bo"].cancellation_dates  # Chargebee said cancelled: marker sent
        assert not subs["sub_eve"].cancellation_dates  # paused is not a cancellation
        assert "sub_dan" not in subs  # in trial, never invoiced
        fingerprint = store.fingerprint()

        again = run(tmp_path, connector, store)
        assert sum(again.changes().values()) == 0 and again.counts()["pushed"] == 0
        assert store.fingerprint() == fingerprint
