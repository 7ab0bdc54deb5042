"""The local store keeps ChartMogul's promises: idempotent imports, its duplicate message,
subscriptions only from subscription lines, voids and cancellations that change statuses."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from saasync.destinations.base import Destination
from saasync.destinations.local import LocalStore
from saasync.destinations.local.writer import DUPLICATE_INVOICE, DUPLICATE_LINE
from saasync.errors import BadRecordError, ConfigError, FatalError
from saasync.models import SourceRecord
from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction
from saasync.rules.status import SubStatus, subscription_mrr, subscription_status
from tests.destinations.helpers import push, store_with
from tests.factories import (
    PLANS,
    customer,
    dt,
    invoice,
    one_time,
    paid,
    plan,
    sub_line,
    subscription,
)

JAN = dt("2026-01-01")


def sub(
    amount: int,
    start: str = "2026-01-01",
    *,
    sub_id: str = "sub_1",
    plan_id: str = "pl_monthly",
    ext: str | None = None,
) -> OutLine:
    s = dt(start)
    return OutLine(
        "subscription",
        amount,
        external_id=ext,
        subscription_external_id=sub_id,
        plan_external_id=plan_id,
        service_period_start=s,
        service_period_end=s + timedelta(days=31),
    )


def out(
    iid: str,
    *lines: OutLine,
    cid: str = "cus_1",
    date: str = "2026-01-01",
    paid_on: str | None = "2026-01-01",
    currency: str = "USD",
) -> OutInvoice:
    txs = (OutTransaction("payment", "successful", dt(paid_on)),) if paid_on else ()
    return OutInvoice(iid, cid, dt(date), currency, tuple(lines), txs)


@pytest.fixture
def store() -> LocalStore:
    s = LocalStore()
    s.ensure_data_source("test")
    for p in PLANS.values():
        s.upsert_plan(p)
    s.upsert_customer(customer("cus_1"))
    s.upsert_customer(customer("cus_2"))
    return s


def test_is_a_destination_and_a_context_manager(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "a.db") as s:
        assert isinstance(s, Destination)
        assert s.ensure_data_source("prod").startswith("ds_")
    with pytest.raises(sqlite3.ProgrammingError):
        s.list_customers()  # closed


def test_data_sources_are_unique_by_name_and_a_file_reopens_with_its_source(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with LocalStore(path) as s:
        first = s.ensure_data_source("prod")
        assert s.ensure_data_source("prod") == first
        s.upsert_customer(customer("cus_1"))
        mode = s.db.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    with LocalStore(path) as s:
        assert s.data_source is not None and s.data_source.uuid == first
        assert [c.external_id for c in s.list_customers()] == ["cus_1"]
        with pytest.raises(ConfigError):
            s.select_data_source("staging")
    with LocalStore(path, data_source="prod") as s:
        assert s.get_customer("cus_1") is not None


def test_calls_before_a_data_source_is_chosen_fail_clearly() -> None:
    with LocalStore() as s, pytest.raises(FatalError, match="ensure_data_source"):
        s.upsert_customer(customer())


def test_data_sources_keep_their_records_apart(store: LocalStore) -> None:
    store.ensure_data_source("other")
    assert store.list_customers() == []
    store.upsert_customer(customer("cus_1", email="x@example.com"))
    store.select_data_source("test")
    found = store.get_customer("cus_1")
    assert found is not None and found.customer.email is None


def test_upsert_customer_updates_changed_fields_and_keeps_uuid(store: LocalStore) -> None:
    uuid = store.get_customer("cus_1").uuid  # type: ignore[union-attr]
    assert uuid.startswith("cus_")
    assert store.upsert_customer(customer("cus_1", email="a@example.com", country="NL")) == uuid
    stored = store.get_customer_by_uuid(uuid)
    assert stored is not None
    assert (stored.customer.email, stored.customer.country) == ("a@example.com", "NL")
    assert len(store.list_customers()) == 2


def test_upsert_plan_updates_and_keeps_uuid(store: LocalStore) -> None:
    uuid = store.get_plan("pl_monthly").uuid  # type: ignore[union-attr]
    assert store.upsert_plan(plan("pl_monthly", "month", 3)) == uuid
    assert store.plans_by_external_id()["pl_monthly"].interval_count == 3


def test_storing_the_same_invoice_again_is_idempotent(store: LocalStore) -> None:
    inv = out("in_1", sub(5000), OutLine("one_time", 300, description="setup"))
    [first] = store.import_invoices("cus_1", [inv])
    before = (store.counts(), store.fingerprint())
    [again] = store.import_invoices("cus_1", [inv])
    assert first.error is None and first.destination_id is not None
    assert first.destination_id.startswith("inv_")
    assert again == first
    assert (store.counts(), store.fingerprint()) == before
    assert store.out_invoices_for_customer("cus_1") == [inv]  # read back exactly


def test_a_differing_duplicate_gets_chartmogul_s_error_and_changes_nothing(
    store: LocalStore,
) -> None:
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    before = store.fingerprint()
    [result] = store.import_invoices("cus_1", [out("in_1", sub(6000))])
    assert result.destination_id is None
    assert result.error == DUPLICATE_INVOICE
    assert (
        result.error
        == "external_id: The external ID for this invoice already exists in our system."
    )
    assert store.fingerprint() == before


def test_an_unknown_customer_is_a_bad_record(store: LocalStore) -> None:
    with pytest.raises(BadRecordError, match="cus_9"):
        store.import_invoices("cus_9", [out("in_1", sub(5000), cid="cus_9")])
    assert store.counts()["invoices"] == 0


def test_each_invoice_of_a_batch_stands_alone(store: LocalStore) -> None:
    good = out("in_1", sub(5000))
    unknown_plan = out("in_2", sub(5000, plan_id="pl_nope"))
    results = store.import_invoices("cus_1", [good, unknown_plan])
    assert results[0].error is None
    assert results[1].error is not None and "pl_nope" in results[1].error
    assert [i.external_id for i in store.list_invoices()] == ["in_1"]


def test_line_external_ids_are_unique_per_data_source(store: LocalStore) -> None:
    store.import_invoices("cus_1", [out("in_1", sub(5000, ext="li-1"))])
    [result] = store.import_invoices(
        "cus_1", [out("in_2", sub(5000, "2026-02-01", ext="li-1"), date="2026-02-01")]
    )
    assert result.error == DUPLICATE_LINE
    assert store.counts()["invoices"] == 1


def test_replace_keeps_the_invoice_uuid_and_stores_the_new_content(store: LocalStore) -> None:
    unpaid = out("in_1", sub(5000), paid_on=None)
    [created] = store.import_invoices("cus_1", [unpaid])
    assert store.get_invoice("in_1").status == "open"  # type: ignore[union-attr]
    corrected = out("in_1", sub(4500), paid_on="2026-01-03")
    assert store.replace_invoice(corrected) == created.destination_id
    stored = store.get_invoice("in_1")
    assert stored is not None
    assert stored.invoice == corrected and stored.status == "paid"
    assert store.counts()["line_items"] == 1 and store.counts()["subscriptions"] == 1
    # Replacing with the same content again changes nothing, line uuids included.
    assert store.replace_invoice(corrected) == created.destination_id
    assert store.get_invoice("in_1") == stored


def test_replace_of_an_unknown_invoice_is_a_bad_record(store: LocalStore) -> None:
    with pytest.raises(BadRecordError):
        store.replace_invoice(out("in_404", sub(5000)))


def test_replace_that_drops_a_subscription_s_only_line_removes_the_subscription(
    store: LocalStore,
) -> None:
    store.import_invoices("cus_1", [out("in_1", sub(5000), sub(2000, sub_id="sub_2"))])
    store.replace_invoice(out("in_1", sub(5000)))
    assert [s.external_id for s in store.list_subscriptions()] == ["sub_1"]


def test_void_removes_the_invoice_from_mrr_and_status(store: LocalStore) -> None:
    store.import_invoices(
        "cus_1",
        [
            out("in_1", sub(5000)),
            out("in_2", sub(7000, "2026-02-01"), date="2026-02-01", paid_on="2026-02-01"),
        ],
    )
    feb = dt("2026-02-10")
    [view] = store.subscription_views("cus_1")
    assert subscription_mrr(view, PLANS, feb) == ("USD", 7000)
    store.void_invoice("in_2")
    assert store.get_invoice("in_2").status == "voided"  # type: ignore[union-attr]
    store.void_invoice("in_2")  # idempotent
    [view] = store.subscription_views("cus_1")
    assert [i.external_id for i in view.invoices] == ["in_1"]
    assert subscription_mrr(view, PLANS, dt("2026-01-10")) == ("USD", 5000)
    assert subscription_status(view, feb + timedelta(days=30)) is SubStatus.PAST_DUE
    store.void_invoice("in_1")
    assert store.subscription_views("cus_1") == []  # it no longer exists for analytics
    assert len(store.list_invoices()) == 2  # voided invoices stay listed
    assert store.out_invoices_for_customer("cus_1") == []
    with pytest.raises(BadRecordError):
        store.void_invoice("in_404")


def test_cancellation_dates_are_set_and_cleared(store: LocalStore) -> None:
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    cancel = dt("2026-01-20")
    store.set_cancellation_dates("cus_1", "sub_1", [cancel])
    [view] = store.subscription_views()
    assert view.cancellation_dates == (cancel,)
    assert subscription_status(view, dt("2026-01-25")) is SubStatus.CANCELLED
    stored = store.get_subscription("cus_1", "sub_1")
    assert stored is not None and stored.doc()["cancellation_dates"] == ["2026-01-20T00:00:00.000Z"]
    store.set_cancellation_dates("cus_1", "sub_1", [])  # reactivation
    [view] = store.subscription_views()
    assert view.cancellation_dates == ()
    assert subscription_status(view, dt("2026-01-25")) is SubStatus.ACTIVE


def test_cancelling_an_unknown_subscription_is_a_bad_record(store: LocalStore) -> None:
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    with pytest.raises(BadRecordError):
        store.set_cancellation_dates("cus_1", "sub_404", [JAN])
    with pytest.raises(BadRecordError):
        store.set_cancellation_dates("cus_2", "sub_1", [JAN])  # keyed by customer too
    with pytest.raises(BadRecordError):
        store.set_cancellation_dates("cus_404", "sub_1", [JAN])


def test_subscriptions_come_only_from_subscription_lines(store: LocalStore) -> None:
    store.import_invoices("cus_1", [out("in_1", OutLine("one_time", 900, description="setup"))])
    assert store.list_subscriptions() == []
    store.import_invoices("cus_1", [out("in_2", sub(5000), sub(100), OutLine("one_time", 50))])
    store.import_invoices("cus_2", [out("in_3", sub(5000), cid="cus_2")])
    subs = store.list_subscriptions()
    assert [(s.customer_external_id, s.external_id) for s in subs] == [
        ("cus_1", "sub_1"),
        ("cus_2", "sub_1"),
    ]
    assert all(s.uuid.startswith("sub_") for s in subs)
    line_subs = [
        line.get("subscription_uuid") for line in store.invoice_docs("cus_1")[1]["line_items"]
    ]
    assert line_subs == [subs[0].uuid, subs[0].uuid, None]


def test_a_subscription_s_plan_is_that_of_its_latest_line(store: LocalStore) -> None:
    store.import_invoices("cus_1", [out("in_1", sub(5000))])
    store.import_invoices(
        "cus_1", [out("in_2", sub(60000, "2026-02-01", plan_id="pl_yearly"), date="2026-02-01")]
    )
    stored = store.get_subscription("cus_1", "sub_1")
    assert stored is not None and stored.plan_external_id == "pl_yearly"
    assert stored.plan_uuid == store.get_plan("pl_yearly").uuid  # type: ignore[union-attr]
    store.void_invoice("in_2")
    assert store.get_subscription("cus_1", "sub_1").plan_external_id == "pl_monthly"  # type: ignore[union-attr]


def test_listings_page_by_internal_id(store: LocalStore) -> None:
    for n in range(5):
        store.import_invoices(
            "cus_1", [out(f"in_{n}", sub(1000 + n, f"2026-0{n + 1}-01"), date=f"2026-0{n + 1}-01")]
        )
    first = store.list_invoices(limit=2)
    rest = store.list_invoices(after_id=first[-1].id, limit=10)
    assert [i.external_id for i in first + rest] == [f"in_{n}" for n in range(5)]
    assert [len(inv.invoice.lines) for inv in rest] == [1, 1, 1]
    page = store.list_customers(limit=1)
    assert [c.external_id for c in page] == ["cus_1"]
    assert [c.external_id for c in store.list_customers(after_id=page[0].id)] == ["cus_2"]
    assert len(store.list_plans(limit=2)) == 2
    assert store.get_invoice_by_uuid(first[0].uuid) == first[0]


def test_invoice_docs_are_chartmogul_shaped(store: LocalStore) -> None:
    inv = OutInvoice(
        "in_1",
        "cus_1",
        JAN,
        "EUR",
        (sub(11900, ext="L1"),),
        (OutTransaction("payment", "successful", dt("2026-01-02"), external_id="pay-1"),),
        due_date=dt("2026-01-15"),
    )
    store.import_invoices("cus_1", [inv])
    [doc] = store.invoice_docs()
    assert doc["uuid"].startswith("inv_") and doc["customer_uuid"].startswith("cus_")
    assert (
        doc["date"] == "2026-01-01T00:00:00.000Z" and doc["due_date"] == "2026-01-15T00:00:00.000Z"
    )
    assert doc["status"] == "paid" and doc["currency"] == "EUR"
    [line] = doc["line_items"]
    assert line["uuid"].startswith("li_") and line["plan_uuid"].startswith("pl_")
    assert line["subscription_uuid"].startswith("sub_")
    assert (line["type"], line["amount_in_cents"], line["external_id"]) == (
        "subscription",
        11900,
        "L1",
    )
    [tx] = doc["transactions"]
    assert tx["uuid"].startswith("tr_") and tx["external_id"] == "pay-1"


def test_fingerprint_is_equal_for_stores_loaded_in_different_orders() -> None:
    records: list[SourceRecord] = [
        customer("cus_1"),
        customer("cus_2", email="b@example.com"),
        invoice("in_1", "2026-01-01", [sub_line(5000)]),
        invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01"), one_time(700)]),
        invoice(
            "in_3",
            "2026-01-05",
            [sub_line(3000, "2026-01-05", sub="sub_9")],
            cid="cus_2",
            currency="JPY",
            transactions=[paid("2026-01-05")],
        ),
        subscription("sub_9", "cancelled", cid="cus_2", cancelled_at="2026-03-01"),
    ]
    a, b = store_with(*records), store_with(*reversed(records))
    assert a.fingerprint() == b.fingerprint()
    assert a.content_dump() == b.content_dump()
    # Loading it all again changes nothing; a real change does.
    push(a, *records)
    assert a.fingerprint() == b.fingerprint()
    a.set_cancellation_dates("cus_2", "sub_9", [])
    assert a.fingerprint() != b.fingerprint()
