"""Files exports: the optional past_cancellation_dates column of subscription rows carries
cancellations that took effect before the current state (a reactivated subscription)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from saasync_connectors.files.mapping import MappingError, to_subscription
from tests.connectors.reactivation_support import dates_after, invoices_for


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ROW = {"external_id": "sub_1", "customer_external_id": "cus_1", "plan_external_id": "pl_monthly",
       "status": "active"}


def test_past_cancellation_dates_column_is_kept_after_a_reactivation() -> None:
    sub = to_subscription({**ROW, "past_cancellation_dates": "2026-02-01T00:00:00Z; 2026-05-01"})
    assert sub.past_cancellation_dates == (at("2026-02-01"), at("2026-05-01"))
    invoices = invoices_for(sub, "2026-01-01", "2026-03-10", "2026-06-10")
    sent, effective = dates_after(sub, invoices, at("2026-06-15"))
    assert sent == effective == (at("2026-02-01"), at("2026-05-01"))


def test_past_cancellation_dates_as_a_json_list() -> None:
    sub = to_subscription({**ROW, "past_cancellation_dates": ["2026-02-01T00:00:00Z"]})
    assert sub.past_cancellation_dates == (at("2026-02-01"),)


def test_withdrawn_scheduled_cancellation_in_a_files_export() -> None:
    scheduled = to_subscription({**ROW, "status": "cancelled", "cancelled_at": "2026-02-01"})
    invoices = invoices_for(scheduled, "2026-01-01")
    assert dates_after(scheduled, invoices, at("2026-01-20")) == ((at("2026-02-01"),), ())
    withdrawn = to_subscription(ROW)  # the next export says active again, before Feb 1
    assert dates_after(withdrawn, invoices, at("2026-01-25")) == ((), ())


@pytest.mark.parametrize("value, message", [
    ("2026-02-31", "past_cancellation_dates"),
    ("2026-02-01; soon", "past_cancellation_dates"),
])
def test_a_bad_past_cancellation_date_is_a_mapping_error(value: str, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        to_subscription({**ROW, "past_cancellation_dates": value})
    assert caught.value.field.startswith(message)


def test_a_past_cancellation_after_the_current_one_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="not before cancelled_at") as caught:
        to_subscription({**ROW, "status": "cancelled", "cancelled_at": "2026-02-01",
                         "past_cancellation_dates": "2026-03-01"})
    assert caught.value.field == "past_cancellation_dates"
