"""Hardened parsing helpers: an extreme value is a ValueError naming what is accepted, never
an OverflowError, a decimal signal or a RecursionError escaping from a record's validation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from saasync.models import (
    MAX_AMOUNT,
    Invoice,
    LineItem,
    RecordError,
    Transaction,
    parse_record,
    to_utc,
)
from saasync.money import to_minor


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "99999999999999999999",
     "-99999999999999999999", "1" * 5000],
)  # fmt: skip
def test_out_of_range_date_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="out of range|not a date"):
        to_utc(text)


@pytest.mark.parametrize("value", [99999999999999999999, -(10**30), 10**400, float("inf"), float("nan")])
def test_out_of_range_epoch_number_is_a_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        to_utc(value)


def test_far_future_offset_date_is_invalid_naming_field() -> None:
    with pytest.raises(RecordError) as caught:
        parse_record(Transaction, {"type": "payment", "result": "successful",
                                   "date": "9999-12-31T23:00:00-05:00"})
    assert caught.value.field == "date"
    assert "9999-12-31T23:00:00-05:00" in caught.value.message


@pytest.mark.parametrize(
    ("amount", "needle"),
    [("99999999999999999999.00", "too large"), ("1E+30", "too large"),
     ("1E+999999", "too large"), ("-1E+999999", "too large"), ("1E-999999", "decimals"),
     (Decimal("1E+999999"), "too large"), ("9" * 5000, "too large")],
)  # fmt: skip
def test_extreme_amount_is_a_value_error(amount: object, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        to_minor(amount, "USD")  # type: ignore[arg-type]


def test_amount_at_int64_limit_converts() -> None:
    assert to_minor(str(MAX_AMOUNT), "JPY") == MAX_AMOUNT
    assert to_minor("92233720368547758.07", "USD") == MAX_AMOUNT


def test_amount_above_int64_is_invalid() -> None:
    with pytest.raises(ValueError, match="too large"):
        to_minor("92233720368547758.08", "USD")
    with pytest.raises(RecordError) as caught:
        parse_record(LineItem, {"kind": "one_time", "amount": MAX_AMOUNT + 1})
    assert caught.value.field == "amount"
    assert "64-bit" in caught.value.message


def test_invoice_total_above_int64_is_invalid() -> None:
    line = {"kind": "one_time", "amount": MAX_AMOUNT}
    with pytest.raises(RecordError) as caught:
        parse_record(Invoice, {
            "external_id": "inv_1", "customer_external_id": "cus_1",
            "issued_at": datetime(2026, 1, 1, tzinfo=UTC), "currency": "USD", "status": "paid",
            "lines": [line, line],
        })  # fmt: skip
    assert caught.value.field == "lines"
