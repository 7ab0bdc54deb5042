"""Rows that must not corrupt what is sent: repeated invoice ids, lines naming another
customer's or an unknown subscription, rows added late to an export (issue #15)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasync.exit_status import ExitStatus
from saasync.state import StateStore
from tests.e2e.conftest import RunCli

NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # inside the next incremental window


def sync(run_cli: RunCli, config: Path) -> dict[str, Any]:
    """A sync's JSON report; the sample holds one record the local store refuses (exit 5)."""
    code, out, err = run_cli("sync", "--config", str(config), "--json")
    assert code in (ExitStatus.OK, ExitStatus.PARTIAL), err
    report: dict[str, Any] = json.loads(out)
    assert report["counts"]["balanced"]
    return report


def append(path: Path, *rows: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(row + "\n" for row in rows)


def destination_lines(tmp_path: Path, invoice: str) -> list[tuple[str, str | None, int]]:
    """(line id, subscription id, amount) of one invoice as the destination holds it."""
    with sqlite3.connect(tmp_path / "store" / "analytics.db") as db:
        return list(db.execute(
            "SELECT l.external_id, s.external_id, l.amount_in_cents FROM line_items l "
            "JOIN invoices i ON i.id = l.invoice_id LEFT JOIN subscriptions s ON s.id = l.subscription_id "
            "WHERE i.external_id = ? ORDER BY l.position", (invoice,)))


def subscription_owner(tmp_path: Path, subscription: str) -> list[str]:
    with sqlite3.connect(tmp_path / "store" / "analytics.db") as db:
        return [row[0] for row in db.execute(
            "SELECT c.external_id FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
            "WHERE s.external_id = ?", (subscription,))]


def review_keys(tmp_path: Path) -> dict[str, str]:
    with StateStore(tmp_path / "state" / "state.db") as state:
        return {item.key: item.reason for item in state.review_items("sample")}


def test_csv_duplicate_invoice_id_sends_no_line_of_it_to_the_first_invoice(
        tmp_path: Path, config: Path, sample_dir: Path, run_cli: RunCli) -> None:
    """A second inv_0002_1, under cus_0034, with a line of cus_0034's subscription: before,
    its line was merged into cus_0002's inv_0002_1 and pushed, sub_0034 under cus_0002."""
    duplicate = f"inv_0002_1,cus_0034,2026-11-05,,USD,paid,,,{NOW}"
    append(sample_dir / "invoices.csv", duplicate)
    append(sample_dir / "invoice_lines.csv",
           "inv_0002_1,dup_li1,subscription,sub_0034,starter-yearly,2026-11-05,2027-11-05,1,false,"
           "990.00,,,Starter (yearly)")
    # the appended repeat is the file's last line (the header being row 1)
    row = len((sample_dir / "invoices.csv").read_text(encoding="utf-8").splitlines())
    report = sync(run_cli, config)
    assert subscription_owner(tmp_path, "sub_0034") == ["cus_0034"]
    assert all(line[0] != "dup_li1" for line in destination_lines(tmp_path, "inv_0002_1"))
    held = {q["external_id"] for q in report["quarantined_records"]
            if "duplicate" in q["message"] or "repeated" in q["message"]}
    assert held == {"inv_0002_1", f"invoices.csv row {row}"}
    keys = review_keys(tmp_path)
    assert "invoice:inv_0002_1" in keys and f"invoice:invoices.csv row {row}" in keys
    # the export fixed (the repeat gets its own id): the first is sent with its own line only
    text = (sample_dir / "invoices.csv").read_text(encoding="utf-8")
    (sample_dir / "invoices.csv").write_text(
        text.replace(duplicate, duplicate.replace("inv_0002_1", "inv_0034_x")), encoding="utf-8")
    lines = (sample_dir / "invoice_lines.csv").read_text(encoding="utf-8")
    (sample_dir / "invoice_lines.csv").write_text(
        lines.replace("inv_0002_1,dup_li1", "inv_0034_x,dup_li1"), encoding="utf-8")
    code, _out, err = run_cli("backfill", "--config", str(config), "--since", "2000-01-01", "--json")
    assert code in (ExitStatus.OK, ExitStatus.PARTIAL), err
    assert destination_lines(tmp_path, "inv_0002_1") == [("inv_0002_1_li1", "sub_0002", 2900)]
    assert "invoice:inv_0002_1" not in review_keys(tmp_path)


def test_late_row_with_old_date_is_read_on_next_incremental_run(
        tmp_path: Path, config: Path, sample_dir: Path, run_cli: RunCli) -> None:
    """An invoice added to the export after the first sync, issued in August, with no
    updated_at: its own date is far behind the cursor, but it was never read."""
    sync(run_cli, config)
    append(sample_dir / "invoices.csv", "inv_late_1,cus_0034,2026-08-01,,USD,paid,,,")
    append(sample_dir / "invoice_lines.csv",
           "inv_late_1,inv_late_1_li1,one_time,sub_0034,,,,1,false,50.00,,,Late setup fee")
    append(sample_dir / "transactions.csv",
           "inv_late_1,inv_late_1_tx1,payment,successful,2026-08-01,50.00")
    append(sample_dir / "customers.csv", "cus_late,Late Ltd,,,DE,2025-01-01T00:00:00Z,,,")
    report = sync(run_cli, config)
    assert report["window"]["since"] is not None  # an incremental run
    outcomes = {(s["kind"], s["external_id"]): s["reason"] for s in report["skipped_records"]}
    pushed = {(op["kind"], op["external_id"]) for op in report["ops"]}
    assert outcomes.get(("invoice", "inv_late_1")) == "ONE_TIME_ONLY"
    assert ("customer", "cus_late") in pushed
    # rows read before are still passed over by their dates: only the new ones were read
    assert report["counts"]["read"] < 50
    again = sync(run_cli, config)
    assert again.get("source_unchanged") is True


def test_line_naming_foreign_or_unknown_subscription_is_quarantined_e2e(
        tmp_path: Path, config: Path, sample_dir: Path, run_cli: RunCli) -> None:
    append(sample_dir / "invoices.csv", f"inv_0002_x,cus_0002,2026-11-05,,USD,paid,,,{NOW}",
           f"inv_0002_y,cus_0002,2026-11-06,,USD,paid,,,{NOW}")
    append(sample_dir / "invoice_lines.csv",
           "inv_0002_x,x_li1,subscription,sub_0034,starter-yearly,2026-11-05,2027-11-05,1,false,"
           "990.00,,,Starter (yearly)",
           "inv_0002_y,y_li1,subscription,sub_ghost,starter-monthly,2026-11-06,2026-12-06,1,false,"
           "29.00,,,Starter (monthly)")
    report = sync(run_cli, config)
    reasons = {q["external_id"]: q["reason"] for q in report["quarantined_records"]}
    assert reasons["inv_0002_x"] == "FOREIGN_SUBSCRIPTION"
    assert reasons["inv_0002_y"] == "UNKNOWN_SUBSCRIPTION"
    assert subscription_owner(tmp_path, "sub_0034") == ["cus_0034"]
    assert subscription_owner(tmp_path, "sub_ghost") == []
