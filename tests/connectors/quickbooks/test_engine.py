"""End to end: the fake QuickBooks → QuickBooksConnector → Engine → LocalStore.

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
from saasync_connectors.quickbooks.connector import QuickBooksConnector
from tests.connectors.accounting.fake_server import oauth_env
from tests.connectors.contract.quickbooks_harness import make_connector
from tests.connectors.quickbooks.fake_api import FakeQuickBooks

CONNECTION = "books"
#: Until the engine re-reads quarantined records itself, a wide lookback makes the next run
#: read the mapped invoice again (it has not changed at the source).
WIDE = timedelta(days=3650)


def run(fake: FakeQuickBooks, state: StateStore, store: LocalStore,
        rules: RuleSettings | None = None) -> tuple[QuickBooksConnector, RunReport]:
    context = ConnectorContext(env=oauth_env("QUICKBOOKS"), connection=CONNECTION, tokens=state,
                               item_mappings=state.item_mappings(CONNECTION))
    connector = make_connector(fake, context)
    engine = Engine(CONNECTION, connector, state, store, rules=rules or RuleSettings(),
                    data_source="quickbooks", lookback=WIDE)
    with state.lock(CONNECTION):
        return connector, engine.run("sync")


def test_sync_then_nothing_new_and_tokens_rotate_through_the_state(tmp_path: Path) -> None:
    with FakeQuickBooks() as fake, StateStore(tmp_path / "state.db") as state, \
            LocalStore(tmp_path / "store.db") as store:
        _, report = run(fake, state, store)
        counts = report.counts()
        assert report.status == "ok" and counts["balanced"]
        assert counts["quarantined"] == {"UNMAPPED_ITEM": 1}
        assert counts["skipped"]["VOIDED"] == 1 and counts["skipped"]["OPEN_EXCLUDED"] == 2
        paid = store.get_invoice("130")
        assert paid is not None and paid.status == "paid"
        assert store.get_invoice("135") is not None  # yen
        subscriptions = {s.external_id for s in store.list_subscriptions()}
        assert {"1:gold-monthly", "2:silver-annual", "4:gold-monthly"} <= subscriptions
        stored = state.load_tokens(CONNECTION)
        assert stored is not None and stored["refresh_token"] == fake.oauth.issued[-1]

        _, again = run(fake, state, store)
        assert sum(again.changes().values()) == 0
        assert fake.oauth.refreshes == 1  # the stored access token was still good


def test_an_unmapped_item_goes_to_review_and_is_sent_once_mapped(tmp_path: Path) -> None:
    rules = RuleSettings(open_invoices="include")
    with FakeQuickBooks() as fake, StateStore(tmp_path / "state.db") as state, \
            LocalStore(tmp_path / "store.db") as store:
        _, first = run(fake, state, store, rules)
        assert first.counts()["quarantined"] == {"UNMAPPED_ITEM": 1}
        [item] = state.review_items(CONNECTION)
        assert (item.key, item.reason, item.field) == ("invoice:134", "UNMAPPED_ITEM",
                                                       "lines.0.item")
        assert item.raw is not None and item.raw["item"] == "15"
        assert store.get_invoice("134") is None

        state.save_item_mapping(CONNECTION, ItemMapping(
            "15", plan_external_id="consulting-monthly", plan_name="Consulting retainer"))
        _, second = run(fake, state, store, rules)
        counts = second.counts()
        assert counts["balanced"] and counts["quarantined"] == {}
        sent = store.get_invoice("134")
        assert sent is not None
        assert store.get_plan("consulting-monthly") is not None
        assert store.get_subscription("3", "3:consulting-monthly") is not None
        assert state.review_items(CONNECTION) == []
