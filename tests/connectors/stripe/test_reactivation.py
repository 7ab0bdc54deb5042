"""Stripe: a cancellation scheduled with cancel_at_period_end (or cancel_at) and undone before
the period ends never took effect; an ended (canceled) subscription is a cancellation."""

from __future__ import annotations

from datetime import UTC, datetime

from saasync_connectors.stripe.mapping import to_subscription
from tests.connectors.reactivation_support import dates_after, invoices_for
from tests.connectors.stripe.test_mapping import load


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_withdrawn_cancel_at_period_end_sends_no_cancellation() -> None:
    raw = load("subscription_basil.json")
    raw.update(cancel_at_period_end=True, cancel_at=ts("2026-02-01"))
    scheduled = to_subscription(raw)
    invoices = invoices_for(scheduled, "2026-01-01")
    assert dates_after(scheduled, invoices, at("2026-01-20")) == ((), ())
    raw.update(cancel_at_period_end=False, cancel_at=None)  # undone before the period end
    assert dates_after(to_subscription(raw), invoices, at("2026-01-25")) == ((), ())


def test_ended_subscription_is_a_cancellation_that_takes_effect() -> None:
    raw = load("subscription_basil.json")
    raw.update(status="canceled", canceled_at=ts("2026-01-20"), ended_at=ts("2026-02-01"))
    sub = to_subscription(raw)
    sent, effective = dates_after(sub, invoices_for(sub, "2026-01-01"), at("2026-02-02"))
    assert sent == effective == (at("2026-02-01"),)
