"""``audit`` on the sample: each §7 code on its intended account, none on the in-sync controls."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from saasync.models import AccountStatus
from saasync.reports.html import audit_html
from saasync.reports.out_of_sync import ISSUES_FOUND, AuditReport
from saasync.rules.audit import AuditCode, Finding, MoneyAtStake, MoneyKind, summarize
from tests.factories import customer, dt
from tests.reports.conftest import RunCli, cli_json
from tests.reports.html_check import assert_well_formed

INTENDED = {
    "cus_audit_active_billing_off": ["ACTIVE_BILLING_CYCLE_DISABLED"],
    "cus_audit_active_suspended_sub": ["ACTIVE_SUSPENDED_SUBSCRIPTIONS"],
    "cus_audit_active_no_subs": ["ACTIVE_NO_SUBSCRIPTIONS"],
    "cus_audit_inactive_with_subs": ["INACTIVE_WITH_SUBSCRIPTIONS"],
    "cus_audit_lead_billing_on": ["LEAD_BILLING_CYCLE_ENABLED"],
    "cus_audit_pending_billing_on": ["PENDING_BILLING_CYCLE_ENABLED"],
    "cus_audit_pending_no_subs": ["PENDING_NO_SUBSCRIPTIONS"],
    "cus_audit_suspended_active_sub": ["SUSPENDED_ACTIVE_SUBSCRIPTIONS",
                                       "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"],
    "cus_audit_suspended_no_subs": ["SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"],
}
CONTROLS = ("cus_audit_in_sync", "cus_audit_suspended_in_sync", "cus_audit_inactive_in_sync")
# SCENARIOS.md "money at stake": per month, USD cents; "unknown" or None ("-")
MONEY = {
    "ACTIVE_BILLING_CYCLE_DISABLED": ("not_billed", {"USD": 2900}, False),
    "ACTIVE_SUSPENDED_SUBSCRIPTIONS": ("not_billed", {"USD": 2900}, False),
    "ACTIVE_NO_SUBSCRIPTIONS": ("not_billed", {}, True),
    "INACTIVE_WITH_SUBSCRIPTIONS": ("overcharged", {"USD": 2900}, False),
    "LEAD_BILLING_CYCLE_ENABLED": (None, {}, False),
    "PENDING_BILLING_CYCLE_ENABLED": (None, {}, False),
    "PENDING_NO_SUBSCRIPTIONS": (None, {}, False),
    "SUSPENDED_ACTIVE_SUBSCRIPTIONS": ("overcharged", {"USD": 2900}, False),
}


@pytest.fixture
def report(run_cli: RunCli, synced: Path) -> dict[str, Any]:
    return cli_json(run_cli, "audit", "--config", str(synced))  # type: ignore[no-any-return]


def test_each_code_on_its_intended_account_and_none_on_controls(report: dict[str, Any]) -> None:
    found: dict[str, list[str]] = {}
    for f in report["findings"]:
        found.setdefault(f["customer"], []).append(f["code"])
    assert found == INTENDED
    assert not set(CONTROLS) & set(found)
    assert report["accounts_audited"] == len(INTENDED) + len(CONTROLS)
    assert report["accounts_flagged"] == len(INTENDED)
    assert {f["code"] for f in report["findings"]} == {c.value for c in AuditCode}


def test_money_at_stake_is_the_hand_checked_one(report: dict[str, Any]) -> None:
    for f in report["findings"]:
        if f["code"] in MONEY:
            money = f["money_at_stake"]
            assert (money["kind"], money["per_month"], money["unknown"]) == MONEY[f["code"]], f
        assert f["root_cause"] and f["action"] and f["condition"]
    summary = {s["code"]: s for s in report["summary"]}
    assert len(summary) == 9
    assert summary["SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"]["accounts"] == 2
    assert summary["INACTIVE_WITH_SUBSCRIPTIONS"]["money_per_month"] == {"USD": 2900}
    assert summary["ACTIVE_NO_SUBSCRIPTIONS"]["accounts_money_unknown"] == 1


def test_fail_on_issues_exit_status(run_cli: RunCli, synced: Path) -> None:
    code, out, err = run_cli("audit", "--config", str(synced), "--fail-on-issues")
    assert code == ISSUES_FOUND == 6, err
    assert "ACTIVE_BILLING_CYCLE_DISABLED" in out
    code, _, err = run_cli("audit", "--config", str(synced))
    assert code == 0, err


def test_csv_and_html_hold_every_row(run_cli: RunCli, synced: Path, tmp_path: Path,
                                     report: dict[str, Any]) -> None:
    out_csv, out_html = tmp_path / "a.csv", tmp_path / "a.html"
    code, _, err = run_cli("audit", "--config", str(synced), "--csv", str(out_csv),
                           "--html", str(out_html))
    assert code == 0, err
    with out_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = [(f["customer"], f["code"]) for f in report["findings"]]
    assert [(r["customer"], r["code"]) for r in rows] == expected
    assert rows[0]["money_per_month"] == "USD 2900"
    cells = assert_well_formed(out_html.read_text(encoding="utf-8"))
    for customer_id, code_ in expected:
        assert customer_id in cells and code_ in cells


def test_a_source_without_account_statuses_says_so(run_cli: RunCli, unsynced: Path,
                                                   tmp_path: Path) -> None:
    path = unsynced.parent / "data" / "customers.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["account_status"] = row["billing_cycle_enabled"] = ""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, _ = run_cli("audit", "--config", str(unsynced), "--fail-on-issues",
                           "--html", str(tmp_path / "a.html"))
    assert code == 0 and "no account statuses" in out
    assert_well_formed((tmp_path / "a.html").read_text(encoding="utf-8"))
    doc = cli_json(run_cli, "audit", "--config", str(unsynced))
    assert doc["supported"] is False and doc["findings"] == []


def test_html_escapes_every_value() -> None:
    nasty = '<script>alert("x")</script> & Co'
    finding = Finding("cus_<b>", AuditCode.INACTIVE_WITH_SUBSCRIPTIONS, AccountStatus.INACTIVE,
                      True, ("sub_&amp;",), MoneyAtStake(MoneyKind.OVERCHARGED, {"USD": 2900}))
    report = AuditReport(1, {"cus_<b>": customer("cus_<b>", name=nasty)}, (finding,),
                         tuple(summarize([finding])))
    page = audit_html(report, connection="c<1>", generated=dt("2026-11-15"))
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "sub_&amp;amp;" in page
    cells = assert_well_formed(page)
    assert nasty in cells and "cus_<b>" in cells
