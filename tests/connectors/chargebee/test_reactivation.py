"""Chargebee: a cancelled subscription that is reactivated comes back active and its
cancelled_at no longer counts; the cancellation that took effect stays in the history.
non_renewing (a scheduled cancellation) that is undone never sent a cancellation."""

from __future__ import annotations

from datetime import UTC, datetime

from saasync_connectors.chargebee.mapping import to_subscription
from tests.connectors.chargebee.test_mapping import obj
from tests.connectors.reactivation_support import dates_after, invoices_for


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_reactivate_keeps_the_cancellation_that_took_effect() -> None:
    cancelled = to_subscription(obj("subscription", status="cancelled", cancelled_at=ts("2026-02-01")))
    sent, effective = dates_after(cancelled, invoices_for(cancelled, "2026-01-01"), at("2026-02-10"))
    assert sent == effective == (at("2026-02-01"),)
    # reactivated in April: active again, a new term invoiced; Chargebee may keep or drop
    # cancelled_at, the mapping ignores it on an active subscription either way
    for leftover in (None, ts("2026-02-01")):
        active = to_subscription(obj("subscription", status="active", cancelled_at=leftover))
        invoices = invoices_for(active, "2026-01-01", "2026-04-10")
        sent, _ = dates_after(active, invoices, at("2026-04-15"),
                              remembered={active.external_id: effective})
        assert sent == (at("2026-02-01"),)


def test_non_renewing_undone_sends_no_cancellation() -> None:
    scheduled = to_subscription(obj("subscription", status="non_renewing", cancelled_at=ts("2026-02-01")))
    invoices = invoices_for(scheduled, "2026-01-01")
    assert dates_after(scheduled, invoices, at("2026-01-20")) == ((), ())
    renewed = to_subscription(obj("subscription", status="active", cancelled_at=None))
    assert dates_after(renewed, invoices, at("2026-02-10")) == ((), ())
