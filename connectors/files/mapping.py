"""Export rows → normalized records: status words, money in major units, line kinds.

Every function here takes the row as read (CSV text or parsed JSON) and either returns
a validated record or raises ``MappingError`` naming the record, the field and the
reason code. Nothing is guessed: an unknown status word is ``UNKNOWN_STATUS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from saasync.kit.records import MappingError
from saasync.models import (
    Customer,
    Invoice,
    InvoiceStatus,
    LineItem,
    Plan,
    RecordError,
    SourceSubscription,
    SubscriptionStatus,
    Transaction,
    parse_record,
)
from saasync.money import is_known_currency, to_minor
from saasync.reasons import Reason

from .columns import MONEY, fields
from .formats import RawRow

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

INVOICE_STATUSES: dict[str, InvoiceStatus] = {
    "draft": InvoiceStatus.DRAFT,
    **dict.fromkeys(("open", "posted", "payment_due", "pending", "past_due"), InvoiceStatus.OPEN),
    **dict.fromkeys(("paid", "closed"), InvoiceStatus.PAID),
    **dict.fromkeys(("failed", "uncollectible", "not_paid"), InvoiceStatus.FAILED),
    **dict.fromkeys(("void", "voided", "cancelled", "canceled", "deleted"), InvoiceStatus.VOID),
}

SUBSCRIPTION_STATUSES: dict[str, SubscriptionStatus] = {
    **dict.fromkeys(("future", "incomplete", "pending"), SubscriptionStatus.FUTURE),
    **dict.fromkeys(("trialing", "in_trial"), SubscriptionStatus.TRIALING),
    **dict.fromkeys(("active", "non_renewing"), SubscriptionStatus.ACTIVE),
    **dict.fromkeys(("past_due", "unpaid"), SubscriptionStatus.PAST_DUE),
    **dict.fromkeys(("paused", "on_hold", "suspended"), SubscriptionStatus.PAUSED),
    **dict.fromkeys(
        ("cancelled", "canceled", "expired", "incomplete_expired"), SubscriptionStatus.CANCELLED
    ),
}

ACCOUNT_STATUSES = ("LEAD", "PENDING", "ACTIVE", "SUSPENDED", "INACTIVE")

LINE_KINDS = {
    "subscription": "subscription",
    "recurring": "subscription",
    "one_time": "one_time",
    "setup_fee": "one_time",
}

INTERVAL_UNITS = {
    **dict.fromkeys(("day", "days", "daily"), "day"),
    **dict.fromkeys(("week", "weeks", "weekly"), "week"),
    **dict.fromkeys(("month", "months", "monthly"), "month"),
    **dict.fromkeys(("year", "years", "yearly", "annual", "annually"), "year"),
}

CUSTOMER_FIELDS = fields("customer")
PLAN_FIELDS = fields("plan")
SUBSCRIPTION_FIELDS = fields("subscription")
INVOICE_FIELDS = fields("invoice")
LINE_FIELDS = fields("line")
TRANSACTION_FIELDS = fields("transaction")
SUBSCRIPTION_LINE_NEEDS = (
    "subscription_external_id",
    "plan_external_id",
    "service_period_start",
    "service_period_end",
)


def clean(row: Mapping[str, Any], fields: Collection[str]) -> dict[str, Any]:
    """Keep the known fields, strip text, and treat blank values as absent.

    One plain loop: half the time of a comprehension and a second pass for blanks (it runs
    for every invoice, line and payment read; issue #18 target 4)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in fields:
            if type(value) is str:
                value = value.strip()
                if not value:
                    continue
            elif value is None:
                continue
            out[name] = value
    return out


_SEPARATORS = re.compile(r"[\s\-]+")


@lru_cache(maxsize=4096)
def _word(text: str) -> str:
    return _SEPARATORS.sub("_", text.strip().lower())


def status_word(value: Any) -> str:
    """Normalize a status word: case-insensitive, spaces and hyphens read as underscores."""
    return _word(value if type(value) is str else str(value))


def _map_status(kind: str, ext_id: str | None, value: Any, table: Mapping[str, Any]) -> Any:
    if value is None:
        raise MappingError(kind, ext_id, "status", "status is required")
    word = status_word(value)
    if word not in table:
        raise MappingError(
            kind,
            ext_id,
            "status",
            f"unknown {kind} status {value!r}: not in the mapping table (see BEHAVIOR.md)",
            reason=Reason.UNKNOWN_STATUS,
        )
    return table[word]


def money(kind: str, ext_id: str | None, data: dict[str, Any], name: str, currency: str) -> None:
    """Replace ``data[name]`` (major units: "49.00", JPY "5000") by exact minor units."""
    if name not in data:
        return
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise MappingError(kind, ext_id, name, f"expected a decimal amount, got {value!r}")
    try:
        data[name] = to_minor(value, currency)
    except (ValueError, TypeError) as exc:
        raise MappingError(kind, ext_id, name, str(exc)) from exc


def _parse(model: type[M], data: dict[str, Any], guesses: Sequence[str] = ()) -> M:
    """``parse_record``, but a whole-record error is pinned to the field its message names."""
    try:
        return parse_record(model, data)
    except RecordError as exc:
        field = exc.field
        if field == "(record)":
            field = next((name for name in guesses if name in exc.message), field)
        raise MappingError(exc.kind, data.get("external_id"), field, exc.message) from exc


def to_plan(row: Mapping[str, Any]) -> Plan:
    data = clean(row, PLAN_FIELDS)
    if "interval_unit" in data:
        unit = str(data["interval_unit"]).strip().lower()
        if unit not in INTERVAL_UNITS:
            message = f"unknown interval_unit {data['interval_unit']!r} (day, week, month, year)"
            raise MappingError("plan", data.get("external_id"), "interval_unit", message)
        data["interval_unit"] = INTERVAL_UNITS[unit]
    return _parse(Plan, data)


def to_customer(row: Mapping[str, Any]) -> Customer:
    data = clean(row, CUSTOMER_FIELDS)
    if "account_status" in data:
        status = str(data["account_status"]).strip().upper()
        if status not in ACCOUNT_STATUSES:
            raise MappingError(
                "customer",
                data.get("external_id"),
                "account_status",
                f"unknown account status {data['account_status']!r} "
                f"(expected one of {', '.join(ACCOUNT_STATUSES)})",
                reason=Reason.UNKNOWN_STATUS,
            )
        data["account_status"] = status
    return _parse(Customer, data)


def to_subscription(row: Mapping[str, Any]) -> SourceSubscription:
    data = clean(row, SUBSCRIPTION_FIELDS)
    ext_id = data.get("external_id")
    raw_status = data.get("status")
    data["status"] = _map_status("subscription", ext_id, raw_status, SUBSCRIPTION_STATUSES)
    data["source_status"] = str(raw_status)
    if "past_cancellation_dates" in data:
        data["past_cancellation_dates"] = _date_list(data["past_cancellation_dates"])
    sub = _parse(SourceSubscription, data, guesses=("cancelled_at",))
    if sub.cancelled_at is not None and any(d >= sub.cancelled_at for d in sub.past_cancellation_dates):
        raise MappingError("subscription", ext_id, "past_cancellation_dates",
                           "a past cancellation date is not before cancelled_at")
    return sub


def _date_list(value: Any) -> Any:
    """``past_cancellation_dates``: a JSON list, or text with the dates separated by ``;``,
    ``,`` or spaces (one CSV cell)."""
    if isinstance(value, str):
        return tuple(part for part in re.split(r"[;,\s]+", value) if part)
    return tuple(value) if isinstance(value, list) else value


def _line_data(row: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """A line's fields mapped (kind, money in minor units), not yet validated."""
    data = clean(row, LINE_FIELDS)
    ext_id = data.get("external_id")
    if "kind" not in data:
        raise MappingError("line", ext_id, "kind", "kind is required (subscription or one_time)")
    kind = status_word(data["kind"])
    if kind not in LINE_KINDS:
        message = f"unknown line kind {data['kind']!r} (subscription or one_time)"
        raise MappingError("line", ext_id, "kind", message)
    data["kind"] = LINE_KINDS[kind]
    if "amount" not in data:
        raise MappingError("line", ext_id, "amount", "amount is required")
    for name in MONEY:
        money("line", ext_id, data, name, currency)
    if data["kind"] == "subscription":
        missing = [name for name in SUBSCRIPTION_LINE_NEEDS if name not in data]
        if missing:
            message = f"a subscription line needs {', '.join(missing)}"
            raise MappingError("line", ext_id, missing[0], message)
    return data


def _line(row: Mapping[str, Any], currency: str) -> LineItem:
    return _parse(LineItem, _line_data(row, currency), guesses=("service_period_end",))


def _transaction_data(row: Mapping[str, Any], currency: str) -> dict[str, Any]:
    data = clean(row, TRANSACTION_FIELDS)
    ext_id = data.get("external_id")
    for name in ("type", "result"):
        if name in data:
            data[name] = status_word(data[name])
    money("transaction", ext_id, data, "amount", currency)
    return data


def _transaction(row: Mapping[str, Any], currency: str) -> Transaction:
    return _parse(Transaction, _transaction_data(row, currency))


def _nested_error(
    invoice_id: str | None, collection: str, index: int, row: RawRow, exc: RecordError | None
) -> MappingError:
    """The invoice-level error for one bad line or transaction: names its row and field."""
    ref = f"{collection[:-1]} {index + 1}"
    ext_id = row.data.get("external_id") if isinstance(row.data, dict) else None
    if ext_id:
        ref += f" ({ext_id})"
    if exc is None:
        field = f"{collection}.{row.error_field or '(row)'}"
        return MappingError(
            "invoice", invoice_id, field, f"{ref} at {row.location}: {row.error}",
            location=row.location,
        )  # fmt: skip
    return MappingError(
        "invoice",
        invoice_id,
        f"{collection}.{exc.field}",
        f"{ref} at {row.location}: {exc.message}",
        reason=getattr(exc, "reason", Reason.INVALID_RECORD),
        location=row.location,
    )


def to_invoice(
    row: Mapping[str, Any], lines: Sequence[RawRow], transactions: Sequence[RawRow] = ()
) -> Invoice:
    """One invoice with its lines and transactions; one bad line quarantines the invoice."""
    data = clean(row, INVOICE_FIELDS)
    ext_id = data.get("external_id")
    raw_status = data.get("status")
    data["status"] = _map_status("invoice", ext_id, raw_status, INVOICE_STATUSES)
    data["source_status"] = str(raw_status)
    currency = str(data.get("currency", "")).strip().upper()
    if not currency:
        raise MappingError(
            "invoice", ext_id, "currency", "currency is required (an ISO 4217 code such as USD)"
        )
    if not is_known_currency(currency):
        message = f"unknown currency code {data['currency']!r} (expected an ISO 4217 code)"
        raise MappingError("invoice", ext_id, "currency", message)
    data["currency"] = currency
    money("invoice", ext_id, data, "discount_amount", currency)
    if not lines:
        raise MappingError("invoice", ext_id, "lines", "an invoice needs at least one line")
    data["lines"] = _nested("lines", ext_id, lines, _line_data, currency)
    data["transactions"] = _nested("transactions", ext_id, transactions, _transaction_data, currency)
    try:  # one validation of the whole invoice: the common case, a good row
        return Invoice.model_validate(data)
    except ValidationError:
        pass
    # Something is wrong: validate each line and payment alone, so the error names its row.
    data["lines"] = tuple(_nested("lines", ext_id, lines, _line, currency))
    data["transactions"] = tuple(
        _nested("transactions", ext_id, transactions, _transaction, currency)
    )
    return _parse(Invoice, data)


def _nested(
    collection: str,
    invoice_id: str | None,
    rows: Sequence[RawRow],
    build: Callable[[Mapping[str, Any], str], T],
    currency: str,
) -> list[T]:
    out: list[T] = []
    for index, nested in enumerate(rows):
        if nested.error is not None:
            raise _nested_error(invoice_id, collection, index, nested, None)
        try:
            out.append(build(nested.data, currency))
        except RecordError as exc:
            raise _nested_error(invoice_id, collection, index, nested, exc) from exc
    return out
