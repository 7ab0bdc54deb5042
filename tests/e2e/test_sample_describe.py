"""`saasync sample describe` prints the rows of the sample a sync generates (issue #17):
its dates and amounts are those of the CSV files, for any month."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.cli import main
from saasync.money import to_minor
from saasync.runner import connector_options
from saasync.sample_command import run_for
from saasync.settings import load_settings
from saasync_connectors.files.sample.describe import BULK_ID, scenario_cases
from saasync_connectors.files.sample.export import iso
from saasync_connectors.files.sample.writers import generate


def _describe(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["sample", "describe", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _csv(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _money(cell: str, currency: str) -> int | None:
    return to_minor(cell, currency) if cell else None


def _assert_matches_files(described: dict[str, Any], folder: Path) -> int:
    """Every date and amount described is the one in the files; returns the invoices checked."""
    customers = {r["external_id"]: r for r in _csv(folder, "customers")}
    subs = {r["external_id"]: r for r in _csv(folder, "subscriptions")}
    invoices = {r["external_id"]: r for r in _csv(folder, "invoices")}
    lines = {r["external_id"]: r for r in _csv(folder, "invoice_lines")}
    txs = {r["external_id"]: r for r in _csv(folder, "transactions")}
    scenario_ids = {cid for cid in customers if not BULK_ID.match(cid)}
    assert {c["customer"] for c in described["customers"]} == scenario_ids
    checked = 0
    for c in described["customers"]:
        assert customers[c["customer"]]["created_at"] == c["created_at"]
        for s in c["subscriptions"]:
            row = subs[s["id"]]
            assert row["customer_external_id"] == c["customer"]
            for col in ("started_at", "cancelled_at", "paused_at", "current_period_end"):
                assert row[col] == (s[col] or ""), (s["id"], col)
            assert row["past_cancellation_dates"] == ";".join(s["past_cancellation_dates"])
            assert (row["status"], row["plan_external_id"]) == (s["status"], s["plan"])
        assert len(c["subscriptions"]) == sum(
            r["customer_external_id"] == c["customer"] for r in subs.values())
        for inv in c["invoices"]:
            row, cur = invoices[inv["id"]], inv["currency"]
            assert row["customer_external_id"] == c["customer"]
            assert (row["issued_at"], row["due_at"], row["status"], row["currency"]) == (
                inv["issued_at"], inv["due_at"] or "", inv["status"], cur), inv["id"]
            assert _money(row["discount_amount"], cur) == inv["discount_amount"]
            total = 0
            for line in inv["lines"]:
                lrow = lines[line["id"]]
                assert lrow["invoice_external_id"] == inv["id"]
                for col in ("service_period_start", "service_period_end"):
                    assert lrow[col] == (line[col] or ""), (line["id"], col)
                for col in ("amount", "discount_amount", "tax_amount"):
                    assert _money(lrow[col], cur) == line[col], (line["id"], col)
                total += line["amount"]
            assert total - (inv["discount_amount"] or 0) == inv["total"]
            for tx in inv["transactions"]:
                trow = txs[tx["id"]]
                assert (trow["invoice_external_id"], trow["date"], trow["result"]) == (
                    inv["id"], tx["date"], tx["result"])
                assert _money(trow["amount"], cur) == tx["amount"]
            assert len(inv["transactions"]) == sum(
                t["invoice_external_id"] == inv["id"] for t in txs.values())
            checked += 1
        assert len(c["invoices"]) == sum(
            r["customer_external_id"] == c["customer"] for r in invoices.values())
    return checked


def test_this_month_is_the_export_sync_generates(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    now = datetime.now(UTC)
    described = _describe(capsys)
    settings = load_settings(None)  # the embedded sample setup: path = "builtin:sample"
    _, conn = settings.connection(None)
    folder = Path(connector_options(settings, conn, lambda: now)["path"])
    assert folder.is_relative_to(tmp_path / ".saasync" / "sample")
    assert described["month"] == f"{now:%Y-%m}"
    assert described["as_of"] == iso(datetime(now.year, now.month, now.day, tzinfo=UTC))
    assert described["months"]["M0"] == f"{now:%Y-%m}-01"
    assert _assert_matches_files(described, folder) > 100


@pytest.mark.parametrize("month", ["2027-03", "2026-11"])
def test_another_month_is_the_generated_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, month: str,
) -> None:
    described = _describe(capsys, "--month", month)
    run = run_for(month)
    generate(tmp_path, end=run.end, as_of=run.as_of)
    assert described["month"] == month and described["months"]["M-2"] == {
        "2027-03": "2027-01-01", "2026-11": "2026-09-01"}[month]
    assert _assert_matches_files(described, tmp_path) > 100
    by_id = {c["customer"]: c for c in described["customers"]}
    # the shape SCENARIOS.md gives relative to the run month: cus_bad_date's bad day is in M-2
    bad = by_id["cus_bad_date"]["invoices"][0]["issued_at"]
    assert bad.startswith(described["months"]["M-2"][:8]) and bad.endswith(("-31", "-29", "-30", "-32"))


def test_the_invoices_only_sample(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    described = _describe(capsys, "--month", "2026-11", "--invoices-only")
    run = run_for("2026-11")
    generate(tmp_path, end=run.end, as_of=run.as_of, invoices_only=True)
    (tmp_path / "subscriptions.csv").write_text("external_id,customer_external_id\n", "utf-8")
    assert _assert_matches_files(described, tmp_path) == 14
    assert all(c["case"] for c in described["customers"])


def test_every_scenario_customer_has_its_case_in_scenarios_md(
    capsys: pytest.CaptureFixture[str],
) -> None:
    described = _describe(capsys, "--month", "2026-11")
    assert [c["customer"] for c in described["customers"] if not c["case"]] == []
    assert scenario_cases()["cus_steady_monthly"] == "baseline"
    assert scenario_cases()["cus_bad_date"].startswith("bad row: INVALID_RECORD")
    assert scenario_cases(invoices_only=True)["cus_churned_and_back"] == "stopped, churned, came back"


def test_text_output_and_a_bad_month(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "describe", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "cus_steady_monthly: baseline" in out
    assert "M-2 = 2026-09-01" in out
    assert "inv_bad_date_1  2026-09-31  paid" in out
    assert main(["sample", "describe", "--month", "2026-13"]) == 2
    assert "expected YYYY-MM" in capsys.readouterr().err
