"""The fake Stripe API through the real engine into the local store: what arrives, and a
second run that pushes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.rules.builder import RuleSettings
from saasync.run_report import RunReport
from saasync.state import StateStore
from tests.connectors.contract.stripe_harness import make_connector
from tests.connectors.stripe.fake_api import FakeStripe


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


def run(fake: FakeStripe, tmp_path: Path, store: LocalStore) -> RunReport:
    with StateStore(tmp_path / "state.db") as state:
        engine = Engine("stripe", make_connector(fake, tmp_path), state, store,
                        rules=RuleSettings(), data_source="stripe")
        with state.lock("stripe"):
            return engine.run("sync")


def test_invoices_and_subscriptions_arrive_and_a_second_run_pushes_nothing(
    fake: FakeStripe, tmp_path: Path
) -> None:
    with LocalStore(tmp_path / "store.db") as store:
        first = run(fake, tmp_path, store)
        assert first.status == "ok" and first.counts()["balanced"]
        sent = {i.external_id: i for i in store.list_invoices()}
        # paid subscription invoices only: open ones are held back (default "exclude"),
        # draft / void / uncollectible / one-time-only / unknown-status ones never go.
        assert set(sent) == {"in_SAcmeApr01", "in_SAcmeMay02", "in_SBetaYear01",
                             "in_SChiyoda01", "in_SChiyoda02"}
        yen = sent["in_SChiyoda01"].invoice
        assert yen.currency == "JPY" and yen.lines[0].amount == 3300  # ¥3,000 + ¥300 tax
        beta = sent["in_SBetaYear01"].invoice
        assert [t.type for t in beta.transactions] == ["payment", "refund"]
        subs = {s.external_id: s for s in store.list_subscriptions()}
        assert set(subs) == {"sub_SAcmePro01", "sub_SBetaTeam2", "sub_SChiyoda3"}
        assert subs["sub_SBetaTeam2"].cancellation_dates  # cancelled in Stripe
        assert not subs["sub_SChiyoda3"].cancellation_dates  # paused is no cancellation

        second = run(fake, tmp_path, store)
        assert second.status == "ok"
        assert sum(second.changes().values()) == 0

        fake.pay_invoice("in_SAcmeJun03", fake.now - 600)
        third = run(fake, tmp_path, store)
        assert third.changes()["created"] == 1
        assert store.get_invoice("in_SAcmeJun03") is not None
