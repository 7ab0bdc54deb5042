"""The connector over real HTTP against the local fake Recurly, and through the engine into
the local analytics store: faults injected by the fake, then a sync and an idle re-sync."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from saasync.connector import Quarantined, ReadWindow
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import FatalError
from saasync.models import Invoice
from saasync.rules.builder import RuleSettings
from saasync.state import StateStore
from saasync_connectors.recurly.connector import RecurlyConnector
from tests.connectors.recurly.fake_api import FakeRecurly
from tests.connectors.recurly.support import NOW, Sleeps, make_connector


def keys(items: Sequence[object]) -> list[str]:
    return [str(getattr(i, "external_id", None)) for i in items]


def test_the_fake_insists_on_the_versioned_accept_header() -> None:
    with FakeRecurly() as fake:
        answer = requests.get(f"{fake.base_url}/plans", timeout=5)
        assert answer.status_code == 406 and "acceptable_accept_headers" in answer.json()["error"]


def test_small_pages_throttling_and_a_5xx_over_real_http() -> None:
    with FakeRecurly(embedded_line_items=1, clock=lambda: NOW.timestamp()) as fake:
        fake.fault_path, fake.throttle, fake.fail = "/invoices", 1, 1
        sleeps = Sleeps()
        items = list(make_connector(fake.base_url, sleeps, page_size=2).read(ReadWindow()))
        assert len(items) == 27 and len(keys(items)) == len(set(keys(items)))
        assert sleeps.waits[0] == 7.0  # X-RateLimit-Reset honoured
        assert len(sleeps.waits) == 2  # and one backoff after the 503
        upgrade = next(i for i in items if getattr(i, "external_id", "") == "i1inv00001012")
        assert isinstance(upgrade, Invoice) and len(upgrade.lines) == 2  # fetched beyond 1
        assert any("/line_items" in r for r in fake.requests)
        assert any("cursor=" in r for r in fake.requests)


def test_a_malformed_page_from_the_fake_stops_the_read() -> None:
    with FakeRecurly() as fake:
        fake.fault_path, fake.malformed = "/accounts", 1
        with pytest.raises(FatalError, match="/accounts"):
            list(make_connector(fake.base_url).read(ReadWindow()))


def test_an_incremental_read_sees_only_what_changed() -> None:
    with FakeRecurly() as fake:
        connector = make_connector(fake.base_url, page_size=5)
        items = list(connector.read(ReadWindow("incremental", datetime(2024, 3, 1, tzinfo=UTC))))
        assert keys(items) == ["s1acme000002", "s1umbrella05", "s1initech004", "s1acme000001",
                               "s1hooli00007", "i1inv00001010", "i1inv00001005", "i1inv00001012"]


def run(tmp: Path, connector: RecurlyConnector, store: LocalStore) -> object:
    with StateStore(tmp / "state.db") as state:
        engine = Engine("recurly", connector, state, store, rules=RuleSettings(),
                        data_source="recurly", clock=lambda: NOW)
        with state.lock("recurly"):
            return engine.run("sync")


def test_a_sync_through_the_engine_lands_invoices_and_a_second_run_pushes_nothing(
        tmp_path: Path) -> None:
    with FakeRecurly(embedded_line_items=1) as fake, LocalStore(tmp_path / "store.db") as store:
        connector = make_connector(fake.base_url, page_size=3)
        report = run(tmp_path, connector, store)
        assert report.status == "ok" and report.counts()["balanced"]  # type: ignore[attr-defined]
        assert report.get("invoice", "i1inv00001011").reason == "UNKNOWN_STATUS"  # type: ignore[attr-defined]
        assert report.get("invoice", "i1inv00001004").reason == "OPEN_EXCLUDED"  # type: ignore[attr-defined]
        yen = store.get_invoice("i1inv00001003")
        assert yen is not None and yen.invoice.currency == "JPY"
        assert [line.amount for line in yen.invoice.lines] == [120000]
        refunded = store.get_invoice("i1inv00001007")
        assert refunded is not None
        assert [(t.type, t.amount) for t in refunded.invoice.transactions] == [
            ("payment", 1500), ("refund", 1500)]
        subs = {s.external_id for s in store.list_subscriptions()}
        assert {"s1acme000001", "s1globex0003", "s1hooli00006"} <= subs
        assert "s1umbrella05" not in subs  # only failed and void invoices: never created
        for skipped in ("i1inv00001005", "i1inv00001006", "i1inv00001009"):
            assert store.get_invoice(skipped) is None
        again = run(tmp_path, connector, store)
        assert sum(again.changes().values()) == 0  # type: ignore[attr-defined]
        assert not any(isinstance(i, Quarantined) and i.kind != "invoice"
                       for i in connector.read(ReadWindow()))
