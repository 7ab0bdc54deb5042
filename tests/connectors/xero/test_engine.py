"""End to end: the fake Xero → XeroConnector → Engine → LocalStore.

Covers a first sync, a second sync that pushes nothing (tokens reused from the state
store), and the review-queue round trip: an invoice with an unmapped item is
quarantined (UNMAPPED_ITEM), the user maps the item, and the next run sends it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from saasync.connector import ConnectorContext, ItemMapping
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.rules.builder import RuleSettings
from saasync.run_report import RunReport
from saasync.state import StateStore
from tests.connectors.accounting.fake_server import oauth_env
from tests.connectors.contract.xero_harness import make_connector
from tests.connectors.xero.fake_api import FakeXero

CONNECTION = "xero-nz"
#: Until the engine re-reads quarantined records itself, a wide lookback makes the next run
#: read the mapped invoice again (it has not changed at the source).
WIDE = timedelta(days=3650)
CONSULT_INVOICE = "0b6b2f7c-1a3e-4c5d-8e9f-00000000a007"
CITY_AGENCY = "4e1a2b3c-5d6e-4f70-8192-a3b4c5d6e7f8"


def run(fake: FakeXero, state: StateStore, store: LocalStore,
        rules: RuleSettings | None = None) -> RunReport:
    context = ConnectorContext(env=oauth_env("XERO"), connection=CONNECTION, tokens=state,
                               item_mappings=state.item_mappings(CONNECTION))
    engine = Engine(CONNECTION, make_connector(fake, context), state, store,
                    rules=rules or RuleSettings(), data_source="xero", lookback=WIDE)
    with state.lock(CONNECTION):
        return engine.run("sync")


def test_sync_then_nothing_new(tmp_path: Path) -> None:
    with FakeXero() as fake, StateStore(tmp_path / "state.db") as state, \
            LocalStore(tmp_path / "store.db") as store:
        report = run(fake, state, store)
        counts = report.counts()
        assert report.status == "ok" and counts["balanced"]
        assert counts["quarantined"] == {"UNMAPPED_ITEM": 1}
        assert counts["skipped"]["VOIDED"] == 2 and counts["skipped"]["DRAFT"] == 1
        paid = store.get_invoice("0b6b2f7c-1a3e-4c5d-8e9f-00000000a003")
        assert paid is not None and paid.status == "paid"
        subscriptions = {s.external_id for s in store.list_subscriptions()}
        assert {"428c0d75-909f-4b04-8403-a48dc27283b0",
                "6d037ab4-7a5b-4e08-a6b4-3b0cbe3b8a12"} <= subscriptions
        assert store.get_plan("SUPPORT@2-week") is not None

        again = run(fake, state, store)
        assert sum(again.changes().values()) == 0
        assert fake.oauth.refreshes == 1


def test_an_unmapped_item_goes_to_review_and_is_sent_once_mapped(tmp_path: Path) -> None:
    rules = RuleSettings(open_invoices="include")
    with FakeXero() as fake, StateStore(tmp_path / "state.db") as state, \
            LocalStore(tmp_path / "store.db") as store:
        first = run(fake, state, store, rules)
        assert first.counts()["quarantined"] == {"UNMAPPED_ITEM": 1}
        [item] = state.review_items(CONNECTION)
        assert (item.key, item.reason, item.field) == (f"invoice:{CONSULT_INVOICE}",
                                                       "UNMAPPED_ITEM", "lines.0.item")
        assert item.raw is not None and item.raw["item"] == "CONSULT"

        state.save_item_mapping(CONNECTION, ItemMapping(
            "CONSULT", plan_external_id="consulting-quarterly", plan_name="Consulting",
            interval_unit="month", interval_count=3))
        second = run(fake, state, store, rules)
        counts = second.counts()
        assert counts["balanced"] and counts["quarantined"] == {}
        assert store.get_invoice(CONSULT_INVOICE) is not None
        assert store.get_subscription(CITY_AGENCY, f"{CITY_AGENCY}:consulting-quarterly")
        assert state.review_items(CONNECTION) == []
