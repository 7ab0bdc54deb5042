"""The files connector: every mapping, every bad-row case, windows, and CSV ≡ JSON Lines."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import (
    Connector,
    ConnectorContext,
    Quarantined,
    ReadWindow,
    load_connector_class,
)
from saasync.errors import ConfigError
from saasync.models import (
    AccountStatus,
    Customer,
    Invoice,
    InvoiceStatus,
    Plan,
    SourceSubscription,
    SubscriptionStatus,
)
from saasync.reasons import Reason
from saasync_connectors.files.columns import COLUMNS
from saasync_connectors.files.connector import FilesConnector
from saasync_connectors.files.mapping import INVOICE_STATUSES, SUBSCRIPTION_STATUSES
from saasync_connectors.files.sample.writers import generate

Row = dict[str, Any]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------- building export dirs


def write_csv(directory: Path, table: str, rows: list[Row]) -> None:
    with (directory / f"{table}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS[table], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def customer(cid: str = "cus_1", **kw: Any) -> Row:
    return {"external_id": cid, "name": "Ada", "created_at": "2026-01-05T10:00:00Z", **kw}


def invoice(iid: str = "inv_1", **kw: Any) -> Row:
    row = {
        "external_id": iid, "customer_external_id": "cus_1", "issued_at": "2026-02-01",
        "currency": "USD", "status": "paid",
    }  # fmt: skip
    return {**row, **kw}


def sub_line(iid: str = "inv_1", **kw: Any) -> Row:
    row = {
        "invoice_external_id": iid, "external_id": f"{iid}_li1", "kind": "subscription",
        "subscription_external_id": "sub_1", "plan_external_id": "pl_monthly",
        "service_period_start": "2026-02-01", "service_period_end": "2026-03-01",
        "quantity": "1", "amount": "49.00",
    }  # fmt: skip
    return {**row, **kw}


def payment(iid: str = "inv_1", **kw: Any) -> Row:
    row = {
        "invoice_external_id": iid, "external_id": f"{iid}_tx1", "type": "payment",
        "result": "successful", "date": "2026-02-01T00:05:00Z", "amount": "49.00",
    }  # fmt: skip
    return {**row, **kw}


def export(
    directory: Path,
    *,
    invoices: list[Row] | None = None,
    lines: list[Row] | None = None,
    transactions: list[Row] | None = None,
    customers: list[Row] | None = None,
    subscriptions: list[Row] | None = None,
    plans: list[Row] | None = None,
) -> Path:
    """A small valid CSV export; pass rows to replace any table."""
    tables = {
        "plans": plans if plans is not None else [
            {"external_id": "pl_monthly", "name": "Monthly", "interval_unit": "month"}
        ],
        "customers": customers if customers is not None else [customer()],
        "subscriptions": subscriptions if subscriptions is not None else [
            {"external_id": "sub_1", "customer_external_id": "cus_1",
             "plan_external_id": "pl_monthly", "status": "active", "started_at": "2026-02-01"}
        ],
        "invoices": invoices if invoices is not None else [invoice()],
        "invoice_lines": lines if lines is not None else [sub_line()],
        "transactions": transactions if transactions is not None else [payment()],
    }  # fmt: skip
    for table, rows in tables.items():
        write_csv(directory, table, rows)
    return directory


def read(directory: Path, window: ReadWindow | None = None, **options: Any) -> list[Any]:
    connector = FilesConnector({"path": str(directory), **options}, ConnectorContext())
    return list(connector.read(window or ReadWindow()))


def only(items: list[Any], kind: type) -> list[Any]:
    return [item for item in items if isinstance(item, kind)]


def quarantined(items: list[Any]) -> list[Quarantined]:
    return only(items, Quarantined)


def single_invoice(items: list[Any]) -> Invoice:
    found = only(items, Invoice)
    assert len(found) == 1, quarantined(items)
    return found[0]


# ---------------------------------------------------------------- contract and options


def test_registered_under_the_entry_point_and_meets_the_protocol(tmp_path: Path) -> None:
    assert load_connector_class("files") is FilesConnector
    assert isinstance(
        FilesConnector({"path": str(export(tmp_path))}, ConnectorContext()), Connector
    )


def test_path_is_relative_to_the_base_dir(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    export(tmp_path / "exports")
    connector = FilesConnector({"path": "exports"}, ConnectorContext(base_dir=tmp_path))
    assert only(list(connector.read(ReadWindow())), Customer)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({}, "files connector: invalid configuration\n  path: required"),
        ({"path": "nowhere"}, "option 'path': directory"),
        ({"path": ".", "format": "xml"}, "format: 'xml' is not one of csv, jsonl, auto"),
        ({"path": ".", "encoding": "klingon"}, "encoding: unknown 'klingon'"),
        ({"path": ".", "pth": "x"}, "pth: unknown key"),
    ],
)
def test_bad_options_are_config_errors(
    tmp_path: Path, options: dict[str, Any], needle: str
) -> None:
    export(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        FilesConnector(options, ConnectorContext(base_dir=tmp_path))


def test_format_auto_detects_and_refuses_ambiguity(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no export file"):
        FilesConnector({"path": str(tmp_path)}, ConnectorContext())
    (tmp_path / "customers.jsonl").write_text('{"external_id": "cus_j"}\n')
    assert FilesConnector({"path": str(tmp_path)}, ConnectorContext()).format == "jsonl"
    write_csv(tmp_path, "customers", [customer()])
    with pytest.raises(ConfigError, match="both CSV and JSON Lines"):
        FilesConnector({"path": str(tmp_path)}, ConnectorContext())
    assert (
        FilesConnector({"path": str(tmp_path), "format": "csv"}, ConnectorContext()).format == "csv"
    )


def test_missing_optional_files_are_fine(tmp_path: Path) -> None:
    write_csv(tmp_path, "customers", [customer()])
    items = read(tmp_path)
    assert [type(i) for i in items] == [Customer]


def test_yield_order_is_plans_customers_subscriptions_invoices(tmp_path: Path) -> None:
    kinds = [type(item).__name__ for item in read(export(tmp_path))]
    assert kinds == ["Plan", "Customer", "SourceSubscription", "Invoice"]


# ---------------------------------------------------------------- mappings


def test_a_full_invoice_maps_every_field(tmp_path: Path) -> None:
    lines = [
        sub_line(quantity="3", prorated="true", amount="147.00", discount_amount="3.00",
                 tax_amount="0", description="Seats"),
        {"invoice_external_id": "inv_1", "external_id": "li_fee", "kind": "one_time",
         "amount": "10.00"},
    ]  # fmt: skip
    inv = invoice(due_at="2026-02-15", discount_amount="7.00", discount_code="WELCOME",
                  updated_at="2026-02-02T08:00:00+02:00", currency="usd")  # fmt: skip
    got = single_invoice(read(export(tmp_path, invoices=[inv], lines=lines)))
    assert got.currency == "USD" and got.status is InvoiceStatus.PAID
    assert got.due_at == utc("2026-02-15") and got.updated_at == utc("2026-02-02T06:00:00")
    assert (got.discount_amount, got.discount_code) == (700, "WELCOME")
    first, fee = got.lines
    assert (first.kind, first.quantity, first.prorated, first.amount) == (
        "subscription",
        3,
        True,
        14700,
    )
    assert (first.discount_amount, first.tax_amount, first.description) == (300, 0, "Seats")
    assert first.service_period_start == utc("2026-02-01")
    assert (fee.kind, fee.amount, fee.subscription_external_id) == ("one_time", 1000, None)
    (tx,) = got.transactions
    assert (tx.type, tx.result, tx.amount, tx.date) == (
        "payment", "successful", 4900, utc("2026-02-01T00:05:00"),
    )  # fmt: skip


@pytest.mark.parametrize("word", sorted(INVOICE_STATUSES))
def test_every_invoice_status_word(tmp_path: Path, word: str) -> None:
    got = single_invoice(read(export(tmp_path, invoices=[invoice(status=word.upper())])))
    assert got.status is INVOICE_STATUSES[word]
    assert got.source_status == word.upper()


def test_invoice_status_table_is_the_documented_one() -> None:
    expected = {
        "draft": "draft", "open": "open", "posted": "open", "payment_due": "open",
        "pending": "open", "past_due": "open", "paid": "paid", "closed": "paid",
        "failed": "failed", "uncollectible": "failed", "not_paid": "failed", "void": "void",
        "voided": "void", "cancelled": "void", "canceled": "void", "deleted": "void",
    }  # fmt: skip
    assert {k: v.value for k, v in INVOICE_STATUSES.items()} == expected


@pytest.mark.parametrize("word", sorted(SUBSCRIPTION_STATUSES))
def test_every_subscription_status_word(tmp_path: Path, word: str) -> None:
    sub = {"external_id": "sub_1", "customer_external_id": "cus_1", "status": f" {word.title()} ",
           "cancelled_at": "2026-03-01"}  # fmt: skip
    (got,) = only(read(export(tmp_path, subscriptions=[sub])), SourceSubscription)
    assert got.status is SUBSCRIPTION_STATUSES[word]
    assert got.source_status == word.title()


def test_subscription_status_table_is_the_documented_one() -> None:
    expected = {
        "future": "future", "incomplete": "future", "pending": "future",
        "trialing": "trialing", "in_trial": "trialing", "active": "active",
        "non_renewing": "active", "past_due": "past_due", "unpaid": "past_due",
        "paused": "paused", "on_hold": "paused", "suspended": "paused",
        "cancelled": "cancelled", "canceled": "cancelled", "expired": "cancelled",
        "incomplete_expired": "cancelled",
    }  # fmt: skip
    assert {k: v.value for k, v in SUBSCRIPTION_STATUSES.items()} == expected


def test_status_words_accept_spaces_and_hyphens(tmp_path: Path) -> None:
    got = single_invoice(read(export(tmp_path, invoices=[invoice(status="Payment-Due")])))
    assert got.status is InvoiceStatus.OPEN
    sub = {"external_id": "sub_1", "customer_external_id": "cus_1", "status": "Non Renewing"}
    (s,) = only(read(export(tmp_path, subscriptions=[sub])), SourceSubscription)
    assert s.status is SubscriptionStatus.ACTIVE


@pytest.mark.parametrize(
    ("word", "kind"),
    [("subscription", "subscription"), ("Recurring", "subscription"),
     ("one_time", "one_time"), ("one-time", "one_time"), ("setup_fee", "one_time")],
)  # fmt: skip
def test_every_line_kind(tmp_path: Path, word: str, kind: str) -> None:
    got = single_invoice(read(export(tmp_path, lines=[sub_line(kind=word)])))
    assert got.lines[0].kind == kind


@pytest.mark.parametrize(
    ("currency", "text", "minor"),
    [("USD", "49.00", 4900), ("USD", "49", 4900), ("USD", "0.5", 50), ("USD", "-10.00", -1000),
     ("EUR", "1234.56", 123456), ("JPY", "5000", 5000), ("KWD", "1.250", 1250),
     ("KWD", "0.001", 1), ("CLF", "1.2345", 12345)],
)  # fmt: skip
def test_money_is_major_units_converted_exactly(
    tmp_path: Path, currency: str, text: str, minor: int
) -> None:
    directory = export(
        tmp_path, invoices=[invoice(currency=currency)], lines=[sub_line(amount=text)],
        transactions=[],
    )  # fmt: skip
    got = single_invoice(read(directory))
    assert got.lines[0].amount == minor


@pytest.mark.parametrize(
    ("currency", "text", "needle"),
    [("USD", "49.001", "more decimals than USD allows"), ("JPY", "5000.5", "JPY allows (0)"),
     ("KWD", "1.2505", "KWD allows (3)"), ("USD", "abc", "not a decimal"),
     ("USD", "1,200.00", "not a decimal"), ("USD", "$49", "not a decimal"),
     ("USD", "NaN", "not a finite amount")],
)  # fmt: skip
def test_bad_amounts_quarantine_the_invoice(
    tmp_path: Path, currency: str, text: str, needle: str
) -> None:
    items = read(export(tmp_path, invoices=[invoice(currency=currency)],
                        lines=[sub_line(amount=text)], transactions=[]))  # fmt: skip
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.reason, q.field) == (
        "invoice", "inv_1", Reason.INVALID_RECORD, "lines.amount",
    )  # fmt: skip
    assert q.location == "invoice_lines.csv row 2"
    assert needle in q.message and "inv_1" in q.message and "amount" in q.message


@pytest.mark.parametrize(
    ("field", "table", "value"),
    [("discount_amount", "invoice", "1.001"), ("lines.tax_amount", "line", "x"),
     ("transactions.amount", "transaction", "4.999")],
)  # fmt: skip
def test_every_money_field_is_checked(tmp_path: Path, field: str, table: str, value: str) -> None:
    column = field.split(".")[-1]
    kw = {
        "invoices": [invoice(**{column: value})] if table == "invoice" else None,
        "lines": [sub_line(**{column: value})] if table == "line" else None,
        "transactions": [payment(**{column: value})] if table == "transaction" else None,
    }
    (q,) = quarantined(read(export(tmp_path, **kw)))  # type: ignore[arg-type]
    assert (q.kind, q.field, q.reason) == ("invoice", field, Reason.INVALID_RECORD)


def test_customer_account_status_and_billing_flag(tmp_path: Path) -> None:
    rows = [customer("cus_1", account_status="suspended", billing_cycle_enabled="No"),
            customer("cus_2", account_status="", billing_cycle_enabled=""),
            customer("cus_3", account_status="DORMANT")]  # fmt: skip
    items = read(export(tmp_path, customers=rows))
    first, second = only(items, Customer)
    assert (first.account_status, first.billing_cycle_enabled) == (AccountStatus.SUSPENDED, False)
    assert (second.account_status, second.billing_cycle_enabled, second.email) == (None, None, None)
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.reason, q.field) == (
        "customer", "cus_3", Reason.UNKNOWN_STATUS, "account_status",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("unit", "count", "expected"),
    [("month", "3", ("month", 3)), ("Monthly", "", ("month", 1)), ("years", "1", ("year", 1)),
     ("week", "2", ("week", 2)), ("daily", "30", ("day", 30))],
)  # fmt: skip
def test_plan_intervals(tmp_path: Path, unit: str, count: str, expected: tuple[str, int]) -> None:
    plan = {"external_id": "pl", "name": "P", "interval_unit": unit, "interval_count": count}
    (got,) = only(read(export(tmp_path, plans=[plan])), Plan)
    assert (got.interval_unit, got.interval_count) == expected


# ---------------------------------------------------------------- bad rows


def test_wrong_date(tmp_path: Path) -> None:
    items = read(export(tmp_path, invoices=[invoice(), invoice("inv_2", issued_at="2026-02-30")],
                        lines=[sub_line(), sub_line("inv_2")]))  # fmt: skip
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.reason, q.field, q.location) == (
        "invoice", "inv_2", Reason.INVALID_RECORD, "issued_at", "invoices.csv row 3",
    )  # fmt: skip
    assert "'inv_2'" in q.message and "issued_at" in q.message and "2026-02-30" in q.message
    assert q.raw is not None and q.raw["issued_at"] == "2026-02-30"
    assert [i.external_id for i in only(items, Invoice)] == ["inv_1"]


def test_unknown_status_is_never_guessed(tmp_path: Path) -> None:
    (q,) = quarantined(read(export(tmp_path, invoices=[invoice(status="awaiting_approval")])))
    assert (q.kind, q.reason, q.field, q.location) == (
        "invoice", Reason.UNKNOWN_STATUS, "status", "invoices.csv row 2",
    )  # fmt: skip
    sub = {"external_id": "sub_9", "customer_external_id": "cus_1", "status": "zombie"}
    known = {"external_id": "sub_1", "customer_external_id": "cus_1", "status": "active"}
    (q,) = quarantined(read(export(tmp_path, subscriptions=[sub, known])))
    assert (q.kind, q.external_id, q.reason, q.field) == (
        "subscription", "sub_9", Reason.UNKNOWN_STATUS, "status",
    )  # fmt: skip


def test_negative_quantity_quarantines_the_whole_invoice_naming_the_line(tmp_path: Path) -> None:
    lines = [sub_line(), sub_line(external_id="li_bad", quantity="-2")]
    items = read(export(tmp_path, lines=lines))
    assert not only(items, Invoice)
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.reason, q.field, q.location) == (
        "invoice", "inv_1", Reason.INVALID_RECORD, "lines.quantity", "invoice_lines.csv row 3",
    )  # fmt: skip
    assert "li_bad" in q.message and "invoice_lines.csv row 3" in q.message
    assert q.raw is not None and [line["quantity"] for line in q.raw["lines"]] == ["1", "-2"]
    assert q.raw["lines"][1]["subscription_external_id"] == "sub_1"


@pytest.mark.parametrize(
    ("currency", "needle"), [("", "currency is required"), ("XYZ", "unknown currency code")]
)
def test_missing_or_unknown_currency(tmp_path: Path, currency: str, needle: str) -> None:
    (q,) = quarantined(read(export(tmp_path, invoices=[invoice(currency=currency)])))
    assert (q.kind, q.field, q.reason) == ("invoice", "currency", Reason.INVALID_RECORD)
    assert needle in q.message


def test_orphan_lines_and_transactions(tmp_path: Path) -> None:
    items = read(export(tmp_path, lines=[sub_line(), sub_line("inv_ghost")],
                        transactions=[payment(), payment("inv_ghost")]))  # fmt: skip
    assert single_invoice(items).external_id == "inv_1"
    orphans = quarantined(items)
    assert [(q.kind, q.external_id, q.field, q.location) for q in orphans] == [
        ("line", "inv_ghost_li1", "invoice_external_id", "invoice_lines.csv row 3"),
        ("transaction", "inv_ghost_tx1", "invoice_external_id", "transactions.csv row 3"),
    ]
    assert all("inv_ghost" in q.message and q.reason is Reason.INVALID_RECORD for q in orphans)
    assert items[-2:] == orphans  # reported after the invoices


def test_bad_transaction_quarantines_the_invoice(tmp_path: Path) -> None:
    (q,) = quarantined(read(export(tmp_path, transactions=[payment(result="maybe")])))
    assert (q.kind, q.field, q.location) == (
        "invoice",
        "transactions.result",
        "transactions.csv row 2",
    )


@pytest.mark.parametrize(
    ("line", "field"),
    [({"service_period_end": ""}, "lines.service_period_end"),
     ({"service_period_end": "2026-01-01"}, "lines.service_period_end"),
     ({"plan_external_id": ""}, "lines.plan_external_id"),
     ({"kind": "addon"}, "lines.kind"), ({"kind": ""}, "lines.kind"),
     ({"amount": ""}, "lines.amount"), ({"quantity": "1.5"}, "lines.quantity"),
     ({"prorated": "maybe"}, "lines.prorated")],
)  # fmt: skip
def test_bad_line_fields_are_named(tmp_path: Path, line: Row, field: str) -> None:
    (q,) = quarantined(read(export(tmp_path, lines=[sub_line(**line)])))
    assert (q.kind, q.field, q.reason) == ("invoice", field, Reason.INVALID_RECORD)


def test_invoice_without_lines(tmp_path: Path) -> None:
    (q,) = quarantined(read(export(tmp_path, lines=[])))
    assert (q.field, q.external_id) == ("lines", "inv_1")


def test_cancelled_subscription_needs_its_date(tmp_path: Path) -> None:
    sub = {"external_id": "sub_1", "customer_external_id": "cus_1", "status": "canceled"}
    (q,) = quarantined(read(export(tmp_path, subscriptions=[sub])))
    assert (q.kind, q.field) == ("subscription", "cancelled_at")


def test_duplicate_invoice_is_quarantined(tmp_path: Path) -> None:
    items = read(export(tmp_path, invoices=[invoice(), invoice()]))
    assert not only(items, Invoice)  # CSV: the line of inv_1 may be either row's
    first, duplicate = quarantined(items)
    assert (duplicate.field, duplicate.location) == ("external_id", "invoices.csv row 3")
    assert "invoices.csv row 2" in duplicate.message
    assert (first.field, first.location) == ("external_id", "invoices.csv row 2")


def test_ids_sharing_a_hash_are_not_taken_for_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids seen are kept as hashes; a hash met twice is confirmed against the file."""
    import saasync_connectors.files.connector as module

    monkeypatch.setattr(module, "hash", lambda _text: 42, raising=False)
    export(tmp_path, invoices=[invoice("inv_1"), invoice("inv_2"), invoice("inv_1")],
           lines=[sub_line("inv_1"), sub_line("inv_2")])
    items = read(tmp_path)
    assert [i.external_id for i in only(items, Invoice)] == ["inv_2"]
    first, duplicate = quarantined(items)
    assert (first.external_id, first.location) == ("inv_1", "invoices.csv row 2")
    assert (duplicate.external_id, duplicate.location) == ("inv_1", "invoices.csv row 4")
    assert "first read at invoices.csv row 2" in duplicate.message
    # JSON Lines: the same, the first inv_1 kept with its own nested line
    for name in ("invoices", "invoice_lines", "transactions"):
        (tmp_path / f"{name}.csv").unlink()
    line = {k: v for k, v in sub_line().items() if k != "invoice_external_id"}
    jsonl_dir = tmp_path / "jsonl"
    jsonl_dir.mkdir()
    jsonl_export(jsonl_dir, [{**invoice(i), "lines": [line]} for i in ("inv_1", "inv_2", "inv_1")])
    items = read(jsonl_dir)
    assert sorted(i.external_id for i in only(items, Invoice)) == ["inv_1", "inv_2"]
    (duplicate,) = quarantined(items)
    assert "first read at invoices.jsonl line 1" in duplicate.message


def test_many_duplicates_are_all_quarantined_past_the_located_ones(tmp_path: Path) -> None:
    from saasync_connectors.files.connector import MAX_RESCANS

    copies = MAX_RESCANS + 5
    line = {k: v for k, v in sub_line().items() if k != "invoice_external_id"}
    jsonl_export(tmp_path, [{**invoice("inv_1"), "lines": [line]}] * (copies + 1))
    found = quarantined(read(tmp_path))
    assert len(found) == copies
    assert all("duplicate invoice" in q.message for q in found)
    assert sum("not located" in q.message for q in found) == 5
    # CSV finds every repeated row in one extra read: all located, the first held too
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    found = quarantined(read(export(csv_dir, invoices=[invoice("inv_1")] * (copies + 1))))
    assert len(found) == copies + 1 and not any("not located" in q.message for q in found)


def test_csv_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        "external_id,name\ncus_1,Ada\ncus_2,Bob,extra\ncus_3,Cy\n", encoding="utf-8"
    )
    items = read(tmp_path)
    assert [c.external_id for c in only(items, Customer)] == ["cus_1", "cus_3"]
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.location) == ("customer", "cus_2", "customers.csv row 3")


def test_quoted_multiline_fields_keep_row_numbers(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        'external_id,name,created_at\ncus_1,"Ada\nLovelace",2026-01-01\ncus_2,Bob,never\n',
        encoding="utf-8",
    )
    items = read(tmp_path)
    assert only(items, Customer)[0].name == "Ada\nLovelace"
    assert quarantined(items)[0].location == "customers.csv row 4"


def test_non_utf8_rows_are_quarantined_alone(tmp_path: Path) -> None:
    export(tmp_path)
    (tmp_path / "customers.csv").write_bytes(
        b"external_id,name,email\n"
        b"cus_1,Ada,ada@example.com\n"
        b"cus_2,Jos\xe9 Mu\xf1oz,jose@example.com\n"
        b"cus_3,Zo\xc3\xab,zoe@example.com\n"
    )
    items = read(tmp_path)
    assert [(c.external_id, c.name) for c in only(items, Customer)] == [
        ("cus_1", "Ada"), ("cus_3", "Zoë"),
    ]  # fmt: skip
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.reason, q.field, q.location) == (
        "customer", "cus_2", Reason.INVALID_RECORD, "name", "customers.csv row 3",
    )  # fmt: skip
    assert "not valid utf-8" in q.message and "e9" in q.message


def test_non_utf8_line_quarantines_its_invoice(tmp_path: Path) -> None:
    export(tmp_path)
    path = tmp_path / "invoice_lines.csv"
    path.write_bytes(path.read_bytes().replace(b"inv_1_li1", b"inv_1_l\xff"))
    items = read(tmp_path)
    (q,) = quarantined(items)
    assert (q.kind, q.external_id, q.field, q.location) == (
        "invoice", "inv_1", "lines.external_id", "invoice_lines.csv row 2",
    )  # fmt: skip


def test_encoding_option_reads_latin1(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"external_id,name\ncus_2,Jos\xe9\n")
    (got,) = read(tmp_path, encoding="latin-1")
    assert got.name == "José"


def test_unreadable_header_quarantines_the_file(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"external_id,n\xe4me\ncus_1,Ada\n")
    (q,) = read(tmp_path)
    assert (q.kind, q.location) == ("file", "customers.csv row 1")


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "customers.jsonl").write_bytes(
        b'{"external_id": "cus_1", "name": "Ada"}\n'
        b"{not json\n"
        b"\n"
        b'{"external_id": "cus_2", "name": "Jos\xe9"}\n'
        b"[1, 2]\n"
        b'{"external_id": "cus_3", "name": "Cy", "billing_cycle_enabled": true}\n'
    )
    items = read(tmp_path)
    assert [c.external_id for c in only(items, Customer)] == ["cus_1", "cus_3"]
    locations = [(q.external_id, q.field, q.location) for q in quarantined(items)]
    assert locations == [
        (None, None, "customers.jsonl line 2"),
        ("cus_2", "name", "customers.jsonl line 4"),
        (None, None, "customers.jsonl line 5"),
    ]


def test_jsonl_nested_lines_and_exact_numbers(tmp_path: Path) -> None:
    obj = {
        "external_id": "inv_1", "customer_external_id": "cus_1", "issued_at": "2026-02-01",
        "currency": "KWD", "status": "paid", "discount_amount": None,
        "lines": [{"kind": "one_time", "amount": 1.25}, {"kind": "one_time", "amount": "0.005"}],
        "transactions": [{"type": "payment", "result": "successful", "date": "2026-02-01",
                          "amount": 1.255}],
    }  # fmt: skip
    bad = {**obj, "external_id": "inv_2", "lines": [{"kind": "one_time", "amount": 0.1234}]}
    (tmp_path / "invoices.jsonl").write_text(json.dumps(obj) + "\n" + json.dumps(bad) + "\n")
    items = read(tmp_path)
    got = single_invoice(items)
    assert [line.amount for line in got.lines] == [1250, 5]
    assert got.transactions[0].amount == 1255
    (q,) = quarantined(items)
    assert (q.external_id, q.field, q.location) == (
        "inv_2", "lines.amount", "invoices.jsonl line 2, lines[0]",
    )  # fmt: skip
    json.dumps(q.raw)  # the review queue can store it


# ---------------------------------------------------------------- windows


def windowed(tmp_path: Path) -> Path:
    customers = [customer("cus_old", updated_at="2026-01-10"),
                 customer("cus_new", updated_at="2026-03-10"),
                 customer("cus_created", created_at="2026-03-02"),
                 {"external_id": "cus_timeless", "name": "No dates"}]  # fmt: skip
    invoices = [invoice("inv_jan", issued_at="2026-01-01"),
                invoice("inv_feb_paid_mar", issued_at="2026-02-01", updated_at="2026-03-05"),
                invoice("inv_mar", issued_at="2026-03-01"),
                invoice("inv_bad", issued_at="2026-01-15", status="weird"),
                invoice("inv_apr", issued_at="2026-04-01")]  # fmt: skip
    lines = [sub_line(i["external_id"]) for i in invoices]
    return export(tmp_path, customers=customers, invoices=invoices, lines=lines, transactions=[])


def ids(items: list[Any]) -> list[str | None]:
    return [item.external_id for item in items]


def test_incremental_window(tmp_path: Path) -> None:
    directory = windowed(tmp_path)
    everything = read(directory)
    assert len(everything) == 1 + 4 + 1 + 5
    items = read(directory, ReadWindow("incremental", since=utc("2026-03-01")))
    assert ids(only(items, Customer)) == ["cus_new", "cus_created", "cus_timeless"]
    assert ids(only(items, Invoice)) == ["inv_feb_paid_mar", "inv_mar", "inv_apr"]
    assert not quarantined(items)  # inv_bad was issued in January
    assert ids(only(items, Plan)) == ["pl_monthly"]  # no timestamp at all: always read
    assert ids(only(items, SourceSubscription)) == []  # started 2026-02-01


def test_backfill_window(tmp_path: Path) -> None:
    window = ReadWindow("backfill", since=utc("2026-01-01"), until=utc("2026-03-01"))
    items = read(windowed(tmp_path), window)
    assert ids(only(items, Invoice)) == ["inv_jan", "inv_feb_paid_mar"]  # [since, until)
    assert ids(quarantined(items)) == ["inv_bad"]
    assert len(only(items, Customer)) == 4 and only(items, Plan) and only(items, SourceSubscription)


# ---------------------------------------------------------------- CSV ≡ JSON Lines


def test_csv_and_jsonl_give_identical_records(tmp_path: Path) -> None:
    for fmt in ("csv", "jsonl"):
        generate(tmp_path / fmt, end=date(2026, 11, 1), fmt=fmt)
    from_csv = read(tmp_path / "csv")
    from_jsonl = read(tmp_path / "jsonl")
    records = [i for i in from_csv if not isinstance(i, Quarantined)]
    assert records == [i for i in from_jsonl if not isinstance(i, Quarantined)]
    assert len(records) > 1500

    def problems(items: list[Any]) -> list[tuple[Any, ...]]:
        return [(q.kind, q.external_id, q.reason, q.field) for q in quarantined(items)]

    assert problems(from_csv) == problems(from_jsonl)
    assert len(problems(from_csv)) == 3


# ---------------------------------------------------------------- repeated invoice ids (issue #15)


def jsonl_export(directory: Path, invoices: list[Row]) -> Path:
    (directory / "customers.jsonl").write_text(
        "".join(json.dumps(customer(cid)) + "\n" for cid in ("cus_1", "cus_2")), encoding="utf-8")
    (directory / "invoices.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in invoices), encoding="utf-8")
    return directory


def test_csv_duplicate_invoice_id_quarantines_all_rows_and_keeps_first(tmp_path: Path) -> None:
    """A second inv_1 under another customer, with its own line: in CSV the lines of a
    repeated id cannot be told apart, so no line of it may reach an invoice. Before, the
    first inv_1 was sent with the duplicate's line merged into it."""
    export(tmp_path,
           customers=[customer("cus_1"), customer("cus_2")],
           subscriptions=[],
           invoices=[invoice("inv_1"), invoice("inv_2"), invoice("inv_1", customer_external_id="cus_2")],
           lines=[sub_line("inv_1"), sub_line("inv_2", subscription_external_id="sub_2"),
                  sub_line("inv_1", external_id="dup_li", subscription_external_id="sub_9",
                           amount="999.00")],
           transactions=[payment("inv_1"), payment("inv_2")])
    items = read(tmp_path)
    invoices = only(items, Invoice)
    assert [i.external_id for i in invoices] == ["inv_2"]
    assert all(line.subscription_external_id != "sub_9" for i in invoices for line in i.lines)
    first, duplicate = quarantined(items)
    # the first row: held, with every line and payment naming the id, keyed by the id
    assert (first.key, first.field, first.location) == ("invoice:inv_1", "external_id", "invoices.csv row 2")
    assert "repeated at invoices.csv row 4" in first.message
    assert {line["external_id"] for line in first.raw["lines"]} == {"inv_1_li1", "dup_li"}
    assert len(first.raw["transactions"]) == 1
    # the repeated row: quarantined under its own row, so it is counted apart
    assert duplicate.key == "invoice:invoices.csv row 4" and duplicate.external_id == "inv_1"
    assert "first read at invoices.csv row 2" in duplicate.message
    assert not any(q.kind in ("line", "transaction") for q in quarantined(items))  # not orphans


def test_jsonl_duplicate_invoice_id_quarantines_the_duplicate_and_keeps_first(tmp_path: Path) -> None:
    """JSON Lines nests each invoice's lines: the first keeps its own, the repeat is held."""
    dup_line = {k: v for k, v in sub_line("inv_1", subscription_external_id="sub_9").items()
                if k != "invoice_external_id"}
    own = {k: v for k, v in sub_line("inv_1").items() if k != "invoice_external_id"}
    jsonl_export(tmp_path, [{**invoice("inv_1"), "lines": [own]},
                            {**invoice("inv_1", customer_external_id="cus_2"), "lines": [dup_line]}])
    items = read(tmp_path)
    first = single_invoice(items)
    assert [line.subscription_external_id for line in first.lines] == ["sub_1"]
    (duplicate,) = quarantined(items)
    assert duplicate.key == "invoice:invoices.jsonl line 2"


# ---------------------------------------------------------------- lines naming subscriptions (issue #15)


def two_customers(tmp_path: Path, lines: list[Row], subscriptions: list[Row] | None = None) -> list[Any]:
    subs = subscriptions if subscriptions is not None else [
        {"external_id": sid, "customer_external_id": cid, "plan_external_id": "pl_monthly",
         "status": "active"} for sid, cid in (("sub_1", "cus_1"), ("sub_2", "cus_2"))]
    export(tmp_path, customers=[customer("cus_1"), customer("cus_2")], subscriptions=subs,
           invoices=[invoice("inv_1"), invoice("inv_2", customer_external_id="cus_2")],
           lines=lines, transactions=[])
    return read(tmp_path)


def test_line_naming_unknown_subscription_is_quarantined(tmp_path: Path) -> None:
    items = two_customers(tmp_path, [sub_line("inv_1", subscription_external_id="sub_nope"),
                                     sub_line("inv_2", subscription_external_id="sub_2")])
    assert [i.external_id for i in only(items, Invoice)] == ["inv_2"]
    (q,) = quarantined(items)
    assert (q.reason, q.external_id, q.field) == (
        Reason.UNKNOWN_SUBSCRIPTION, "inv_1", "lines.subscription_external_id")
    assert q.location == "invoice_lines.csv row 2" and "'sub_nope'" in q.message


def test_line_naming_foreign_subscription_is_quarantined(tmp_path: Path) -> None:
    items = two_customers(tmp_path, [sub_line("inv_1", subscription_external_id="sub_2"),
                                     sub_line("inv_2", subscription_external_id="sub_2")])
    assert [i.external_id for i in only(items, Invoice)] == ["inv_2"]
    (q,) = quarantined(items)
    assert (q.reason, q.external_id) == (Reason.FOREIGN_SUBSCRIPTION, "inv_1")
    assert "'cus_2'" in q.message and "'cus_1'" in q.message


def test_without_subscription_rows_the_first_customer_to_use_an_id_keeps_it(tmp_path: Path) -> None:
    """Inferred subscriptions: inv_1 (cus_1) is first in the file to name sub_1, so
    cus_2's inv_2 naming it too is foreign, in every run and every partition."""
    items = two_customers(tmp_path, [sub_line("inv_1"), sub_line("inv_2")], subscriptions=[])
    assert [i.external_id for i in only(items, Invoice)] == ["inv_1"]
    (q,) = quarantined(items)
    assert (q.reason, q.external_id) == (Reason.FOREIGN_SUBSCRIPTION, "inv_2")
    # the same in JSON Lines, read in partitions: the claim is seen across partitions
    jsonl = tmp_path / "jsonl"
    jsonl.mkdir()
    line = {k: v for k, v in sub_line().items() if k != "invoice_external_id"}
    jsonl_export(jsonl, [{**invoice("inv_1"), "lines": [line]},
                         {**invoice("inv_2", customer_external_id="cus_2"), "lines": [line]}])
    found: list[Any] = []
    for index in range(2):
        connector = FilesConnector({"path": str(jsonl)}, ConnectorContext())
        connector.partition(index, 2)
        found += list(connector.read(ReadWindow()))
    assert [i.external_id for i in only(found, Invoice)] == ["inv_1"]
    assert [(q.reason, q.external_id) for q in quarantined(found)] == [
        (Reason.FOREIGN_SUBSCRIPTION, "inv_2")]
