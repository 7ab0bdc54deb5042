"""The whole export, built in memory and written as CSV or JSON Lines files."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dateutil.relativedelta import relativedelta

from ..columns import COLUMNS, INTEGERS
from .bulk import add_bulk
from .export import PLANS, Export, Row, as_text
from .scenarios import Scenarios


def build(end: date, seed: int = 7, as_of: datetime | None = None) -> Export:
    """The whole export in memory: scenario customers, then the seeded bulk, date-sorted.

    The export is taken on the 15th of ``end``'s month unless ``as_of`` says when (the
    demo takes it "now", so renewals due up to today exist and nothing looks late).
    """
    x = empty_export(end, as_of)
    Scenarios(x).add_all()
    add_bulk(x, random.Random(seed))
    _sort(x)
    return x


def empty_export(end: date, as_of: datetime | None) -> Export:
    """An export of ``end``'s month with the plans and no other rows."""
    month0 = datetime(end.year, end.month, 1, tzinfo=UTC)
    x = Export(end, month0, as_of or month0 + timedelta(days=14))
    for plan_id, (name, unit, count, _) in PLANS.items():
        x.plans.append(
            {"external_id": plan_id, "name": name, "interval_unit": unit,
             "interval_count": count, "updated_at": month0 - relativedelta(months=24)}
        )  # fmt: skip
    return x


def _sort(x: Export) -> None:
    x.customers.sort(key=lambda r: (r["created_at"], r["external_id"]))
    x.subscriptions.sort(key=lambda r: (r["started_at"], r["external_id"]))
    x.invoices.sort(key=lambda r: (as_text("issued_at", r["issued_at"], None), r["external_id"]))


# The invoices-only sample: (slug, name, plan, months paid, as months back from the last).
INVOICES_ONLY = (
    ("stopped_paying", "Ines Ueda", "starter-monthly", (6, 5, 4)),
    ("paying_monthly", "Omar Vogel", "growth-monthly", (5, 4, 3, 2, 1, 0)),
    ("churned_and_back", "Rosa Lopez", "starter-monthly", (7, 6, 2, 1, 0)),
)


def build_invoices_only(end: date, as_of: datetime | None = None) -> Export:
    """An accounting system's export: customers and paid invoices, no subscription rows.

    Every subscription is inferred from the invoice lines, so nothing in the export ever
    says one is cancelled; ``auto_churn_days`` does (SCENARIOS.md, "The invoices-only
    sample"). One customer per case: stopped paying months ago, paying every month,
    stopped and came back.
    """
    x = empty_export(end, as_of)
    for slug, name, plan, months in INVOICES_ONLY:
        cid = f"cus_{slug}"
        x.customer(cid, name, x.month(max(months), -2))
        x.paid_months(slug, cid, f"sub_{slug}", plan, months)
    _sort(x)
    return x


def _tables(x: Export) -> dict[str, list[Row]]:
    """Flat rows per CSV file (lines and transactions point at their invoice)."""
    tables: dict[str, list[Row]] = {
        "plans": x.plans, "customers": x.customers, "subscriptions": x.subscriptions,
        "invoices": [], "invoice_lines": [], "transactions": [],
    }  # fmt: skip
    for invoice in x.invoices:
        tables["invoices"].append(invoice)
        for name, nested in (("invoice_lines", "lines"), ("transactions", "transactions")):
            for row in invoice[nested]:
                tables[name].append(
                    {**row, "invoice_external_id": invoice["external_id"],
                     "_currency": invoice["currency"]}
                )  # fmt: skip
    return tables


def _write_csv(x: Export, out_dir: Path) -> None:
    for name, rows in _tables(x).items():
        if not rows:  # the invoices-only export has no subscriptions file at all
            continue
        with (out_dir / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS[name])
            for row in rows:
                currency = row.get("_currency") or row.get("currency")
                writer.writerow([as_text(col, row.get(col), currency) for col in COLUMNS[name]])


def _json_object(row: Row, columns: Sequence[str], currency: str | None) -> Row:
    out: Row = {}
    for col in columns:
        value = row.get(col)
        if value is None or col == "invoice_external_id":
            continue
        if isinstance(value, bool) or (col in INTEGERS and isinstance(value, int)):
            out[col] = value
        else:
            out[col] = as_text(col, value, currency)
    return out


def _write_jsonl(x: Export, out_dir: Path) -> None:
    for name in ("plans", "customers", "subscriptions", "invoices"):
        rows: list[Row] = getattr(x, name)
        if not rows:
            continue
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                obj = _json_object(row, COLUMNS[name], row.get("currency"))
                if name == "invoices":
                    for nested, table in (
                        ("lines", "invoice_lines"),
                        ("transactions", "transactions"),
                    ):
                        obj[nested] = [
                            _json_object(item, COLUMNS[table], row["currency"])
                            for item in row[nested]
                        ]
                handle.write(json.dumps(obj, ensure_ascii=False) + "\n")


def generate(out_dir: Path, *, end: date, seed: int = 7, fmt: str = "csv",
             as_of: datetime | None = None, invoices_only: bool = False) -> None:
    """Write the sample exports for the month of ``end`` into ``out_dir`` (csv or jsonl);
    ``invoices_only``: the small export without subscription rows instead."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    export = build_invoices_only(end, as_of) if invoices_only else build(end, seed, as_of)
    write_export(export, Path(out_dir), fmt)


def write_export(x: Export, out_dir: Path, fmt: str = "csv") -> None:
    """Write the rows of ``x`` as the files connector reads them (``fmt``: csv or jsonl);
    a table without rows gets no file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (_write_csv if fmt == "csv" else _write_jsonl)(x, out_dir)
