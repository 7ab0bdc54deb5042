"""A subscription cancelled at the start of its service period is Cancelled from then on:
the invoice whose period it cancelled is not a resumption. Only an invoice whose period
starts strictly after the cancellation date reactivates it."""

from datetime import timedelta

from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.reconcile import status_cause
from saasync.rules.status import (
    SubStatus,
    subscription_mrr,
    subscription_status,
    views_for_customer,
)
from tests.factories import PLANS, customer, dt, invoice, sub_line, subscription


def _view(*records):  # type: ignore[no-untyped-def]
    changes = build_customer(CustomerHistory("cus_1").merge([customer(), *records]), PLANS, RuleSettings())
    marks = {c.subscription_external_id: c.cancellation_dates for c in changes.cancellations}
    return views_for_customer("cus_1", changes.invoices, marks)[0]


def test_immediate_cancellation_same_instant_is_cancelled() -> None:
    start = "2026-03-01T09:30:00"
    src = subscription(status="cancelled", cancelled_at=start)
    view = _view(invoice("in_1", start, [sub_line(5000, start)]), src)
    for at in (dt(start), dt(start) + timedelta(seconds=1), dt("2026-03-15"), dt("2026-06-01")):
        assert subscription_status(view, at) is SubStatus.CANCELLED, at
        assert subscription_mrr(view, PLANS, at) is None, at
    # billing says cancelled, analytics says cancelled: nothing to explain
    now = dt("2026-03-20")
    assert status_cause(src, view, now) is None


def test_immediate_cancellation_one_second_later_invoice_reactivates() -> None:
    start = "2026-03-01T09:30:00"
    later = "2026-03-01T09:30:01"
    view = _view(
        invoice("in_1", start, [sub_line(5000, start)]),
        invoice("in_2", later, [sub_line(5000, later)]),
        subscription(status="cancelled", cancelled_at=start),
    )
    assert subscription_status(view, dt(start)) is SubStatus.CANCELLED
    assert subscription_status(view, dt("2026-03-10")) is SubStatus.ACTIVE
    assert subscription_mrr(view, PLANS, dt("2026-03-10")) == ("USD", 5000)


def test_immediate_cancellation_before_period_start_is_cancelled() -> None:
    # invoiced in advance for March, cancelled before March began: that invoice's period
    # is the one cancelled, so it does not bring the subscription back
    view = _view(
        invoice("in_1", "2026-02-27", [sub_line(5000, "2026-03-01")]),
        subscription(status="cancelled", cancelled_at="2026-02-28T23:00:00"),
    )
    assert subscription_status(view, dt("2026-03-10")) is SubStatus.CANCELLED
    assert subscription_mrr(view, PLANS, dt("2026-03-10")) is None
