"""docs/rules.md §4: statuses at a time T (with grace), customer precedence, MRR per currency."""

from datetime import timedelta

from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.changeset import OutLine
from saasync.rules.mrr import line_mrr, monthly_factor
from saasync.rules.status import (
    CustomerStatus,
    SubStatus,
    customer_status,
    subscription_mrr,
    subscription_status,
    views_for_customer,
)
from tests.factories import (
    PLANS,
    customer,
    dt,
    failed_attempt,
    invoice,
    plan,
    sub_line,
    subscription,
)

DEFAULT_RULES = RuleSettings()


def view_of(*records, settings=DEFAULT_RULES):  # type: ignore[no-untyped-def]
    changes = build_customer(CustomerHistory("cus_1").merge([customer(), *records]), PLANS, settings)
    cancellations = {c.subscription_external_id: c.cancellation_dates for c in changes.cancellations}
    views = views_for_customer("cus_1", changes.invoices, cancellations)
    return views[0] if views else None


def test_seed_paid_subscription_put_on_hold_mid_period() -> None:
    paid_nov = invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")])
    on_hold = subscription(status="paused", paused_at="2026-11-15")
    view = view_of(paid_nov, on_hold)
    # Active until the paid service period ends...
    assert subscription_status(view, dt("2026-11-20")) is SubStatus.ACTIVE
    # ...then Past-Due, and it stays so...
    assert subscription_status(view, dt("2026-12-05")) is SubStatus.PAST_DUE
    assert subscription_status(view, dt("2027-03-01")) is SubStatus.PAST_DUE
    # ...until the source cancels it (Cancelled marker)...
    cancelled = view_of(paid_nov, subscription(status="cancelled", cancelled_at="2027-01-10"))
    assert subscription_status(cancelled, dt("2026-12-20")) is SubStatus.PAST_DUE
    assert subscription_status(cancelled, dt("2027-01-11")) is SubStatus.CANCELLED
    # ...or resumes it (new invoices: Active again).
    resumed = view_of(
        paid_nov,
        invoice("in_2", "2027-01-10", [sub_line(5000, "2027-01-10")]),
        subscription(status="active"),
    )
    assert subscription_status(resumed, dt("2027-01-15")) is SubStatus.ACTIVE


def test_grace_period_delays_past_due() -> None:
    view = view_of(invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")]))
    at = dt("2026-12-03")
    assert subscription_status(view, at) is SubStatus.PAST_DUE
    assert subscription_status(view, at, grace=timedelta(days=3)) is SubStatus.ACTIVE


def test_unpaid_after_due_date_is_past_due() -> None:
    inv = invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")], status="open", due_at=dt("2026-11-15"))
    view = view_of(inv, settings=RuleSettings(open_invoices="include"))
    assert subscription_status(view, dt("2026-11-10")) is SubStatus.ACTIVE
    assert subscription_status(view, dt("2026-11-16")) is SubStatus.PAST_DUE


def test_latest_payment_attempt_failed_is_past_due() -> None:
    inv = invoice(
        "in_1", "2026-11-01", [sub_line(5000, "2026-11-01")], status="open",
        transactions=[failed_attempt("2026-11-02")],
    )
    view = view_of(inv, settings=RuleSettings(open_invoices="include"))
    assert subscription_status(view, dt("2026-11-01T12:00:00")) is SubStatus.ACTIVE
    assert subscription_status(view, dt("2026-11-03")) is SubStatus.PAST_DUE


def test_subscription_does_not_exist_before_its_first_sent_invoice() -> None:
    view = view_of(invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")]))
    assert subscription_status(view, dt("2026-10-01")) is None


def test_customer_status_precedence_past_due_active_cancelled_lead() -> None:
    assert customer_status([SubStatus.ACTIVE, SubStatus.PAST_DUE, SubStatus.CANCELLED]) is CustomerStatus.PAST_DUE
    assert customer_status([SubStatus.CANCELLED, SubStatus.ACTIVE]) is CustomerStatus.ACTIVE
    assert customer_status([SubStatus.CANCELLED, SubStatus.CANCELLED]) is CustomerStatus.CANCELLED
    assert customer_status([]) is CustomerStatus.LEAD
    assert customer_status([None]) is CustomerStatus.LEAD


def test_mrr_normalizes_to_a_month_and_excludes_tax() -> None:
    line = OutLine("subscription", 12000, tax_amount=2000)
    assert line_mrr(line, plan()) == 10000
    assert line_mrr(line, plan("y", "year")) == 833
    assert line_mrr(line, plan("q", "month", 3)) == 3333
    assert line_mrr(OutLine("subscription", 1000), plan("w", "week")) == 4333
    # ChartMogul's observed 7-day plan: 1000 cents -> 4348
    assert line_mrr(OutLine("subscription", 1000), plan("d7", "day", 7)) == 4348


def test_one_time_lines_add_no_mrr() -> None:
    assert line_mrr(OutLine("one_time", 5000), plan()) == 0
    assert monthly_factor("month", 2) * 2 == 1


def test_prorated_line_counts_as_a_full_period() -> None:
    start = dt("2026-11-16")
    line = OutLine(
        "subscription", 2500, prorated=True,
        service_period_start=start, service_period_end=dt("2026-12-01"),
    )
    assert line_mrr(line, plan()) == 5000


def test_mrr_per_currency_past_due_counts_cancelled_does_not() -> None:
    jpy = view_of(invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")], currency="JPY"))
    assert subscription_mrr(jpy, PLANS, dt("2026-11-10")) == ("JPY", 5000)
    assert subscription_mrr(jpy, PLANS, dt("2026-12-10")) == ("JPY", 5000)  # past due keeps MRR
    gone = view_of(
        invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")]),
        subscription(status="cancelled", cancelled_at="2026-11-20"),
    )
    assert subscription_mrr(gone, PLANS, dt("2026-11-21")) is None


def test_later_zero_invoice_drops_mrr_to_zero() -> None:
    view = view_of(
        invoice("in_1", "2026-10-01", [sub_line(5000, "2026-10-01")]),
        invoice("in_2", "2026-11-01", [sub_line(0, "2026-11-01")]),
    )
    assert subscription_mrr(view, PLANS, dt("2026-11-10")) == ("USD", 0)
