"""The shortcuts taken for speed (issue #9) give exactly what the general paths give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasync.mirror import LOADERS, MODEL_OF, ReadSet
from saasync.models import Invoice, to_utc
from saasync.money import to_minor
from saasync.rules.changeset import iso
from tests.factories import customer, invoice, paid, plan, sub_line, subscription


def _decimal_path(text: str, currency: str) -> int | str:
    """to_minor through Decimal only (what the fast path must agree with)."""
    try:
        return to_minor(Decimal(text), currency)
    except (ValueError, ArithmeticError):
        return "error"


def _fast_or_error(text: str, currency: str) -> int | str:
    try:
        return to_minor(text, currency)
    except (ValueError, ArithmeticError):
        return "error"


@given(
    st.from_regex(r"\A-?[0-9]{1,9}(\.[0-9]{0,5})?\Z"),
    st.sampled_from(["USD", "JPY", "KWD", "CLF"]),
)
def test_money_text_fast_path_equals_the_decimal_path(text: str, currency: str) -> None:
    assert _fast_or_error(text, currency) == _decimal_path(text, currency)


@pytest.mark.parametrize("text", ["1e2", " 7.25 ", ".5", "+3.00", "٣.00", "1_000.00"])
def test_money_text_the_fast_path_declines_goes_the_decimal_way(text: str) -> None:
    try:
        expected: int | str = to_minor(Decimal(text.strip()), "USD")
    except (ValueError, ArithmeticError):
        expected = "error"
    assert _fast_or_error(text, "USD") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31T10:00:00Z", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31T12:00:00+02:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31T10:00:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),  # naive is UTC
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("1769853600", datetime(2026, 1, 31, 10, tzinfo=UTC)),  # epoch seconds as text
        ("Jan 31 2026 10:00", datetime(2026, 1, 31, 10, tzinfo=UTC)),  # dateutil fallback
    ],
)
def test_to_utc_fast_path_keeps_every_form_it_read_before(text: str, expected: datetime) -> None:
    value = to_utc(text)
    assert value == expected and value.utcoffset() == timedelta(0)


def test_iso_is_whole_seconds_with_z_even_with_microseconds_and_early_years() -> None:
    assert iso(datetime(2026, 1, 31, 10, 5, 7, 123456, tzinfo=UTC)) == "2026-01-31T10:05:07Z"
    assert iso(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00Z"
    assert iso(None) is None


def test_trusted_mirror_loader_rebuilds_the_same_records() -> None:
    records = [
        customer("cus_1", name="Ada", email="ada@example.com"),
        plan("pl_monthly"),
        subscription("sub_1", status="cancelled", cancelled_at=datetime(2026, 3, 1, tzinfo=UTC)),
        invoice("inv_1", "2026-01-01", lines=[sub_line(1000, "2026-01-01")],
                transactions=[paid("2026-01-01")], discount_amount=100),
    ]
    for record in records:
        kind = next(k for k, m in MODEL_OF.items() if isinstance(record, m))
        loaded = LOADERS[kind].validate_json(record.model_dump_json())
        assert type(loaded) is type(record)
        assert loaded == record
        assert loaded.model_dump_json() == record.model_dump_json()


def test_trusted_loader_still_checks_types_but_skips_python_checks() -> None:
    """It is for documents this program wrote; a broken type still fails loudly."""
    good = invoice("inv_1", "2026-01-01", lines=[sub_line(1000, "2026-01-01")]).model_dump_json()
    with pytest.raises(ValueError):
        LOADERS["invoice"].validate_json(good.replace('"amount":1000', '"amount":"lots"'))
    assert isinstance(LOADERS["invoice"].validate_json(good), Invoice)


def test_read_set_membership_after_many_adds() -> None:
    read = ReadSet()
    for n in range(5000):
        read.add("invoice", f"inv_{n}", f"cus_{n % 7}")
    assert ("invoice", "inv_4999") in read and ("invoice", "inv_5000") not in read
    assert "inv_17" in read.of("invoice") and "inv_17" not in read.of("customer")
    assert len(read) == 5000 and read.customers == {f"cus_{n}" for n in range(7)}


def test_trusted_loader_skips_the_python_level_checks() -> None:
    """What makes it fast: no Python validator runs (a bad cross-field value passes through),
    and the models' own validators are untouched by building it."""
    doc = invoice("inv_1", "2026-01-01", lines=[sub_line(1000, "2026-01-01")]).model_dump_json()
    odd = doc.replace('"currency":"USD"', '"currency":"usd"')
    assert LOADERS["invoice"].validate_json(odd).currency == "usd"  # not upper-cased: no check ran
    assert Invoice.model_validate_json(odd).currency == "USD"  # the model itself still checks
    # nor those of the nested lines: a subscription line without its fields passes through
    planless = doc.replace('"plan_external_id":"pl_monthly"', '"plan_external_id":null')
    assert planless != doc
    assert LOADERS["invoice"].validate_json(planless).lines[0].plan_external_id is None
    with pytest.raises(ValueError, match="plan_external_id"):
        Invoice.model_validate_json(planless)
