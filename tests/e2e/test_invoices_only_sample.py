"""The bundled invoices-only sample through the CLI, with its own config (as a user runs
``saasync sync --config config/sample-invoices-only.toml``): automatic churn of the
subscriptions an export without subscription rows only implies.

It is generated for the month of the run, so every date is the first of a month counted
back from the run's month: ``m(n)`` = the 1st, n months before it. Expected values are
worked by hand from the rules (connectors/files/sample/SCENARIOS.md, "The invoices-only
sample"), with ``auto_churn_days = 30``:

- an inferred subscription is cancelled at the end of a service period followed by more
  than 30 days without an invoice covering anything later (up to the run, or up to the
  start of a later invoice's period);
- an invoice for a period starting after that cancellation reactivates it; the
  cancellation stays in its history.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta

from saasync.cli import main
from saasync.destinations.local import LocalStore
from saasync.rules.status import customer_status, subscription_mrr, subscription_status
from tests.e2e.conftest import RunCli, run_json

CONFIG = Path(__file__).resolve().parents[2] / "config" / "sample-invoices-only.toml"
DATA_SOURCE = "saasync-sample-invoices-only"


def analytics(store: LocalStore, customer: str, at: datetime) -> tuple[str, dict[str, int]]:
    plans = store.plans_by_external_id()
    views = store.subscription_views(customer)
    mrr: dict[str, int] = {}
    for view in views:
        got = subscription_mrr(view, plans, at)
        if got:
            mrr[got[0]] = mrr.get(got[0], 0) + got[1]
    return customer_status(subscription_status(v, at) for v in views).value, mrr


def generated_for(folder: Path) -> datetime:
    """The day the sample was generated for (its folder's name): the export's moment."""
    (day,) = (folder / ".saasync" / "sample-invoices-only").iterdir()
    assert sorted(p.name for p in day.iterdir()) == [
        "customers.csv", "invoice_lines.csv", "invoices.csv", "plans.csv", "transactions.csv"
    ], "an invoices-only export: no subscriptions file"
    return datetime.fromisoformat(day.name).replace(tzinfo=UTC)


class Synced:
    def __init__(self, folder: Path, planned: dict[str, Any], done: dict[str, Any]) -> None:
        self.folder, self.planned, self.done = folder, planned, done
        self.as_of = generated_for(folder)
        self.month0 = self.as_of.replace(day=1)

    def m(self, back: int, days: int = 0) -> datetime:
        return self.month0 - relativedelta(months=back) + relativedelta(days=days)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Synced, LocalStore]]:
    folder = tmp_path_factory.mktemp("invoices_only")
    config = shutil.copy(CONFIG, folder / CONFIG.name)
    planned = _json(["sync", "--config", str(config), "--dry-run"])
    assert not (folder / ".saasync" / "invoices-only").exists(), "a dry run writes nothing"
    done = _json(["sync", "--config", str(config)])
    with LocalStore(folder / ".saasync" / "invoices-only" / "analytics.db") as store:
        store.select_data_source(DATA_SOURCE)
        yield Synced(folder, planned, done), store


def _json(args: list[str]) -> dict[str, Any]:
    """A CLI command's JSON report (the module fixture cannot use ``run_cli``)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--json"]) == 0
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


def dates(store: LocalStore, slug: str) -> tuple[datetime, ...]:
    sub = store.get_subscription(f"cus_{slug}", f"sub_{slug}")
    assert sub is not None
    return tuple(sub.cancellation_dates)


def test_everything_is_read_and_sent_nothing_quarantined(
        synced: tuple[Synced, LocalStore]) -> None:
    run, _ = synced
    counts = run.done["counts"]
    # 9 plans, 3 customers, 3 + 6 + 5 invoices; no subscription rows to read
    assert (counts["read"], counts["pushed"]) == (26, 26)
    assert counts["quarantined"] == {} and counts["skipped"] == {} and counts["balanced"]
    # the two subscriptions that went more than 30 days unbilled get a cancellation each
    assert run.done["changes"]["cancelled"] == 2


def test_stopped_paying_is_auto_churned_at_the_end_of_its_last_paid_period(
        synced: tuple[Synced, LocalStore]) -> None:
    """Starter 2900 paid for m(6), m(5), m(4): covered until m(3), nothing since."""
    run, store = synced
    m = run.m
    assert dates(store, "stopped_paying") == (m(3),)
    assert analytics(store, "cus_stopped_paying", run.as_of) == ("Cancelled", {})
    assert analytics(store, "cus_stopped_paying", m(4, 14)) == ("Active", {"USD": 2900})
    assert analytics(store, "cus_stopped_paying", m(3, 14)) == ("Cancelled", {})


def test_paying_every_month_stays_active(synced: tuple[Synced, LocalStore]) -> None:
    """Growth 10000 paid for m(5) … m(0): covered until m(-1), no gap."""
    run, store = synced
    assert dates(store, "paying_monthly") == ()
    assert analytics(store, "cus_paying_monthly", run.as_of) == ("Active", {"USD": 10000})


def test_churned_and_back_keeps_the_churn_in_its_history(
        synced: tuple[Synced, LocalStore]) -> None:
    """Starter 2900 paid for m(7), m(6), then nothing until m(2), m(1), m(0): the gap from
    m(5) to m(2) is over 30 days, so it churned at m(5); the m(2) invoice's period starts
    after that, so it is reactivated there."""
    run, store = synced
    m = run.m
    assert dates(store, "churned_and_back") == (m(5),)
    when = [m(6, 14), m(5, 14), m(3, 14), m(2, 14), run.as_of]
    assert [analytics(store, "cus_churned_and_back", at) for at in when] == [
        ("Active", {"USD": 2900}), ("Cancelled", {}), ("Cancelled", {}),
        ("Active", {"USD": 2900}), ("Active", {"USD": 2900})]


def test_dry_run_is_what_the_real_run_did_and_a_second_run_sends_nothing(
        synced: tuple[Synced, LocalStore], run_cli: RunCli) -> None:
    run, _ = synced
    assert run.planned["changes"] == run.done["changes"]
    assert run.planned["counts"] == run.done["counts"]
    assert run.planned["ops"] == run.done["ops"]
    again = run_json(run_cli, "sync", "--config", str(run.folder / CONFIG.name))
    assert again["counts"]["pushed"] == 0 and sum(again["changes"].values()) == 0


def test_without_auto_churn_days_nothing_ever_cancels_them(
        tmp_path: Path, run_cli: RunCli) -> None:
    """The same export with auto_churn_days off: the export never says a subscription is
    cancelled, so the customer who stopped paying stays Past-Due, its MRR still counted."""
    text = CONFIG.read_text(encoding="utf-8")
    config = tmp_path / CONFIG.name
    config.write_text("\n".join(line for line in text.splitlines()
                                if not line.startswith("auto_churn_days")), encoding="utf-8")
    report = run_json(run_cli, "sync", "--config", str(config))
    assert report["changes"]["cancelled"] == 0
    as_of = generated_for(tmp_path)
    with LocalStore(tmp_path / ".saasync" / "invoices-only" / "analytics.db") as store:
        store.select_data_source(DATA_SOURCE)
        assert dates(store, "stopped_paying") == dates(store, "churned_and_back") == ()
        assert analytics(store, "cus_stopped_paying", as_of) == ("Past-Due", {"USD": 2900})
        assert analytics(store, "cus_churned_and_back", as_of) == ("Active", {"USD": 2900})
