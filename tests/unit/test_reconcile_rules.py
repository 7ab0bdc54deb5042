"""DOMAIN §6: one primary reason per missing subscription; an explanation per status difference."""

from saasync.models import SubscriptionStatus
from saasync.reasons import Reason
from saasync.rules import CustomerHistory, RuleSettings, build_customer
from saasync.rules.reconcile import explain_status_difference, missing_reason
from saasync.rules.status import SubStatus
from tests.factories import PLANS, customer, dt, invoice, one_time, sub_line, subscription


def reason(*invoices, present=False, quarantined=(), settings=RuleSettings()):  # type: ignore[no-untyped-def]
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


def test_on_hold_stays_active_until_the_paid_period_ends() -> None:
    diff = explain_status_difference(
        subscription(status="paused"), SubStatus.ACTIVE, paid_until=dt("2026-12-01")
    )
    assert diff is not None and diff.code == "ON_HOLD_IN_PAID_PERIOD" and "2026-12-01" in diff.explanation


def test_on_hold_past_its_period_is_past_due_until_cancelled_or_resumed() -> None:
    diff = explain_status_difference(subscription(status="paused"), SubStatus.PAST_DUE, paid_until=None)
    assert diff is not None and diff.code == "ON_HOLD_PAST_PAID_PERIOD"


def test_matching_statuses_need_no_explanation() -> None:
    assert explain_status_difference(subscription(status="active"), SubStatus.ACTIVE, paid_until=None) is None


def test_cancellation_not_yet_synced_is_explained() -> None:
    src = subscription(status="cancelled", cancelled_at="2026-01-05")
    assert src.status is SubscriptionStatus.CANCELLED
    diff = explain_status_difference(src, SubStatus.ACTIVE, paid_until=None)
    assert diff is not None and diff.code == "CANCELLATION_NOT_SYNCED"


def test_trialing_has_no_analytics_equivalent() -> None:
    diff = explain_status_difference(subscription(status="trialing"), SubStatus.ACTIVE, paid_until=None)
    assert diff is not None and diff.code == "NO_EQUIVALENT_STATUS"
