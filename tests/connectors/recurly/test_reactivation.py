"""Recurly: ``canceled`` is set not to renew, still inside the paid term; reactivated before
``expires_at`` it never ended, so no cancellation is sent. ``expired`` is the end."""

from __future__ import annotations

from datetime import UTC, datetime

from saasync_connectors.recurly.mapping import to_subscription
from tests.connectors.reactivation_support import dates_after, invoices_for
from tests.connectors.recurly.support import obj


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_reactivated_before_expiry_sends_no_cancellation() -> None:
    raw = obj("subscriptions", "s1initech004")  # canceled, expires 2024-04-07
    canceled = to_subscription(raw)
    invoices = invoices_for(canceled, "2024-03-07")
    assert dates_after(canceled, invoices, at("2024-03-20")) == ((), ())
    raw.update(state="active", canceled_at=None, expires_at=None)  # reactivated in the term
    assert dates_after(to_subscription(raw), invoices, at("2024-03-25")) == ((), ())


def test_expired_is_a_cancellation_that_took_effect() -> None:
    expired = to_subscription(obj("subscriptions", "s1umbrella05"))
    sent, effective = dates_after(expired, invoices_for(expired, "2024-02-08"), at("2024-03-10"))
    assert sent == effective == (at("2024-03-08T08:00:00Z"),)
