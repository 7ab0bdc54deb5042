"""Normalized records (docs/rules.md, normalized records): what every connector produces and the rules consume.

Frozen pydantic models. Money is an integer in the currency's minor unit; times are
timezone-aware UTC. Connectors turn vendor JSON into these in their ``mapping.py``;
nothing vendor-shaped reaches the engine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from dateutil import parser as dateparser
from dateutil import tz
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from saasync.money import MAX_AMOUNT, is_known_currency

# What every date field accepts; said in full whenever a value is refused.
ACCEPTED_TIMES = (
    "ISO 8601 with an offset or Z (2026-11-01T09:30:00Z, 2026-11-01T10:30:00+01:00; "
    "without an offset it is UTC), a date alone (2026-11-01, midnight UTC), epoch seconds, "
    "or a month-first date (11/01/2026)"
)
_UTC_NAMES = frozenset(("UTC", "GMT", "Z", "UT"))
_MAX_EPOCH_DIGITS = 12  # year 9999 is 253402300799 seconds: 12 digits
_DAY_FIRST = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})\b")
_YEAR_DAY_MONTH = re.compile(r"^\s*(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})\b")
_DEFAULTS = (datetime(2000, 1, 1), datetime(2004, 2, 2))  # naive on purpose: dateutil fills in from these


def clip(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, safe for any size of number or text."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit integer"
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refused(value: Any, why: str) -> ValueError:
    return ValueError(f"{why}: {clip(value)}; accepted: {ACCEPTED_TIMES}")


def _aware_utc(value: datetime, original: Any) -> datetime:
    """``value`` in UTC (naive is UTC); a time whose UTC instant falls outside years
    1..9999 is refused rather than overflowing."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is UTC:
        return value
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise _refused(original, "out of range once converted to UTC (years 1 to 9999)") from exc


def epoch_to_utc(value: Any) -> datetime:
    """Epoch seconds (an int, or digits) as aware UTC; out of range is a ValueError."""
    if isinstance(value, str):
        digits = value.strip()
        if len(digits.lstrip("-")) > _MAX_EPOCH_DIGITS:
            raise _refused(value, "epoch seconds out of range (years 1970 to 9999)")
        value = int(digits)
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _refused(value, "epoch seconds out of range (years 1970 to 9999)") from exc


def _zone(name: str | None, offset: int | None) -> Any:
    """dateutil's ``tzinfos``: numeric offsets and UTC names only; a zone name such as
    ``PST`` or ``CET`` is refused, never guessed (nor taken for this machine's zone)."""
    if offset is not None:
        return tz.UTC if offset == 0 else tz.tzoffset(name, offset)
    if name is None:
        return None
    if name.upper() in _UTC_NAMES:
        return tz.UTC
    raise ValueError(f"unknown or ambiguous time zone name {name!r}")


def _lenient(text: str) -> datetime:
    """The documented lenient spellings: month-first dates, with an offset or UTC name."""
    day_first = _DAY_FIRST.match(text)
    if day_first and int(day_first.group(1)) > 12 and 1 <= int(day_first.group(2)) <= 12:
        raise _refused(text, "a day-first date (dates are read month-first)")
    year_day = _YEAR_DAY_MONTH.match(text)
    if year_day and int(year_day.group(2)) > 12 and 1 <= int(year_day.group(3)) <= 12:
        raise _refused(text, "a year-day-month date")
    try:
        first, second = (
            dateparser.parse(text, default=default, dayfirst=False, tzinfos=_zone)
            for default in _DEFAULTS
        )
    except ValueError as exc:
        if "time zone name" in str(exc):
            raise _refused(text, str(exc)) from exc
        raise _refused(text, "not a date or datetime") from exc
    except (OverflowError, TypeError, RecursionError) as exc:
        raise _refused(text, "not a date or datetime") from exc
    if first != second:  # a part of the date was missing and filled in from the default
        raise _refused(text, "an incomplete date (year, month and day are needed)")
    return first


@lru_cache(maxsize=1 << 16)
def _iso_utc(value: str) -> datetime | None:
    """ISO 8601 text as aware UTC by the standard library's C parser, None if it is not.
    Cached: exports repeat the same few thousand dates (the result is immutable), and a
    lookup costs a tenth of the parse (issue #18 target 4)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return _aware_utc(parsed, value)


def to_utc(value: Any) -> Any:
    """Parse what sources send (ISO strings, dates, epoch seconds) into aware UTC datetimes.

    A naive timestamp is taken as UTC: exports without an offset are UTC by convention
    in every source we read (documented in the file connector's BEHAVIOR.md). Anything
    out of range, ambiguous (a zone name, a day-first date) or unreadable is a ValueError
    that says what is accepted; nothing else escapes.
    """
    if type(value) is str and value[:1].isdigit() and not value.isdigit():
        parsed = _iso_utc(value)  # the common case, ISO 8601 text: parsed once per text
        if parsed is not None:
            return parsed
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected a date or datetime, got a boolean")  # noqa: TRY004 - a bad value, reported as one
    if isinstance(value, (int, float)):
        return epoch_to_utc(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return epoch_to_utc(text)
        if len(text) > 64:
            raise _refused(text, "not a date or datetime (too long)")
        try:  # the standard library's C parser first: most sources send plain ISO 8601
            return _aware_utc(datetime.fromisoformat(text), value)
        except ValueError as exc:
            if "accepted:" in str(exc):  # ours: read, but out of range in UTC
                raise
        try:
            return _aware_utc(dateparser.isoparse(text), value)
        except (ValueError, OverflowError) as exc:
            if "accepted:" in str(exc):
                raise
        return _aware_utc(_lenient(text), value)
    if isinstance(value, datetime):
        return _aware_utc(value, value)
    raise ValueError(f"not a date or datetime: {clip(value)}")


def _int64(value: int) -> int:
    """Amounts, quantities and counts must fit the destination's signed 64-bit integers."""
    if not -MAX_AMOUNT - 1 <= value <= MAX_AMOUNT:
        raise ValueError(
            f"{clip(value)} does not fit a signed 64-bit integer (at most {MAX_AMOUNT}), "
            "the largest number the destination can store"
        )
    return value


UTCDateTime = Annotated[datetime, BeforeValidator(to_utc)]
Int64 = Annotated[int, AfterValidator(_int64)]
NonNegativeInt = Annotated[int, Field(ge=0), AfterValidator(_int64)]


class Record(BaseModel):
    """Base of every normalized record: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(min_length=1)

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()


class AccountStatus(StrEnum):
    LEAD = "LEAD"
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    INACTIVE = "INACTIVE"


class Customer(Record):
    name: str = ""
    email: str | None = None
    company: str | None = None
    country: str | None = None
    created_at: UTCDateTime | None = None
    account_status: AccountStatus | None = None
    billing_cycle_enabled: bool | None = None
    updated_at: UTCDateTime | None = None


class Plan(Record):
    name: str = Field(min_length=1)
    interval_unit: Literal["day", "week", "month", "year"]
    interval_count: Int64 = Field(default=1, ge=1)
    updated_at: UTCDateTime | None = None


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"
    VOID = "void"


class LineItem(BaseModel):
    """One invoice line. ``amount`` is after line discounts, tax included (ChartMogul's rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    external_id: str | None = None
    kind: Literal["subscription", "one_time"]
    subscription_external_id: str | None = None
    plan_external_id: str | None = None
    service_period_start: UTCDateTime | None = None
    service_period_end: UTCDateTime | None = None
    quantity: Int64 = Field(default=1, ge=1)
    prorated: bool = False
    amount: Int64
    discount_amount: NonNegativeInt = 0
    tax_amount: NonNegativeInt = 0
    description: str | None = None

    @model_validator(mode="after")
    def _subscription_fields(self) -> LineItem:
        if self.kind == "subscription":
            missing = [
                name
                for name in (
                    "subscription_external_id",
                    "plan_external_id",
                    "service_period_start",
                    "service_period_end",
                )
                if getattr(self, name) in (None, "")
            ]
            if missing:
                raise ValueError(f"{missing[0]}: a subscription line needs {', '.join(missing)}")
            assert self.service_period_start and self.service_period_end
            if self.service_period_end <= self.service_period_start:
                raise ValueError(
                    "service_period_end: service_period_end must be after service_period_start"
                )
        return self


class Transaction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    external_id: str | None = None
    type: Literal["payment", "refund"]
    result: Literal["successful", "failed"]
    date: UTCDateTime
    amount: NonNegativeInt | None = None


class Invoice(Record):
    customer_external_id: str = Field(min_length=1)
    issued_at: UTCDateTime
    due_at: UTCDateTime | None = None
    currency: str
    status: InvoiceStatus
    source_status: str | None = None
    lines: tuple[LineItem, ...] = Field(min_length=1)
    transactions: tuple[Transaction, ...] = ()
    discount_amount: NonNegativeInt = 0
    discount_code: str | None = None
    updated_at: UTCDateTime | None = None

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("currency is required (an ISO 4217 code such as USD)")
        code = value.strip().upper()
        if not is_known_currency(code):
            raise ValueError(f"unknown currency code {value!r} (expected an ISO 4217 code)")
        return code

    @model_validator(mode="after")
    def _total_fits(self) -> Invoice:
        total = sum(line.amount for line in self.lines)
        if not -MAX_AMOUNT - 1 <= total <= MAX_AMOUNT:
            raise ValueError(
                f"lines: the lines add up to {clip(total)}, which does not fit a signed 64-bit "
                f"integer (at most {MAX_AMOUNT}), the largest number the destination can store"
            )
        return self

    @property
    def has_subscription_line(self) -> bool:
        return any(line.kind == "subscription" for line in self.lines)

    @property
    def successful_payment(self) -> bool:
        return any(t.type == "payment" and t.result == "successful" for t in self.transactions)


class SubscriptionStatus(StrEnum):
    """The source's subscription status, grouped (the connector's BEHAVIOR.md)."""

    FUTURE = "future"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class SourceSubscription(Record):
    customer_external_id: str = Field(min_length=1)
    plan_external_id: str | None = None
    status: SubscriptionStatus
    source_status: str | None = None
    started_at: UTCDateTime | None = None
    cancelled_at: UTCDateTime | None = None
    paused_at: UTCDateTime | None = None
    current_period_end: UTCDateTime | None = None
    updated_at: UTCDateTime | None = None
    # Earlier cancellations that took effect, for sources that export their history
    # (e.g. a files export column); the current one stays in ``cancelled_at``.
    past_cancellation_dates: tuple[UTCDateTime, ...] = ()

    @model_validator(mode="after")
    def _cancelled_needs_date(self) -> SourceSubscription:
        if self.status is SubscriptionStatus.CANCELLED and self.cancelled_at is None:
            raise ValueError("cancelled_at: a cancelled subscription needs cancelled_at")
        return self


SourceRecord = Customer | Plan | Invoice | SourceSubscription
R = TypeVar("R", bound=BaseModel)


class RecordError(ValueError):
    """A source record that cannot become a normalized record: names the record and the field."""

    def __init__(self, kind: str, external_id: str | None, field: str, message: str) -> None:
        self.kind = kind
        self.external_id = external_id or "?"
        self.field = field
        self.message = message
        super().__init__(f"{kind} {self.external_id!r}: field {field!r}: {message}")


_NAMED_FIELD = re.compile(r"^([a-z_]+): ")


def parse_record(model: type[R], data: dict[str, Any]) -> R:
    """Validate ``data`` as ``model``; on failure raise one RecordError naming record and field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        parts = [str(part) for part in first["loc"]]
        message = first["msg"].removeprefix("Value error, ")
        named = _NAMED_FIELD.match(message)
        if named:  # a cross-field check names its field: "cancelled_at: ..."
            parts.append(named.group(1))
            message = message[named.end() :]
        field = ".".join(parts) or "(record)"
        kind = model.__name__.lower()
        ext_id = data.get("external_id") if isinstance(data, dict) else None
        raise RecordError(kind, str(ext_id) if ext_id else None, field, message) from exc
