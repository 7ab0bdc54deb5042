"""The store calls the server adds (``ApiStore``), without HTTP: deletes, paging, statuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from saasync.destinations.local import LocalStore
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction
from saasync.server.api_store import ApiStore


def _at(month: int) -> datetime:
    return datetime(2024, month, 1, tzinfo=UTC)


def _invoice(external_id: str, month: int, plan: str = "pro", sub: str = "s1") -> OutInvoice:
    line = OutLine("subscription", 1000, subscription_external_id=sub, plan_external_id=plan,
                   service_period_start=_at(month), service_period_end=_at(month + 1))  # fmt: skip
    return OutInvoice(external_id, "c1", _at(month), "USD", (line,))


@pytest.fixture
def store(tmp_path: Path) -> ApiStore:
    store = ApiStore(tmp_path / "api.db")
    store.local.ensure_data_source("billing")
    store.local.upsert_plan(Plan(external_id="pro", name="Pro", interval_unit="month"))
    store.local.upsert_plan(Plan(external_id="max", name="Max", interval_unit="month"))
    store.local.upsert_customer(Customer(external_id="c1", name="One"))
    return store


def test_deleting_an_invoice_drops_a_subscription_left_without_lines(store: ApiStore) -> None:
    store.local.import_invoices("c1", [_invoice("i1", 1), _invoice("i2", 2, plan="max"),
                                 _invoice("i3", 2, sub="s2")])  # fmt: skip
    [i2] = [i for i in store.invoices.page().items if i.external_id == "i2"]
    store.invoices.delete(i2)
    assert store.local.get_subscription("c1", "s1").plan_external_id == "pro"  # type: ignore[union-attr]
    [i3] = [i for i in store.invoices.page().items if i.external_id == "i3"]
    store.invoices.delete(i3)
    assert [s.external_id for s in store.local.list_subscriptions()] == ["s1"]
    assert not store.plans.delete(store.local.get_plan("pro").id)  # type: ignore[union-attr]
    assert store.plans.delete(store.local.get_plan("max").id)  # type: ignore[union-attr]


def test_transactions_are_appended_and_written_off_invoices_stop_counting(store: ApiStore) -> None:
    store.local.import_invoices("c1", [_invoice("i1", 1)])
    stored = store.local.get_invoice("i1")
    assert stored is not None and stored.status == "open"
    payment = OutTransaction("payment", "successful", _at(1), 1000, "pay-1")
    assert store.invoices.add_transaction(stored, payment, {"transaction_fees_in_cents": 30})
    assert store.invoices.add_transaction(stored, payment, {}) is None  # external id taken
    paid = store.local.get_invoice("i1")
    assert paid is not None and paid.status == "paid" and len(paid.invoice.transactions) == 1
    extras = store.invoices.extras([paid.id])[paid.id]
    assert list(extras.transactions.values()) == [{"transaction_fees_in_cents": 30}]
    store.invoices.set_status(paid, "written_off")
    assert store.local.subscription_views() == []
    assert store.invoices.extras([paid.id])[paid.id].invoice == {"status": "written_off"}
    store.invoices.set_status(paid, "voided")
    assert store.invoices.extras([paid.id])[paid.id].invoice == {}


def test_pages_filter_across_data_sources_and_deletes_cascade(store: ApiStore) -> None:
    other = store.sources.create("other")
    assert other is not None and store.sources.create("other") is None
    with store.selected(other):
        store.local.upsert_customer(Customer(external_id="c1", name="Elsewhere"))
    everyone = store.customers.page(external_id="c1")
    assert [c.data_source_uuid for c in everyone.items] == [
        store.sources.all()[0].uuid,
        other.uuid,
    ]
    first = store.customers.page(limit=1)
    assert (len(first.items), first.has_more, first.total) == (1, True, 2)
    rest = store.customers.page(after_id=first.items[0].id, limit=1)
    assert (rest.has_more, rest.items[0].customer.name) == (False, "Elsewhere")
    store.local.import_invoices("c1", [_invoice("i1", 1)])
    customer = store.customers.page(data_source_uuid=store.local.data_source.uuid).items[0]  # type: ignore[union-attr]
    store.customers.set_extras(customer.id, {"city": "Utrecht"})
    store.customers.delete(customer.id)
    assert store.counts()["invoices"] == 0 and store.customers.extras([customer.id]) == {}
    store.sources.delete(other)
    assert [ds.name for ds in store.sources.all()] == ["billing"]


def test_a_plain_local_store_still_reads_a_served_file(store: ApiStore, tmp_path: Path) -> None:
    store.local.import_invoices("c1", [_invoice("i1", 1)])
    fingerprint = store.fingerprint()
    store.close()
    with LocalStore(tmp_path / "api.db") as plain:
        assert plain.fingerprint() == fingerprint and plain.counts()["invoices"] == 1


def test_the_wrapper_applies_automatic_churn_and_a_plain_local_store_does_not(
    store: ApiStore, tmp_path: Path
) -> None:
    ds = store.sources.create("churning", {"enabled": True, "interval": 30})
    assert ds is not None
    with store.selected(ds):
        store.local.upsert_plan(Plan(external_id="pro", name="Pro", interval_unit="month"))
        store.local.upsert_customer(Customer(external_id="c1", name="One"))
        store.local.import_invoices("c1", [_invoice("i1", 1)])
        assert [v.auto_churn_after for v in store.local.subscription_views()] == [timedelta(days=30)]
        assert store.local.reader.subscription_views() == store.local.subscription_views()
    store.local.select_data_source("billing")
    store.local.import_invoices("c1", [_invoice("i2", 1)])
    assert [v.auto_churn_after for v in store.local.subscription_views()] == [None]  # setting off
    store.close()
    with LocalStore(tmp_path / "api.db", data_source="churning") as plain:
        assert [v.auto_churn_after for v in plain.subscription_views()] == [None]


def test_listing_one_customers_invoices_reads_them_through_the_customer_index(
        store: ApiStore) -> None:
    """``GET /invoices?data_source_uuid=…&customer_uuid=…`` (``explain``) must cost what the
    customer holds, not what the data source holds: every query of the page, its count
    included, reaches invoices through ``invoices_customer``."""
    store.local.upsert_customer(Customer(external_id="c2", name="Two"))
    store.local.import_invoices("c1", [_invoice("i1", 1)])
    store.local.import_invoices("c2", [replace(_invoice(f"j{n}", n), customer_external_id="c2")
                                 for n in (1, 2)])
    ds = store.local.data_sources()[0].uuid
    c2 = store.local.get_customer("c2")
    assert c2 is not None
    ran: list[str] = []
    store.local.db.conn.set_trace_callback(ran.append)
    try:
        page = store.invoices.page(data_source_uuid=ds, customer_uuid=c2.uuid, limit=1)
    finally:
        store.local.db.conn.set_trace_callback(None)
    assert [i.external_id for i in page.items] == ["j1"] and page.total == 2
    listing = [sql for sql in ran if "FROM invoices i" in sql and c2.uuid in sql]
    assert len(listing) >= 2  # the count and the page
    for sql in listing:
        plan = [row[3] for row in store.local.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        on_invoices = [step for step in plan if step.startswith(("SEARCH i ", "SCAN i"))]
        assert on_invoices and all("invoices_customer" in step for step in on_invoices), plan


def test_one_customers_subscription_views_read_through_the_customer_indexes(
        store: ApiStore) -> None:
    """A customer listing judges each customer's MRR from its invoices and subscriptions
    (``subscription_views``): each query reaches them through ``invoices_customer`` and
    ``subscriptions_customer``, never by reading the whole data source."""
    store.local.upsert_customer(Customer(external_id="c2", name="Two"))
    store.local.import_invoices("c1", [_invoice("i1", 1)])
    store.local.import_invoices("c2", [replace(_invoice("j1", 1, sub="s9"), customer_external_id="c2")])
    ran: list[str] = []
    store.local.db.conn.set_trace_callback(ran.append)
    try:
        views = store.local.subscription_views("c2")
    finally:
        store.local.db.conn.set_trace_callback(None)
    assert [v.external_id for v in views] == ["s9"]
    by_customer = [sql for sql in ran if "'c2'" in sql and sql.lstrip().startswith("SELECT")]
    assert len(by_customer) >= 4  # invoices, their lines and transactions, subscriptions
    for sql in by_customer:
        plan = [row[3] for row in store.local.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
        steps = [s for s in plan if s.startswith(("SEARCH i ", "SCAN i", "SEARCH s ", "SCAN s"))]
        whole_source = [s for s in steps if s.startswith("SCAN") or "(data_source_id=?)" in s]
        assert any("_customer (customer_id=?)" in s for s in steps) and not whole_source, plan
