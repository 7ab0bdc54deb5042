"""The fake gaiia API end to end: real HTTP, the engine, the local store, and the §7 audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import Quarantined, ReadWindow
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import AuthError, FatalError
from saasync.http import RetryPolicy
from saasync.models import Customer, Invoice, Plan, SourceSubscription
from saasync.rules.audit import audit_account
from saasync.rules.builder import RuleSettings
from saasync.run_report import RunReport
from saasync.state import StateStore
from tests.connectors.gaiia.conftest import Data, make_connector
from tests.connectors.gaiia.fake_api import FakeGaiia


class Run:
    """One connection on the fake: run the engine as often as a test needs."""

    def __init__(self, fake: FakeGaiia, tmp: Path) -> None:
        self.store = LocalStore(tmp / "store.db")
        self.state = StateStore(tmp / "state.db")
        connector = make_connector(fake.base_url, page_size=5, nested_page_size=2)
        self.engine = Engine("isp", connector, self.state, self.store, rules=RuleSettings(),
                             data_source="gaiia")

    def __call__(self) -> RunReport:
        with self.state.lock("isp"):
            return self.engine.run("sync")

    def close(self) -> None:
        self.store.close()
        self.state.close()


@pytest.fixture
def run(fake: FakeGaiia, tmp_path: Path) -> Iterator[Run]:
    runner = Run(fake, tmp_path)
    yield runner
    runner.close()


def outcome(report: RunReport, kind: str, external_id: str) -> tuple[str, str | None]:
    found = report.get(kind, external_id)
    assert found is not None, f"{kind} {external_id} was not read"
    return found.outcome, found.reason


def test_sync_sends_invoices_and_subscriptions_and_a_rerun_sends_nothing(
        run: Run, data: Data) -> None:
    report = run()
    assert report.status == "ok" and report.counts()["balanced"]
    assert outcome(report, "invoice", data.invoice("Maya Thompson", 10)["id"]) == ("pushed", None)
    assert outcome(report, "invoice", data.invoice("Gîte du Lac", 9)["id"]) == ("pushed", None)
    assert outcome(report, "invoice", data.invoice("Maya Thompson", 11, "OPEN")["id"]) == (
        "skipped", "OPEN_EXCLUDED")
    assert outcome(report, "invoice", data.invoice("Aisha Bello", 10)["id"]) == (
        "skipped", "ONE_TIME_ONLY")
    assert outcome(report, "invoice", data.invoice("Kenji Sato", 10)["id"]) == ("skipped", "VOIDED")
    assert outcome(report, "invoice", data.invoice("Grace Kim", 11)["id"]) == ("skipped", "FAILED")
    assert outcome(report, "subscription", data.subscription("Ben Carter", "Home Voice")["id"]) == (
        "pushed", None)
    assert report.counts()["quarantined"] == {"UNKNOWN_CUSTOMER": 1, "UNKNOWN_STATUS": 3}
    fingerprint = run.store.fingerprint()

    again = run()
    assert again.status == "ok" and again.counts()["balanced"]
    assert sum(again.changes().values()) == 0 and again.counts()["pushed"] == 0
    assert run.store.fingerprint() == fingerprint


def test_an_open_invoice_paid_later_is_sent_by_the_next_run(run: Run, fake: FakeGaiia,
                                                            data: Data) -> None:
    target = data.invoice("Maya Thompson", 11, "OPEN")["id"]
    assert outcome(run(), "invoice", target) == ("skipped", "OPEN_EXCLUDED")
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    fake.pay_invoice(target, now)
    report = run()
    assert outcome(report, "invoice", target) == ("pushed", None)
    assert report.counts()["balanced"]


def test_throttling_and_a_5xx_on_the_wire_are_retried(fake: FakeGaiia) -> None:
    waits: list[float] = []
    connector = make_connector(fake.base_url, retry=RetryPolicy(sleep=waits.append))
    fake.throttle_next(wait_s=1.5)
    fake.fail_next(503)
    items = list(connector.read(ReadWindow()))
    assert len(waits) == 2 and 0 < waits[0] <= 1.5
    assert fake.operations()[:3] == ["SaasyncProducts"] * 3
    assert sum(isinstance(i, Invoice) for i in items) == 19


def test_malformed_page_and_wrong_key_stop_the_read(fake: FakeGaiia) -> None:
    fake.malformed_next()
    with pytest.raises(FatalError, match="SaasyncProducts: malformed answer"):
        list(make_connector(fake.base_url).read(ReadWindow()))
    fake.api_key = "rotated"
    with pytest.raises(AuthError, match="UNAUTHORIZED"):
        list(make_connector(fake.base_url).read(ReadWindow()))


def test_the_data_set_raises_the_out_of_sync_codes(fake: FakeGaiia, data: Data) -> None:
    items = list(make_connector(fake.base_url).read(ReadWindow()))
    customers = [i for i in items if isinstance(i, Customer)]
    subs: dict[str, list[SourceSubscription]] = {}
    for sub in (i for i in items if isinstance(i, SourceSubscription)):
        subs.setdefault(sub.customer_external_id, []).append(sub)
    invoices = [i for i in items if isinstance(i, Invoice)]
    plans = {p.external_id: p for p in items if isinstance(p, Plan)}
    codes: dict[str, set[str]] = {}
    for customer in customers:
        found: Any = audit_account(customer, subs.get(customer.external_id, []),
                                         invoices, plans)
        codes[customer.name] = {str(f.code) for f in found}
    assert codes == {
        "Maya Thompson": set(), "Kenji Sato": set(), "Chloe Martin": set(), "Gîte du Lac": set(),
        "Luis Ortega": {"ACTIVE_BILLING_CYCLE_DISABLED"},
        "Priya Raman": {"ACTIVE_SUSPENDED_SUBSCRIPTIONS"},
        "Ben Carter": {"ACTIVE_NO_SUBSCRIPTIONS"},
        "Grace Kim": {"INACTIVE_WITH_SUBSCRIPTIONS"},
        "Tom Becker": {"LEAD_BILLING_CYCLE_ENABLED"},
        "Aisha Bello": {"PENDING_BILLING_CYCLE_ENABLED"},
        "Oscar Nilsson": {"PENDING_NO_SUBSCRIPTIONS"},
        "Hannah Weiss": {"SUSPENDED_ACTIVE_SUBSCRIPTIONS", "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"},
    }
    assert sum(isinstance(i, Quarantined) for i in items) == 4
