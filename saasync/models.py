"""Normalized records (DOMAIN §2): what every connector produces and the rules consume.

Frozen pydantic models. Money is an integer in the currency's minor unit; times are
timezone-aware UTC. Connectors turn vendor JSON into these in their ``mapping.py``;
nothing vendor-shaped reaches the engine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from dateutil import parser as dateparser
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from saasync.money import is_known_currency


def to_utc(value: Any) -> Any:
    """Parse what sources send (ISO strings, dates, epoch seconds) into aware UTC datetimes.

    A naive timestamp is taken as UTC: exports without an offset are UTC by convention
    in every source we read (documented in the file connector's BEHAVIOR.md).
    """
    if type(value) is str and value[:1].isdigit() and not value.isdigit():
        try:  # the common case, ISO 8601 text, parsed by the standard library's C parser
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:
                return parsed
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected a date or datetime, got a boolean")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        try:  # the standard library's C parser first: most sources send plain ISO 8601
            value = datetime.fromisoformat(text)
        except ValueError:
            try:
                value = dateparser.isoparse(text)
            except (ValueError, OverflowError):
                try:
                    value = dateparser.parse(text, dayfirst=False)
                except (ValueError, OverflowError) as exc:
                    raise ValueError(f"not a date or datetime: {text!r}") from exc
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    raise ValueError(f"not a date or datetime: {value!r}")


UTCDateTime = Annotated[datetime, BeforeValidator(to_utc)]
NonNegativeInt = Annotated[int, Field(ge=0)]


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
    interval_count: int = Field(default=1, ge=1)
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
    quantity: int = Field(default=1, ge=1)
    prorated: bool = False
    amount: int
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

    @property
    def has_subscription_line(self) -> bool:
        return any(line.kind == "subscription" for line in self.lines)

    @property
    def successful_payment(self) -> bool:
        return any(t.type == "payment" and t.result == "successful" for t in self.transactions)


class SubscriptionStatus(StrEnum):
    """The source's subscription status, grouped (billing-sources.md §7)."""

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
