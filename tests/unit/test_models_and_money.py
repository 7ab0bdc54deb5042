"""docs/rules.md, normalized records: normalized records, exact money in minor units, UTC times, errors naming record and field."""

from datetime import UTC
from decimal import Decimal

import pytest
from pydantic import ValidationError

from saasync.models import Invoice, LineItem, RecordError, parse_record
from saasync.money import currency_exponent, to_major, to_minor


def test_iso_4217_exponents_are_used_never_assumed() -> None:
    assert (currency_exponent("JPY"), currency_exponent("usd"), currency_exponent("KWD")) == (0, 2, 3)
    assert to_minor("12.34", "USD") == 1234
    assert to_minor("5000", "JPY") == 5000
    assert to_minor("1.250", "KWD") == 1250
    assert to_major(1234, "USD") == Decimal("12.34")


def test_conversion_never_goes_through_float() -> None:
    assert to_minor("0.29", "USD") == 29  # float(0.29) * 100 == 28.999999999999996
    with pytest.raises(TypeError):
        to_minor(0.29, "USD")  # type: ignore[arg-type]


def test_over_precise_amount_is_an_error_not_rounded() -> None:
    with pytest.raises(ValueError, match="more decimals than JPY"):
        to_minor("100.5", "JPY")


def _invoice(**over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "external_id": "in_1", "customer_external_id": "cus_1", "issued_at": "2026-01-01T10:00:00+02:00",
        "currency": "usd", "status": "paid", "lines": [{"kind": "one_time", "amount": 100}],
    }
    data.update(over)
    return data


def test_times_become_timezone_aware_utc() -> None:
    inv = parse_record(Invoice, _invoice())
    assert inv.issued_at.tzinfo is UTC and inv.issued_at.hour == 8
    naive = parse_record(Invoice, _invoice(issued_at="2026-01-01"))
    assert naive.issued_at.tzinfo is UTC
    assert parse_record(Invoice, _invoice(issued_at=1767225600)).issued_at.year == 2026


@pytest.mark.parametrize(
    ("override", "field", "text"),
    [
        ({"issued_at": "31/31/2026"}, "issued_at", "not a date"),
        ({"currency": ""}, "currency", "currency is required"),
        ({"currency": "XYZ"}, "currency", "unknown currency"),
        ({"status": "weird"}, "status", "Input should be"),
        ({"lines": [{"kind": "subscription", "amount": 5}]}, "lines.0.subscription_external_id", "needs"),
        ({"lines": [{"kind": "one_time", "amount": 5, "quantity": -1}]}, "lines.0.quantity", "greater than"),
    ],
)
def test_validation_error_names_the_record_and_the_field(override: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_record(Invoice, _invoice(**override))
    assert info.value.kind == "invoice" and info.value.external_id == "in_1"
    assert info.value.field == field
    assert text in str(info.value) and "'in_1'" in str(info.value)


def test_records_are_frozen() -> None:
    line = LineItem(kind="one_time", amount=5)
    with pytest.raises(ValidationError):
        line.amount = 6  # type: ignore[misc]
