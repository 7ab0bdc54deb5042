"""After a CLI sync of the sample data, the local store shows what docs/rules.md dictates.

Expected values come from connectors/files/sample/SCENARIOS.md (worked by hand), at
T = 2026-11-15 with open_invoices = "exclude" unless said otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from saasync.cli import main
from saasync.destinations.local import LocalStore
from saasync.rules.status import customer_status, subscription_mrr, subscription_status
from tests.e2e.conftest import SAMPLE, RunCli, run_json, write_config
from tests.factories import dt

T = dt("2026-11-15")


def analytics(store: LocalStore, customer: str, at=T):  # type: ignore[no-untyped-def]
    plans = store.plans_by_external_id()
    views = store.subscription_views(customer)
    status = customer_status(subscription_status(v, at) for v in views)
    mrr: dict[str, int] = {}
    for v in views:
        got = subscription_mrr(v, plans, at)
        if got:
            mrr[got[0]] = mrr.get(got[0], 0) + got[1]
    return status.value, mrr


@pytest.fixture(scope="module")
def synced_store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("hand_checked")
    config = write_config(folder, SAMPLE)
    assert main(["sync", "--config", str(config), "--json"]) == 0
    with LocalStore(folder / "store" / "analytics.db") as store:
        store.select_data_source("sample")
        yield store


@pytest.mark.parametrize(
    ("customer", "status", "mrr"),
    [
        ("cus_steady_monthly", "Active", {"USD": 10000}),
        ("cus_trial_then_paid", "Active", {"USD": 10000}),  # $0 first invoice not sent
        ("cus_trial_running", "Lead", {}),
        ("cus_full_coupon", "Lead", {}),  # $100 with a $100 discount
        ("cus_one_time_only", "Lead", {}),
        ("cus_invoice_coupon", "Active", {"USD": 26153}),  # invoice discount shared by amount
        ("cus_on_hold", "Active", {"USD": 10000}),  # paused mid-period: Active until Dec 1
        ("cus_failed_then_cancelled", "Cancelled", {}),
        ("cus_open_not_due", "Past-Due", {"USD": 2900}),  # Nov invoice held back
        ("cus_two_subs", "Past-Due", {"USD": 12900}),  # Past-Due beats Active
        ("cus_eur_vat", "Active", {"EUR": 9500}),  # tax excluded
        ("cus_jpy", "Active", {"JPY": 15000}),  # whole yen
        ("cus_churned_and_back", "Active", {"USD": 10000}),  # churned Jul 1, back Sep 1
        ("cus_withdrawn_cancel", "Active", {"USD": 10000}),  # Dec 1 cancellation undone
        ("cus_immediate_cancel", "Cancelled", {}),  # cancelled in its first second
    ],
)
def test_customer_matches_the_worked_case(synced_store: LocalStore, customer: str, status: str,
                                          mrr: dict[str, int]) -> None:
    assert analytics(synced_store, customer) == (status, mrr)


def test_on_hold_becomes_past_due_when_the_paid_period_ends(synced_store: LocalStore) -> None:
    assert analytics(synced_store, "cus_on_hold", dt("2026-12-02"))[0] == "Past-Due"


def test_cancellation_history_is_kept_across_the_reactivation(synced_store: LocalStore) -> None:
    assert synced_store.get_subscription("cus_churned_and_back", "sub_churned_and_back") \
        .cancellation_dates == (dt("2026-07-01"),)  # type: ignore[union-attr]
    months = ["2026-06-15", "2026-07-15", "2026-08-15", "2026-09-15"]
    assert [analytics(synced_store, "cus_churned_and_back", dt(m))[0] for m in months] == [
        "Active", "Cancelled", "Cancelled", "Active"]


def test_withdrawn_and_immediate_markers(synced_store: LocalStore) -> None:
    def dates(cid: str, sid: str) -> tuple:  # type: ignore[type-arg]
        return synced_store.get_subscription(cid, sid).cancellation_dates  # type: ignore[union-attr]

    assert dates("cus_withdrawn_cancel", "sub_withdrawn_cancel") == ()
    assert dates("cus_immediate_cancel", "sub_immediate_cancel") == (dt("2026-10-10T10:00:00"),)


def test_first_zero_invoice_is_not_at_the_destination(synced_store: LocalStore) -> None:
    sent = {inv.external_id for inv in synced_store.list_invoices("cus_trial_then_paid")}
    assert sent == {"inv_trial_then_paid_2", "inv_trial_then_paid_3"}


def test_open_invoices_include_changes_the_outcome(tmp_path: Path, sample_dir: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, sample_dir, open_invoices="include")
    run_json(run_cli, "sync", "--config", str(config))
    with LocalStore(tmp_path / "store" / "analytics.db") as store:
        store.select_data_source("sample")
        assert analytics(store, "cus_open_not_due") == ("Active", {"USD": 2900})
        assert analytics(store, "cus_open_only") == ("Active", {"USD": 29900})
