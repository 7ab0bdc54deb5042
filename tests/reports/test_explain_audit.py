"""``explain`` of an account that carries an account status (a gaiia-like source) names
its audit codes, as ``saasync audit`` finds them."""

from __future__ import annotations

from pathlib import Path

from tests.reports.conftest import RunCli, cli_json


def test_explain_names_the_audit_codes_of_the_account(run_cli: RunCli, synced: Path) -> None:
    code, out, err = run_cli("explain", "cus_audit_suspended_active_sub", "--config", str(synced))
    assert code == 0, err
    assert "audit: account SUSPENDED" in out
    for found in ("SUSPENDED_ACTIVE_SUBSCRIPTIONS", "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"):
        assert found in out
    story = cli_json(run_cli, "explain", "cus_audit_suspended_active_sub", "--config", str(synced))
    assert story["audit"]["account_status"] == "SUSPENDED"
    assert [c["code"] for c in story["audit"]["codes"]] == [
        "SUSPENDED_ACTIVE_SUBSCRIPTIONS", "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"]
    assert all(c["root_cause"] and c["action"] for c in story["audit"]["codes"])


def test_explain_of_an_account_in_sync_says_so(run_cli: RunCli, synced: Path) -> None:
    code, out, _ = run_cli("explain", "cus_audit_in_sync", "--config", str(synced))
    assert code == 0 and "audit: account ACTIVE" in out and "no audit code" in out
    assert cli_json(run_cli, "explain", "cus_audit_in_sync", "--config", str(synced))["audit"]["codes"] == []


def test_explain_of_an_account_without_status_has_no_audit(run_cli: RunCli, synced: Path) -> None:
    code, out, _ = run_cli("explain", "cus_bad_date", "--config", str(synced))
    assert code == 0 and "audit:" not in out
    assert "audit" not in cli_json(run_cli, "explain", "cus_bad_date", "--config", str(synced))
