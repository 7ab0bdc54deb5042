"""Building normalized records from vendor JSON: parsing, money, currencies and quantities.

Every mapping function raises the kit's :class:`MappingError` (naming the record, the field and the
reason code) instead of returning half a record; the connector turns it into a
``Quarantined`` item and the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel

from saasync.kit.records import MappingError
from saasync.models import RecordError, parse_record
from saasync.money import MAX_AMOUNT, is_known_currency, to_minor

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any]) -> M:
    """``parse_record`` with the failure as a MappingError (INVALID_RECORD, field named)."""
    try:
        return parse_record(model, data)
    except RecordError as exc:
        raise MappingError(exc.kind, data.get("external_id"), exc.field, exc.message) from exc


def decimal(value: Any, kind: str, ext_id: str | None, field: str) -> Decimal:
    """A vendor number as an exact Decimal (JSON is decoded with ``parse_float=Decimal``)."""
    if isinstance(value, bool) or value is None:
        raise MappingError(kind, ext_id, field, f"expected a number, got {value!r}")
    if isinstance(value, float):  # decoded without parse_float=Decimal: keep its shortest repr
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise MappingError(kind, ext_id, field, f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise MappingError(kind, ext_id, field, f"expected a finite number, got {value!r}")
    return number


def minor(value: Any, currency: str, kind: str, ext_id: str | None, field: str, *,
          rounded: bool = False) -> int:
    """Major units to integer minor units with the currency's ISO 4217 exponent.

    Amounts the vendor states are exact (more decimals than the currency has is an
    error); ``rounded`` is for amounts we compute (quantity × unit price), which are
    rounded half-even to the minor unit.
    """
    number = decimal(value, kind, ext_id, field)
    try:  # the shared conversion: exact, bounded to what the destination can store
        return to_minor(number, currency, rounded=rounded)
    except ValueError as exc:
        raise MappingError(kind, ext_id, field, str(exc)) from None


def objects(value: Any, kind: str, ext_id: str | None, field: str) -> list[Mapping[str, Any]]:
    """A vendor list of objects (absent: none); any other shape is a MappingError naming
    the field, never a TypeError that would stop the run."""
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise MappingError(kind, ext_id, field, f"expected a list of objects, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise MappingError(kind, ext_id, f"{field}.{index}",
                               f"expected an object, got {type(item).__name__}")
    return value


def currency_code(value: Any, kind: str, ext_id: str | None, field: str) -> str:
    """An ISO 4217 code, or a MappingError naming the field."""
    code = str(value or "").strip().upper()
    if not code:
        raise MappingError(kind, ext_id, field, "currency is missing")
    if not is_known_currency(code):
        raise MappingError(kind, ext_id, field, f"unknown currency code {value!r}")
    return code


def quantity(value: Any) -> int:
    """ChartMogul quantities are whole seats: a whole number >= 1 is kept, anything else
    (hours such as 1.5, or the 0 of a voided invoice) counts as 1; the amount is exact."""
    try:
        number = Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        return 1
    if number is None or not number.is_finite() or number < 1 or number != number.to_integral():
        return 1
    if number > MAX_AMOUNT:  # no int() of a huge Decimal (1E+999999 takes 30 s): refused later
        return MAX_AMOUNT + 1
    return int(number)
