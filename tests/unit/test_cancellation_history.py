"""Cancellation markers are a history: a cancellation that took effect stays when the source
later reactivates; one withdrawn before its date is removed; the full list is always sent."""

from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.status import SubStatus, subscription_status, views_for_customer
from tests.factories import PLANS, customer, dt, invoice, sub_line, subscription


def build(*records, remembered=None, now=None):  # type: ignore[no-untyped-def]
    history = CustomerHistory("cus_1", effective_cancellations=remembered or {})
    return build_customer(history.merge([customer(), *records]), PLANS, RuleSettings(), now)


def marker(changes):  # type: ignore[no-untyped-def]
    (only,) = changes.cancellations
    return only


JAN = invoice("in_1", "2026-01-01", [sub_line(5000, "2026-01-01")])
APR = invoice("in_4", "2026-04-10", [sub_line(5000, "2026-04-10")])


def test_cancellation_takes_effect_once_its_date_has_passed_while_cancelled() -> None:
    cancelled = subscription(status="cancelled", cancelled_at="2026-02-01")
    before = marker(build(JAN, cancelled, now=dt("2026-01-20")))  # scheduled, not yet effective
    assert before.cancellation_dates == (dt("2026-02-01"),) and before.effective_dates == ()
    after = marker(build(JAN, cancelled, now=dt("2026-02-02")))
    assert after.cancellation_dates == (dt("2026-02-01"),)
    assert after.effective_dates == (dt("2026-02-01"),)


def test_reactivation_keeps_effective_cancellation() -> None:
    # the source forgot the cancellation when it reactivated the subscription
    reactivated = subscription(status="active")
    m = marker(build(JAN, APR, reactivated, remembered={"sub_1": (dt("2026-02-01"),)},
                     now=dt("2026-04-15")))
    assert m.cancellation_dates == (dt("2026-02-01"),)
    assert m.doc()["cancellation_dates"] == ["2026-02-01T00:00:00Z"]


def test_reactivation_then_new_cancellation_sends_the_whole_history() -> None:
    again = subscription(status="cancelled", cancelled_at="2026-05-10")
    m = marker(build(JAN, APR, again, remembered={"sub_1": (dt("2026-02-01"),)},
                     now=dt("2026-05-20")))
    assert m.cancellation_dates == (dt("2026-02-01"), dt("2026-05-10"))
    assert m.effective_dates == (dt("2026-02-01"), dt("2026-05-10"))


def test_withdrawn_cancellation_is_removed() -> None:
    # scheduled for the period end, then undone before that date: never took effect
    scheduled = marker(build(JAN, subscription(status="cancelled", cancelled_at="2026-02-01"),
                             now=dt("2026-01-15")))
    assert scheduled.cancellation_dates == (dt("2026-02-01"),)
    withdrawn = marker(build(JAN, subscription(status="active"), now=dt("2026-01-20")))
    assert withdrawn.cancellation_dates == () and withdrawn.effective_dates == ()


def test_source_exported_history_is_kept() -> None:
    sub = subscription(status="active", past_cancellation_dates=(dt("2026-02-01"),))
    m = marker(build(JAN, APR, sub))
    assert m.cancellation_dates == (dt("2026-02-01"),)
    assert m.effective_dates == (dt("2026-02-01"),)


def test_reactivation_keeps_effective_cancellation_month_by_month() -> None:
    changes = build(JAN, APR, subscription(status="active"),
                    remembered={"sub_1": (dt("2026-02-01"),)}, now=dt("2026-05-01"))
    marks = {c.subscription_external_id: c.cancellation_dates for c in changes.cancellations}
    (view,) = views_for_customer("cus_1", changes.invoices, marks)
    months = ["2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15"]
    assert [subscription_status(view, dt(m)) for m in months] == [
        SubStatus.ACTIVE, SubStatus.CANCELLED, SubStatus.CANCELLED, SubStatus.ACTIVE,
    ]


def test_same_inputs_give_the_same_marker_whatever_the_order() -> None:
    a = build(APR, JAN, subscription(status="active"), remembered={"sub_1": (dt("2026-02-01"),)})
    b = build(JAN, APR, subscription(status="active"), remembered={"sub_1": (dt("2026-02-01"),)})
    assert a.cancellations == b.cancellations
