"""``reconcile``: one primary §6 reason per missing subscription, and totals that add up exactly."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import Quarantined
from saasync.destinations.chartmogul.readback import DestinationSnapshot
from saasync.models import Customer, SourceRecord, SourceSubscription
from saasync.reasons import Reason, StatusCause
from saasync.reports.reconciliation import (
    DEFAULT_RULES,
    MISSING_REASONS,
    HeldDestination,
    Reconciliation,
    SourceRead,
    quarantined_ids,
    reconcile,
)
from saasync.rules.builder import RuleSettings, build_customer, histories_from
from saasync.rules.changeset import CancellationMarker
from saasync.rules.status import SubStatus
from tests.factories import (
    PLANS,
    customer,
    dt,
    invoice,
    one_time,
    sub_line,
    subscription,
)
from tests.reports.conftest import RunCli, T, cli_json
from tests.reports.html_check import assert_well_formed

AT = dt("2026-03-15")


def source_of(*records: SourceRecord, quarantined: tuple[Quarantined, ...] = ()) -> SourceRead:
    recs = [customer(), *records]
    return SourceRead(
        customers={r.external_id: r for r in recs if isinstance(r, Customer)},
        plans=PLANS,
        subscriptions={r.external_id: r for r in recs if isinstance(r, SourceSubscription)},
        histories=histories_from(recs),
        quarantined=quarantined,
    )


def synced(source: SourceRead, rules: RuleSettings = DEFAULT_RULES) -> HeldDestination:
    """What a sync would have left at the destination."""
    invoices, cancellations = [], {}
    for history in source.histories.values():
        changes = build_customer(history, PLANS, rules)
        invoices += list(changes.invoices)
        cancellations |= {(m.customer_external_id, m.subscription_external_id):
                          m.cancellation_dates for m in changes.cancellations}
    return HeldDestination(invoices, cancellations, list(source.customers), PLANS)


def only_reason(rec: Reconciliation) -> Reason:
    assert rec.balanced and rec.source_total == 1 and rec.present == 0
    assert len(rec.missing) == 1
    return rec.missing[0].reason


def check(*records: SourceRecord, rules: RuleSettings = DEFAULT_RULES,
          synced_first: bool = True, quarantined: frozenset[str] = frozenset()) -> Reason:
    source = source_of(subscription(), *records)
    dest = synced(source, rules) if synced_first else HeldDestination()
    return only_reason(reconcile(source, dest, AT, rules, quarantined))


def test_NO_INVOICE() -> None:
    assert check() is Reason.NO_INVOICE


def test_ZERO_FIRST_INVOICE() -> None:
    inv = invoice("in_1", "2026-03-01", [sub_line(0, "2026-03-01")])
    assert check(inv) is Reason.ZERO_FIRST_INVOICE


def test_FULLY_DISCOUNTED() -> None:
    inv = invoice("in_1", "2026-03-01", [sub_line(10000, "2026-03-01")], discount_amount=10000)
    assert check(inv) is Reason.FULLY_DISCOUNTED


def test_NO_ACTIVE_INVOICE() -> None:
    assert check(
        invoice("in_1", "2026-02-01", [sub_line(5000, "2026-02-01")], status="void"),
        invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")], status="failed"),
    ) is Reason.NO_ACTIVE_INVOICE


def test_ONE_TIME_ONLY() -> None:
    line = one_time(29000, subscription_external_id="sub_1")
    assert check(invoice("in_1", "2026-03-01", [line])) is Reason.ONE_TIME_ONLY


def test_OPEN_EXCLUDED() -> None:
    inv = invoice("in_1", "2026-03-01", [sub_line(5000, "2026-03-01")], status="open")
    assert check(inv) is Reason.OPEN_EXCLUDED


def test_QUARANTINED_from_the_subscription_named_in_a_quarantined_invoice_raw_row() -> None:
    bad = Quarantined("invoice", "in_bad", Reason.UNKNOWN_STATUS, "unknown status",
                      raw={"customer_external_id": "cus_1", "lines": [
                          {"subscription_external_id": "sub_1", "amount": "50.00"}]})
    ids = quarantined_ids([(bad.external_id, bad.raw)])
    assert ids == {"in_bad", "sub_1"}
    assert check(quarantined=ids) is Reason.QUARANTINED


def test_NOT_YET_SYNCED() -> None:
    inv = invoice("in_1", "2026-03-01", [sub_line(5000, "2026-03-01")])
    assert check(inv, synced_first=False) is Reason.NOT_YET_SYNCED
    present = reconcile(source_of(subscription(), inv), synced(source_of(subscription(), inv)), AT)
    assert present.present == 1 and not present.missing and present.balanced


def test_status_difference_and_destination_only_are_listed_apart() -> None:
    paused = subscription(status="paused", source_status="on_hold", paused_at="2026-02-10")
    invs = [invoice("in_1", "2026-02-01", [sub_line(5000, "2026-02-01")]),
            invoice("in_2", "2026-02-01", [sub_line(900, "2026-02-01", sub="sub_extra")])]
    source = source_of(paused, *invs)
    rec = reconcile(source, synced(source), AT)
    assert rec.source_total == 1 and rec.present == 1 and rec.balanced
    (diff,) = rec.mismatches
    assert (diff.subscription, diff.analytics_status, diff.code) == (
        "sub_1", SubStatus.PAST_DUE, "ON_HOLD_PAST_PAID_PERIOD")
    assert [(o.subscription, o.analytics_status) for o in rec.destination_only] == [
        ("sub_extra", "past_due")]
    assert rec.destination_customers["Past-Due"] == 1


def test_a_chartmogul_read_back_reads_like_the_local_store() -> None:
    source = source_of(subscription(status="cancelled", cancelled_at="2026-03-01"),
                       invoice("in_1", "2026-02-01", [sub_line(5000, "2026-02-01")]),
                       invoice("in_2", "2026-02-02", [sub_line(5000, "2026-02-01", sub="s9")]))
    held = synced(source)
    snapshot = DestinationSnapshot(
        "ds_1", customers={"cus_1": customer()}, plans=dict(PLANS),
        invoices={i.external_id: i for i in held.invoices},
        invoice_status={"in_2": "voided"},
        subscriptions={
            ("cus_1", "sub_1"): CancellationMarker("sub_1", "cus_1", (dt("2026-03-01"),))})
    dest = HeldDestination.from_snapshot(snapshot)
    assert [v.external_id for v in dest.subscription_views()] == ["sub_1"]  # voided: gone
    rec = reconcile(source, dest, AT)
    assert rec.present == 1 and rec.destination_by_status["cancelled"] == 1


# -- the sample, through the CLI ----------------------------------------------------------------
SCENARIO_MISSING = {
    "sub_trial_no_invoice": "NO_INVOICE", "sub_audit_pending_billing_on": "NO_INVOICE",
    "sub_trial_running": "ZERO_FIRST_INVOICE", "sub_trial_cancelled": "ZERO_FIRST_INVOICE",
    "sub_full_coupon": "FULLY_DISCOUNTED", "sub_no_active_invoice": "NO_ACTIVE_INVOICE",
    "sub_one_time_sub": "ONE_TIME_ONLY", "sub_open_only": "OPEN_EXCLUDED",
    "sub_bad_status": "QUARANTINED",
}


def assert_adds_up(doc: dict[str, Any]) -> None:
    eq = doc["equation"]
    total = eq["present_at_destination"] + sum(eq["missing_by_reason"].values())
    assert eq["source_subscriptions"] == total == doc["source"]["subscriptions"]["total"]
    assert eq["balanced"] is True
    assert sum(doc["source"]["subscriptions"]["by_status"].values()) == total
    assert len(doc["missing"]) == sum(eq["missing_by_reason"].values())
    for reason, count in eq["missing_by_reason"].items():
        assert count == sum(1 for m in doc["missing"] if m["reason"] == reason)
    assert str(eq["source_subscriptions"]) in eq["text"]


@pytest.fixture
def report(run_cli: RunCli, synced: Path) -> dict[str, Any]:
    return cli_json(run_cli, "reconcile", "--config", str(synced), "--at", T)  # type: ignore[no-any-return]


def test_sample_totals_add_up_exactly(report: dict[str, Any]) -> None:
    assert_adds_up(report)
    assert report["source"]["customers"]["total"] == report["destination"]["customers"]["total"]
    dest = report["destination"]["subscriptions"]
    assert dest["total"] == sum(dest["by_status"].values())
    assert report["destination_only"] == []


def test_sample_has_every_reason_but_not_yet_synced(report: dict[str, Any]) -> None:
    by_reason = report["equation"]["missing_by_reason"]
    assert set(by_reason) == {r.value for r in MISSING_REASONS}
    assert {r for r, n in by_reason.items() if n} == {r.value for r in MISSING_REASONS} - {
        "NOT_YET_SYNCED"}
    found = {m["subscription"]: m["reason"] for m in report["missing"]}
    assert {k: found.get(k) for k in SCENARIO_MISSING} == SCENARIO_MISSING


def test_sample_status_differences_are_the_hand_checked_ones(report: dict[str, Any]) -> None:
    diffs = {d["subscription"]: (d["analytics_status"], d["code"])
             for d in report["status_differences"]}
    assert diffs["sub_on_hold"] == ("active", "ON_HOLD_IN_PAID_PERIOD")
    for sub in ("sub_paused_past_due", "sub_audit_active_suspended_sub",
                "sub_audit_suspended_in_sync"):
        assert diffs[sub] == ("past_due", "ON_HOLD_PAST_PAID_PERIOD")
    # each names its own cause and the invoice behind it, never a generic "past due"
    invoices = {d["subscription"]: d["invoice"] for d in report["status_differences"]}
    assert diffs["sub_open_not_due"] == ("past_due", "RENEWAL_OPEN_EXCLUDED")
    assert invoices["sub_open_not_due"] == "inv_open_not_due_4"
    assert diffs["sub_bad_quantity"] == ("past_due", "RENEWAL_QUARANTINED")
    assert invoices["sub_bad_quantity"] == "inv_bad_quantity_3"
    assert diffs["sub_audit_active_billing_off"] == ("past_due", "RENEWAL_MISSING")
    assert invoices["sub_audit_active_billing_off"] == "inv_audit_active_billing_off_2"
    assert "sub_steady_monthly" not in diffs and "sub_cancelled" not in diffs
    assert {code for _, code in diffs.values()} <= {c.value for c in StatusCause}
    # cancelled in its first second: Cancelled on both sides, nothing to explain
    for sub in ("sub_immediate_cancel", "sub_churned_and_back", "sub_withdrawn_cancel"):
        assert sub not in diffs, diffs.get(sub)


def test_status_differences_are_counted_per_cause(report: dict[str, Any]) -> None:
    counts = report["status_differences_by_cause"]
    assert set(counts) == {c.value for c in StatusCause}
    listed = Counter(d["code"] for d in report["status_differences"])
    assert {k: n for k, n in counts.items() if n} == dict(listed)
    assert sum(counts.values()) == len(report["status_differences"])


def test_before_any_sync_everything_eligible_is_NOT_YET_SYNCED(run_cli: RunCli,
                                                                unsynced: Path) -> None:
    doc = cli_json(run_cli, "reconcile", "--config", str(unsynced), "--at", T)
    assert_adds_up(doc)
    eq = doc["equation"]
    assert eq["present_at_destination"] == 0
    assert eq["missing_by_reason"]["NOT_YET_SYNCED"] > 200
    found = {m["subscription"]: m["reason"] for m in doc["missing"]}
    assert found["sub_steady_monthly"] == "NOT_YET_SYNCED"
    assert {k: found[k] for k in SCENARIO_MISSING} == SCENARIO_MISSING  # still the real reason
    assert not (unsynced.parent / "store").exists() and not (unsynced.parent / "state").exists()


def test_csv_and_html_hold_every_row(run_cli: RunCli, synced: Path, tmp_path: Path,
                                     report: dict[str, Any]) -> None:
    out_csv, out_html = tmp_path / "r.csv", tmp_path / "r.html"
    code, out, err = run_cli("reconcile", "--config", str(synced), "--at", T,
                             "--csv", str(out_csv), "--html", str(out_html))
    assert code == 0, err
    assert "source subscriptions =" in out and "wrote CSV" in out
    with out_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = ([("missing", m["subscription"], m["reason"]) for m in report["missing"]]
                + [("status_difference", d["subscription"], d["code"])
                   for d in report["status_differences"]])
    listed = [(r["section"], r["subscription"], r["code"]) for r in rows]
    only = [("destination_only", o["subscription"], "") for o in report["destination_only"]]
    assert [row for row in listed if not row[0].endswith("_by_cause")
            and not row[0].endswith("_by_reason")] == expected + only
    per_cause = {r["code"]: int(r["count"]) for r in rows
                 if r["section"] == "status_difference_by_cause"}
    assert per_cause == report["status_differences_by_cause"]
    per_reason = {r["code"]: int(r["count"]) for r in rows
                  if r["section"] == "missing_by_reason"}
    assert per_reason == report["equation"]["missing_by_reason"]
    assert {r["invoice"] for r in rows if r["subscription"] == "sub_bad_quantity"} == {
        "inv_bad_quantity_3"}
    page = out_html.read_text(encoding="utf-8")
    assert_well_formed(page)
    for _, sub, code_ in expected:
        assert f">{sub}</td>" in page and f">{code_}</td>" in page
    assert report["equation"]["text"] in page
    assert "Statuses that differ, by cause" in page and ">RENEWAL_QUARANTINED</td>" in page
    assert ">inv_bad_quantity_3</td>" in page
    assert "<script" not in page and "http" not in page.split("<body>")[1]


def test_json_parses_back_with_stable_keys(report: dict[str, Any]) -> None:
    assert set(report) == {"connection", "at", "source", "destination", "equation", "missing",
                           "status_differences", "status_differences_by_cause",
                           "destination_only"}
    assert json.loads(json.dumps(report)) == report
    assert datetime.fromisoformat(report["at"]) == datetime(2026, 11, 15, tzinfo=UTC)


def test_chartmogul_destination_without_a_key_is_a_config_error(
    run_cli: RunCli, unsynced: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chartmogul = 'type = "chartmogul"\napi_key_env = "NO_SUCH_KEY_VAR"'
    text = unsynced.read_text().replace('type = "local"', chartmogul)
    unsynced.write_text(text)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    code, _, err = run_cli("reconcile", "--config", str(unsynced))
    assert code == 2 and "NO_SUCH_KEY_VAR" in err
