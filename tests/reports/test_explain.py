"""``explain``: the seed's worked cases, told invoice by invoice and month by month."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.reports.conftest import RunCli, T, cli_json


def story(run_cli: RunCli, config: Path, ident: str, at: str = T) -> dict[str, Any]:
    return cli_json(run_cli, "explain", "--config", str(config), "--at", at, ident)  # type: ignore[no-any-return]


def test_trial_then_paid_skips_the_zero_invoice_then_starts(run_cli: RunCli, synced: Path) -> None:
    doc = story(run_cli, synced, "sub_trial_then_paid")
    assert (doc["kind"], doc["customer"]["id"]) == ("subscription", "cus_trial_then_paid")
    steps = [(i["invoice"], i["decision"], i["reason"], [ln["amount"] for ln in i["lines"]])
             for i in doc["invoices"]]
    assert steps == [
        ("inv_trial_then_paid_1", "skip", "ZERO_FIRST_INVOICE", [0]),
        ("inv_trial_then_paid_2", "send", None, [10000]),
        ("inv_trial_then_paid_3", "send", None, [10000]),
    ]
    assert doc["invoices"][0]["lines"][0]["reason"] == "ZERO_FIRST_INVOICE"
    assert not doc["invoices"][0]["lines"][0]["sent"] and doc["invoices"][1]["lines"][0]["sent"]
    (sub,) = doc["subscriptions"]
    assert sub["start"]["invoice"] == "inv_trial_then_paid_2"
    assert sub["start"]["date"].startswith("2026-10-01")
    assert [(c["at"][:10], c["status"]) for c in sub["changes"]] == [("2026-10-01", "active")]
    assert "first non-$0" in sub["changes"][0]["why"]
    assert [(m["month"][:7], m["status"]) for m in sub["months"]] == [
        ("2026-09", "not created"), ("2026-10", "active"), ("2026-11", "active")]
    today = sub["today"]
    assert today["expected"] == {"status": "active", "mrr": {"currency": "USD", "amount": 10000}}
    assert today["actual"]["status"] == "active" and today["matches"] is True


def test_on_hold_is_active_until_december_then_past_due(run_cli: RunCli, synced: Path) -> None:
    doc = story(run_cli, synced, "sub_on_hold", at="2026-12-15")
    (sub,) = doc["subscriptions"]
    assert [(c["at"][:10], c["status"]) for c in sub["changes"]] == [
        ("2026-09-01", "active"), ("2026-12-01", "past_due")]
    why = sub["changes"][1]["why"]
    assert "paid service period ended 2026-12-01" in why and "on hold in billing" in why
    assert [(m["month"][:7], m["status"]) for m in sub["months"]] == [
        ("2026-09", "active"), ("2026-10", "active"), ("2026-11", "active"),
        ("2026-12", "past_due")]
    assert sub["cancellation"].startswith("no Cancelled marker")
    today = sub["today"]
    assert today["billing_status"] == "on_hold"
    assert today["expected"]["status"] == today["actual"]["status"] == "past_due"
    assert today["difference"]["code"] == "ON_HOLD_PAST_PAID_PERIOD"
    # at T it is still inside its paid period: Active, and the difference says until when
    now = story(run_cli, synced, "sub_on_hold")["subscriptions"][0]["today"]
    assert now["expected"]["status"] == "active"
    assert now["difference"]["code"] == "ON_HOLD_IN_PAID_PERIOD"
    assert "2026-12-01" in now["difference"]["explanation"]


def test_customer_story_covers_every_subscription(run_cli: RunCli, synced: Path) -> None:
    doc = story(run_cli, synced, "cus_two_subs")
    assert doc["kind"] == "customer"
    assert [s["id"] for s in doc["subscriptions"]] == ["sub_two_subs", "sub_two_subs_addon"]
    held = [i for i in doc["invoices"] if i["invoice"] == "inv_two_subs_6"]
    assert held[0]["decision"] == "hold" and held[0]["reason"] == "OPEN_EXCLUDED"
    assert doc["customer"]["expected_status"] == doc["customer"]["actual_status"] == "Past-Due"


def test_cancelled_marker_and_never_created(run_cli: RunCli, synced: Path) -> None:
    cancelled = story(run_cli, synced, "sub_cancelled")["subscriptions"][0]
    assert cancelled["cancellation"] == "Cancelled marker sent: 2026-09-01"
    assert cancelled["changes"][-1]["status"] == "cancelled"
    trial = story(run_cli, synced, "sub_trial_cancelled")["subscriptions"][0]
    assert "NEVER_CREATED" in trial["cancellation"]
    assert trial["missing_reason"] == "ZERO_FIRST_INVOICE" and trial["start"] is None


def test_quarantined_invoice_appears_with_its_reason(run_cli: RunCli, synced: Path) -> None:
    doc = story(run_cli, synced, "sub_bad_status")
    assert [(i["invoice"], i["decision"], i["reason"]) for i in doc["invoices"]] == [
        ("inv_bad_status_1", "quarantined", "UNKNOWN_STATUS")]
    assert doc["subscriptions"][0]["missing_reason"] == "QUARANTINED"


def test_before_a_sync_expected_and_actual_differ(run_cli: RunCli, unsynced: Path) -> None:
    sub = story(run_cli, unsynced, "sub_steady_monthly")["subscriptions"][0]
    assert sub["today"]["expected"]["status"] == "active"
    assert sub["today"]["actual"] == {"present": False, "status": "not created", "mrr": None}
    assert sub["today"]["matches"] is False and sub["missing_reason"] == "NOT_YET_SYNCED"


def test_text_output_tells_the_timeline(run_cli: RunCli, synced: Path) -> None:
    code, out, err = run_cli("explain", "--config", str(synced), "--at", T, "cus_trial_then_paid")
    assert code == 0, err
    assert "inv_trial_then_paid_1 [paid] -> skip ZERO_FIRST_INVOICE" in out
    assert "starts at the destination with inv_trial_then_paid_2 (2026-10-01)" in out
    assert "today: should be active" in out


def test_unknown_id_is_a_usage_error(run_cli: RunCli, synced: Path) -> None:
    code, _, err = run_cli("explain", "--config", str(synced), "sub_nope")
    assert code == 2
    assert "'sub_nope' is neither a subscription nor a customer" in err
