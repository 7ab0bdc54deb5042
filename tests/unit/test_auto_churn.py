"""Automatic churn of subscriptions the source never describes (inferred from invoice lines):
a pure rule of the sent invoices and the run's "now"."""

from datetime import timedelta

import pytest
from pydantic import ValidationError

from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.status import (
    SubscriptionView,
    SubStatus,
    auto_churn_dates,
    subscription_status,
    views_for_customer,
)
from saasync.settings import ConnectionSettings
from tests.factories import PLANS, customer, dt, invoice, sub_line, subscription

JAN = invoice("in_1", "2026-01-01", [sub_line(5000, "2026-01-01")])  # covers Jan 1 .. Feb 1
FEB = invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01")])  # .. Mar 1
JUN = invoice("in_6", "2026-06-01", [sub_line(5000, "2026-06-01")])


def build(*records, days=30, now="2026-04-15"):  # type: ignore[no-untyped-def]
    history = CustomerHistory("cus_1").merge([customer(), *records])
    return build_customer(history, PLANS, RuleSettings(auto_churn_days=days), dt(now) if now else None)


def dates(changes):  # type: ignore[no-untyped-def]
    return {c.subscription_external_id: c.cancellation_dates for c in changes.cancellations}


def test_auto_churn_cancels_inferred_subscription_after_n_days() -> None:
    assert dates(build(JAN, FEB, now="2026-04-15")) == {"sub_1": (dt("2026-03-01"),)}


def test_auto_churn_waits_until_more_than_n_days_have_passed() -> None:
    assert dates(build(JAN, FEB, now="2026-03-31")) == {"sub_1": ()}  # exactly 30 days
    assert dates(build(JAN, FEB, now="2026-03-31T00:00:01")) == {"sub_1": (dt("2026-03-01"),)}


def test_auto_churn_later_invoice_reactivates_and_the_marker_stays() -> None:
    changes = build(JAN, FEB, JUN, now="2026-06-15")
    assert dates(changes) == {"sub_1": (dt("2026-03-01"),)}
    (view,) = views_for_customer("cus_1", changes.invoices, dates(changes))
    months = ["2026-02-15", "2026-03-15", "2026-05-15", "2026-06-15"]
    assert [subscription_status(view, dt(m)) for m in months] == [
        SubStatus.ACTIVE, SubStatus.CANCELLED, SubStatus.CANCELLED, SubStatus.ACTIVE,
    ]


def test_auto_churn_short_gap_is_no_churn() -> None:
    late = invoice("in_3", "2026-03-20", [sub_line(5000, "2026-03-20")])  # 19 days late
    assert dates(build(JAN, FEB, late, now="2026-04-10")) == {"sub_1": ()}


def test_auto_churn_is_off_by_default() -> None:
    changes = build_customer(CustomerHistory("cus_1").merge([customer(), JAN, FEB]), PLANS,
                             RuleSettings(), dt("2027-01-01"))
    assert dates(changes) == {"sub_1": ()} and changes.recheck_at is None


def test_auto_churn_never_applies_to_subscriptions_the_source_describes() -> None:
    assert dates(build(JAN, FEB, subscription(status="active"), now="2026-09-01")) == {"sub_1": ()}


def test_auto_churn_asks_for_a_recheck_when_it_would_fire() -> None:
    changes = build(JAN, FEB, now="2026-03-10")
    assert dates(changes) == {"sub_1": ()}
    assert changes.recheck_at is not None and dt("2026-03-31") < changes.recheck_at <= dt("2026-03-31T00:00:01")
    assert build(JAN, FEB, now="2026-04-15").recheck_at is None  # already churned


def test_auto_churn_rule_is_pure_and_needs_now() -> None:
    changes = build(JAN, FEB, now=None)
    assert dates(changes) == {"sub_1": ()}  # without a "now" no time-based rule applies
    view = SubscriptionView("sub_1", "cus_1", build(JAN, FEB).invoices)
    after = timedelta(days=30)
    assert auto_churn_dates(view, after, dt("2026-04-15")) == auto_churn_dates(view, after, dt("2026-04-15"))
    assert auto_churn_dates(view, after, dt("2026-03-15")) == ()


def test_auto_churn_days_setting_must_be_at_least_one() -> None:
    assert ConnectionSettings(connector="files").auto_churn_days is None
    assert ConnectionSettings(connector="files", auto_churn_days=45).auto_churn_days == 45
    with pytest.raises(ValidationError):
        ConnectionSettings(connector="files", auto_churn_days=0)
