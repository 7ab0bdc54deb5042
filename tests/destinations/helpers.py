"""Load normalized records into a store the way the engine does: rules first, then push."""

from __future__ import annotations

from saasync.destinations.local import LocalStore
from saasync.models import SourceRecord
from saasync.rules.builder import RuleSettings, build_customer, histories_from
from tests.factories import PLANS


def push(store: LocalStore, *records: SourceRecord, settings: RuleSettings | None = None) -> None:
    """Build every customer's change set and apply it: customers, invoices, cancellations."""
    store.ensure_data_source("test")
    for plan in PLANS.values():
        store.upsert_plan(plan)
    for cid, history in sorted(histories_from(records).items()):
        changes = build_customer(history, PLANS, settings or RuleSettings())
        assert changes.customer is not None, f"no customer record for {cid}"
        store.upsert_customer(changes.customer)
        results = store.import_invoices(cid, changes.invoices)
        assert all(r.error is None for r in results), results
        for marker in changes.cancellations:
            if marker.cancellation_dates:
                store.set_cancellation_dates(
                    cid, marker.subscription_external_id, list(marker.cancellation_dates)
                )


def store_with(*records: SourceRecord, settings: RuleSettings | None = None) -> LocalStore:
    store = LocalStore()
    push(store, *records, settings=settings)
    return store
