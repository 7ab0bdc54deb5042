"""Every status difference gets its own cause, named after the record that causes it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from saasync.models import SourceRecord, SourceSubscription
from saasync.reasons import STATUS_CAUSE_DESCRIPTIONS, StatusCause
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.reconcile import StatusDifference, status_cause, unsent_invoices
from saasync.rules.status import SubscriptionView, views_for_customer
from tests.factories import (
    PLANS,
    customer,
    dt,
    failed_attempt,
    invoice,
    sub_line,
    subscription,
)

FEB = invoice("in_1", "2026-02-01", [sub_line(5000, "2026-02-01")])  # paid, Feb 1 -> Mar 1


def _view(records: Sequence[SourceRecord], settings: RuleSettings) -> SubscriptionView | None:
    history = CustomerHistory("cus_1").merge([customer(), *records])
    changes = build_customer(history, PLANS, settings)
    markers = {m.subscription_external_id: m.cancellation_dates for m in changes.cancellations}
    views = views_for_customer("cus_1", changes.invoices, markers)
    return next((v for v in views if v.external_id == "sub_1"), None)


def cause(*records: SourceRecord, src: SourceSubscription | None = None, at: str = "2026-03-15",
          grace_days: int = 0, held: Sequence[SourceRecord] | None = None,
          quarantined: Sequence[tuple[str, datetime | None]] = (),
          settings: RuleSettings = RuleSettings()) -> StatusDifference | None:  # noqa: B008
    """The cause for sub_1; ``held``: the records of the last sync (default: all of them)."""
    src = src or subscription()
    history = CustomerHistory("cus_1").merge([customer(), src, *records])
    changes = build_customer(history, PLANS, settings)
    expected = _view([src, *records], settings)
    analytics = _view([src, *records] if held is None else held, settings)
    assert analytics is not None
    renewals = unsent_invoices("sub_1", history.invoices.values(), changes, quarantined)
    return status_cause(src, analytics, dt(at), grace=timedelta(days=grace_days),
                        expected=expected, renewals=renewals)


def test_every_cause_is_a_stable_public_code_with_a_description() -> None:
    assert set(STATUS_CAUSE_DESCRIPTIONS) == set(StatusCause)
    for code in ("RENEWAL_DRAFT", "RENEWAL_OPEN_EXCLUDED", "RENEWAL_FAILED", "RENEWAL_VOIDED",
                 "RENEWAL_QUARANTINED", "RENEWAL_MISSING", "ON_HOLD_PAST_PAID_PERIOD", "IN_GRACE",
                 "CANCELLATION_NOT_SYNCED", "NOT_YET_SYNCED"):
        assert StatusCause(code).value == code


def test_matching_statuses_need_no_cause() -> None:
    assert cause(FEB, at="2026-02-15") is None


def test_renewal_draft_cause_names_invoice() -> None:
    diff = cause(FEB, invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")],
                              status="draft"))
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.RENEWAL_DRAFT, "in_2")
    assert "in_2" in diff.explanation and "draft" in diff.explanation


def test_renewal_open_excluded_cause_names_invoice() -> None:
    diff = cause(FEB, invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")],
                              status="open", due_at=dt("2026-03-31")))
    assert diff is not None
    assert (diff.code, diff.invoice) == (StatusCause.RENEWAL_OPEN_EXCLUDED, "in_2")


def test_renewal_failed_cause_names_invoice() -> None:
    diff = cause(FEB, invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")],
                              status="failed", transactions=[failed_attempt("2026-03-01")]))
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.RENEWAL_FAILED, "in_2")


def test_renewal_failed_cause_names_a_sent_open_invoice_whose_payment_failed() -> None:
    bill = invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")], status="open",
                   due_at=dt("2026-03-01"), transactions=[failed_attempt("2026-03-02")])
    diff = cause(FEB, bill, settings=RuleSettings(open_invoices="include"))
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.RENEWAL_FAILED, "in_2")


def test_renewal_voided_cause_names_invoice() -> None:
    diff = cause(FEB, invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")],
                              status="void"))
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.RENEWAL_VOIDED, "in_2")


def test_renewal_quarantined_cause_names_invoice() -> None:
    diff = cause(FEB, quarantined=[("in_2", dt("2026-03-01"))])
    assert diff is not None
    assert (diff.code, diff.invoice) == (StatusCause.RENEWAL_QUARANTINED, "in_2")
    assert "review" in diff.explanation


def test_renewal_missing_cause_names_the_last_invoice() -> None:
    diff = cause(FEB)
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.RENEWAL_MISSING, "in_1")
    assert "2026-03-01" in diff.explanation


def test_on_hold_past_paid_period_cause_names_the_last_invoice() -> None:
    diff = cause(FEB, src=subscription(status="paused", paused_at="2026-02-10"))
    assert diff is not None
    assert (diff.code, diff.invoice) == (StatusCause.ON_HOLD_PAST_PAID_PERIOD, "in_1")


def test_in_grace_cause_names_the_last_paid_invoice() -> None:
    diff = cause(FEB, src=subscription(status="past_due"), at="2026-03-03", grace_days=5)
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.IN_GRACE, "in_1")


def test_cancellation_not_synced_cause() -> None:
    src = subscription(status="cancelled", cancelled_at="2026-02-20")
    diff = cause(FEB, src=src, at="2026-02-25", held=[subscription(), FEB])
    assert diff is not None and diff.code is StatusCause.CANCELLATION_NOT_SYNCED
    assert "2026-02-20" in diff.explanation


def test_not_yet_synced_cause_names_the_invoice_no_run_has_sent() -> None:
    mar = invoice("in_2", "2026-03-01", [sub_line(5000, "2026-03-01")])
    diff = cause(FEB, mar, held=[subscription(), FEB])
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.NOT_YET_SYNCED, "in_2")


def test_a_voided_duplicate_of_a_period_analytics_holds_is_not_the_renewal() -> None:
    copy = invoice("in_1_copy", "2026-02-01T03:00:00", [sub_line(5000, "2026-02-01")],
                   status="void")
    diff = cause(FEB, copy)
    assert diff is not None and (diff.code, diff.invoice) == (StatusCause.RENEWAL_MISSING, "in_1")
