"""One reason per subscription, the same in the run report, ``reconcile`` and ``explain``."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from saasync.cli import main
from saasync.connector import Quarantined
from saasync.destinations.local import LocalStore
from saasync.reasons import Reason
from saasync.reports.commands import _load, _read
from saasync.reports.explain import explain, explain_json
from saasync.reports.reconciliation import HeldDestination, reconcile, reconcile_json
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.status import SubStatus
from saasync.runner import rule_settings
from tests.factories import PLANS, customer, dt, invoice, paid, sub_line, subscription
from tests.reports.conftest import T, sample_config
from tests.reports.test_reconcile import source_of, synced


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The sample synced once; the run report of that sync."""
    config = sample_config(tmp_path_factory.mktemp("agree"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["sync", "--config", str(config), "--json"]) == 0
    return config, json.loads(out.getvalue())


def _report_reasons(run: dict[str, Any]) -> dict[str, str | None]:
    """Per subscription skipped or quarantined, its reason (the others were pushed)."""
    out: dict[str, str | None] = {}
    for s in run["skipped_records"]:
        if s["kind"] == "subscription":
            out[s["external_id"]] = s["reason"]
    for q in run["quarantined_records"]:
        if q["kind"] == "subscription":
            out[q["external_id"]] = Reason.QUARANTINED.value
    return out


def test_quarantined_subscription_same_reason_in_report_reconcile_explain(
    sample_run: tuple[Path, dict[str, Any]],
) -> None:
    config, run = sample_run
    assert _report_reasons(run)["sub_bad_status"] == "QUARANTINED"
    settings, name, conn = _load(str(config), None)
    source, quarantined = _read(settings, name, conn)
    with LocalStore(settings.resolve(conn.destination.path)) as store:
        store.select_data_source(conn.destination.data_source)
        rec = reconcile(source, store, dt(T), rule_settings(conn), quarantined)
        story = explain(source, store, "sub_bad_status", dt(T), rule_settings(conn), quarantined)
    assert {m.subscription: m.reason for m in rec.missing}["sub_bad_status"] is Reason.QUARANTINED
    assert story is not None and story.subscriptions[0].missing_reason is Reason.QUARANTINED


def test_every_subscription_gets_the_same_reason_in_report_reconcile_and_explain(
    sample_run: tuple[Path, dict[str, Any]],
) -> None:
    config, run = sample_run
    settings, name, conn = _load(str(config), None)
    source, quarantined = _read(settings, name, conn)
    rules = rule_settings(conn)
    with LocalStore(settings.resolve(conn.destination.path)) as store:
        store.select_data_source(conn.destination.data_source)
        rec = reconcile(source, store, dt(T), rules, quarantined)
        present = {v.external_id for v in store.subscription_views()}
        by_reconcile: dict[str, str | None] = {m.subscription: m.reason.value
                                               for m in rec.missing}
        by_explain: dict[str, str | None] = {}
        causes = {d.subscription: (d.code, d.invoice) for d in rec.mismatches}
        for sub in source.subscriptions:
            by_reconcile.setdefault(sub, None)
            story = explain(source, store, sub, dt(T), rules, quarantined)
            assert story is not None
            (told,) = story.subscriptions
            by_explain[sub] = told.missing_reason.value if told.missing_reason else None
            # and a status difference has the same cause (and invoice) in both
            diff = told.today.difference
            assert (None if diff is None else (diff.code, diff.invoice)) == causes.get(sub), sub
    by_report = _report_reasons(run)
    assert rec.balanced and rec.source_total == len(source.subscriptions)
    assert run["by_kind"]["subscription"]["read"] == len(source.subscriptions)
    assert set(by_report) <= set(source.subscriptions)
    by_report = {sub: by_report.get(sub) for sub in source.subscriptions}
    for sub in sorted(source.subscriptions):
        assert (by_report[sub], by_explain[sub]) == (by_reconcile[sub], by_reconcile[sub]), sub
        assert (by_reconcile[sub] is None) == (sub in present), sub
    skipped = run["counts"]["skipped_by_kind"]["subscription"]
    assert skipped == {r: n for r, n in rec.missing_by_reason.items() if n}


def test_quarantined_source_subscription_counts_in_the_reconcile_equation() -> None:
    ok = [subscription(f"sub_{i}") for i in range(2)]
    bills = [invoice(f"in_{i}", "2026-03-01", [sub_line(5000, "2026-03-01", sub=f"sub_{i}")])
             for i in range(2)]
    bad = Quarantined("subscription", "sub_bad", Reason.UNKNOWN_STATUS,
                      "unknown status 'frozen'",
                      raw={"id": "sub_bad", "customer": "cus_1", "status": "frozen"})
    source = source_of(*ok, *bills, quarantined=(bad,))
    rec = reconcile(source, synced(source), dt("2026-03-15"), quarantined=frozenset({"sub_bad"}))
    assert rec.source_total == 3 and rec.present == 2
    assert [(m.subscription, m.customer, m.reason) for m in rec.missing] == [
        ("sub_bad", "cus_1", Reason.QUARANTINED)]
    assert rec.balanced and "3 source subscriptions = 2 present" in rec.equation()
    story = explain(source, synced(source), "sub_bad", dt("2026-03-15"),
                    quarantined=frozenset({"sub_bad"}))
    assert story is not None and story.subscriptions[0].missing_reason is Reason.QUARANTINED


def _coupon_then_paid() -> list[Any]:
    return [
        customer(), subscription(),
        invoice("in_1", "2026-01-01", [sub_line(10000, "2026-01-01")], discount_amount=10000),
        invoice("in_2", "2026-02-01", [sub_line(10000, "2026-02-01")],
                transactions=[paid("2026-02-01")]),
    ]


def test_fully_discounted_first_invoice_stays_FULLY_DISCOUNTED_after_conversion() -> None:
    records = _coupon_then_paid()
    changes = build_customer(CustomerHistory("cus_1").merge(records), PLANS, RuleSettings())
    first = changes.decision_for("in_1")
    assert first is not None and first.reason is Reason.FULLY_DISCOUNTED
    assert ("invoice", "in_1", Reason.FULLY_DISCOUNTED) in {
        (s.kind, s.external_id, s.reason) for s in changes.skips}


def test_explain_shows_the_discount_of_a_fully_discounted_invoice() -> None:
    source = source_of(*_coupon_then_paid()[1:])
    story = explain(source, synced(source), "sub_1", dt("2026-02-15"))
    assert story is not None
    doc = explain_json(story)
    (line,) = doc["invoices"][0]["lines"]
    assert (line["amount"], line["discount"], line["reason"]) == (0, 10000, "FULLY_DISCOUNTED")
    assert doc["subscriptions"][0]["today"]["actual"]["status"] == SubStatus.ACTIVE.value


def test_reports_say_which_kind_of_record_each_reason_counts(
    sample_run: tuple[Path, dict[str, Any]],
) -> None:
    _, run = sample_run
    by_kind = run["counts"]["skipped_by_kind"]
    assert by_kind["invoice"]["ZERO_FIRST_INVOICE"] + by_kind["subscription"].get(
        "ZERO_FIRST_INVOICE", 0) == run["counts"]["skipped"]["ZERO_FIRST_INVOICE"]
    assert run["counts"]["quarantined_by_kind"]["invoice"] == {"INVALID_RECORD": 2,
                                                               "UNKNOWN_STATUS": 1}
    rec = reconcile_json(reconcile(source_of(), HeldDestination(), dt("2026-03-15")))
    assert rec["equation"]["counts"] == "subscriptions"
