"""docs/rules.md §5: one primary reason per missing subscription; an explanation per status difference."""

from saasync.models import SubscriptionStatus
from saasync.reasons import Reason
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.reconcile import missing_reason, status_cause, unsent_invoices
from saasync.rules.status import views_for_customer
from tests.factories import PLANS, customer, dt, invoice, one_time, sub_line, subscription

DEFAULT_RULES = RuleSettings()


def reason(*invoices, present=False, quarantined=(), settings=DEFAULT_RULES):  # type: ignore[no-untyped-def]
    history = CustomerHistory("cus_1").merge([customer(), *invoices])
    changes = build_customer(history, PLANS, settings)
    return missing_reason(
        "sub_1", history.invoices.values(), changes,
        present_at_destination=present, quarantined_ids=quarantined,
    )


def test_present_subscription_has_no_reason() -> None:
    assert reason(invoice("in_1", "2026-01-01", [sub_line(5000)]), present=True) is None


def test_NO_INVOICE() -> None:
    assert reason() is Reason.NO_INVOICE


def test_ZERO_FIRST_INVOICE() -> None:
    assert reason(invoice("in_1", "2026-01-01", [sub_line(0)])) is Reason.ZERO_FIRST_INVOICE


def test_FULLY_DISCOUNTED() -> None:
    inv = invoice("in_1", "2026-01-01", [sub_line(10000)], discount_amount=10000)
    assert reason(inv) is Reason.FULLY_DISCOUNTED


def test_NO_ACTIVE_INVOICE() -> None:
    assert reason(
        invoice("in_1", "2026-01-01", [sub_line(5000)], status="draft"),
        invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01")], status="failed"),
    ) is Reason.NO_ACTIVE_INVOICE


def test_ONE_TIME_ONLY() -> None:
    inv = invoice("in_1", "2026-01-01", [one_time(5000, subscription_external_id="sub_1")])
    assert reason(inv) is Reason.ONE_TIME_ONLY


def test_OPEN_EXCLUDED() -> None:
    assert reason(invoice("in_1", "2026-01-01", [sub_line(5000)], status="open")) is Reason.OPEN_EXCLUDED


def test_QUARANTINED() -> None:
    assert reason(quarantined={"sub_1"}) is Reason.QUARANTINED
    unknown_plan = invoice("in_1", "2026-01-01", [sub_line(5000, plan_id="pl_gone")])
    assert reason(unknown_plan) is Reason.QUARANTINED


def test_NOT_YET_SYNCED() -> None:
    assert reason(invoice("in_1", "2026-01-01", [sub_line(5000)])) is Reason.NOT_YET_SYNCED


# Status differences: the cause of each is tested in test_status_causes.py; these are the
# seed's worked cases, now judged on what analytics holds (the generic explanation is gone).
def _cause(src, at, *records):  # type: ignore[no-untyped-def]
    history = CustomerHistory("cus_1").merge([customer(), src, *records])
    changes = build_customer(history, PLANS, RuleSettings())
    markers = {m.subscription_external_id: m.cancellation_dates for m in changes.cancellations}
    (view,) = views_for_customer("cus_1", changes.invoices, markers)
    renewals = unsent_invoices("sub_1", history.invoices.values(), changes)
    return status_cause(src, view, dt(at), expected=view, renewals=renewals)


NOV = invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")])


def test_on_hold_stays_active_until_the_paid_period_ends() -> None:
    diff = _cause(subscription(status="paused", paused_at="2026-11-10"), "2026-11-15", NOV)
    assert diff is not None and diff.code == "ON_HOLD_IN_PAID_PERIOD" and "2026-12-01" in diff.explanation


def test_on_hold_past_its_period_is_past_due_until_cancelled_or_resumed() -> None:
    diff = _cause(subscription(status="paused", paused_at="2026-11-10"), "2026-12-05", NOV)
    assert diff is not None and diff.code == "ON_HOLD_PAST_PAID_PERIOD"


def test_matching_statuses_need_no_explanation() -> None:
    assert _cause(subscription(status="active"), "2026-11-15", NOV) is None


def test_cancellation_not_yet_synced_is_explained() -> None:
    src = subscription(status="cancelled", cancelled_at="2026-11-05")
    assert src.status is SubscriptionStatus.CANCELLED
    history = CustomerHistory("cus_1").merge([customer(), subscription(), NOV])
    (held,) = views_for_customer("cus_1", build_customer(history, PLANS).invoices, {})
    diff = status_cause(src, held, dt("2026-11-15"))
    assert diff is not None and diff.code == "CANCELLATION_NOT_SYNCED"


def test_trialing_has_no_analytics_equivalent() -> None:
    diff = _cause(subscription(status="trialing"), "2026-11-15", NOV)
    assert diff is not None and diff.code == "NO_EQUIVALENT_STATUS"
