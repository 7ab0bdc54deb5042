"""Recurly v3 JSON (API v2021-02-25) → normalized records; nothing Recurly-shaped leaves here.

Every function takes one decoded API object (numbers already ``Decimal``: the pages are
parsed with ``parse_float=Decimal``, so no amount ever passes through a binary float)
and returns a model, or raises :class:`MappingError` naming the record and the field.
The tables below are the whole status mapping; a value outside them is never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from saasync.connector import Quarantined
from saasync.kit.records import MappingError, json_safe, quarantine
from saasync.models import (
    Customer,
    Invoice,
    InvoiceStatus,
    Plan,
    RecordError,
    SourceSubscription,
    SubscriptionStatus,
    parse_record,
    to_utc,
)
from saasync.money import is_known_currency, to_minor
from saasync.reasons import Reason

INVOICE_STATUS: dict[str, InvoiceStatus] = {
    **dict.fromkeys(("open", "pending", "processing", "past_due"), InvoiceStatus.OPEN),
    **dict.fromkeys(("paid", "closed"), InvoiceStatus.PAID),
    "failed": InvoiceStatus.FAILED,
    "voided": InvoiceStatus.VOID,
}
# ``active`` becomes trialing while the current period is the trial (see subscription_status).
SUBSCRIPTION_STATUS: dict[str, SubscriptionStatus] = {
    "future": SubscriptionStatus.FUTURE,
    "active": SubscriptionStatus.ACTIVE,
    "canceled": SubscriptionStatus.ACTIVE,  # set not to renew, still inside the paid term
    "paused": SubscriptionStatus.PAUSED,
    "expired": SubscriptionStatus.CANCELLED,
    "failed": SubscriptionStatus.CANCELLED,
}
INTERVAL_UNITS = {"days": "day", "months": "month"}
RECURRING_ORIGINS = frozenset({"plan", "add_on", "plan_trial", "add_on_trial"})
ONE_TIME_ORIGINS = frozenset({"one_time", "setup_fee", "debit", "credit", "prepayment"})
# Bookkeeping lines of legacy invoices: balance moved around, not revenue.
IGNORED_LEGACY = frozenset({"applied_credits", "carryforwards"})
M = TypeVar("M", Plan, Customer, SourceSubscription, Invoice)
REFUND_ORIGINS = frozenset({"refund", "line_item_refund", "open_amount_refund", "external_refund"})
PAYMENT_TYPES = frozenset({"purchase", "capture", "payment"})
# Transaction status → result; None: no money moved (yet), so no transaction is sent.
TRANSACTION_RESULT: dict[str, str | None] = {
    "success": "successful", "declined": "failed", "error": "failed",
    "void": None, "pending": None, "scheduled": None, "processing": None,
}


def quarantined(kind: str, raw: Mapping[str, Any], exc: RecordError) -> Quarantined:
    """The review-queue entry for ``raw`` (the id the error names, else the object's)."""
    ext_id = exc.external_id if exc.external_id not in (None, "?") else _text(raw.get("id"))
    return quarantine(kind, exc, json_safe(raw), external_id=ext_id or None)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return parse_record(model, data)
    except RecordError as exc:
        raise MappingError(exc.kind, exc.external_id, exc.field, exc.message) from exc


def _decimal(value: Any, where: tuple[str, str | None, str]) -> Decimal:
    if isinstance(value, (float, bool)):
        raise MappingError(*where, f"{value!r} is not an exact decimal amount")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise MappingError(*where, f"{value!r} is not a decimal amount") from None


def _minor(value: Decimal, currency: str, where: tuple[str, str | None, str]) -> int:
    try:
        return to_minor(value, currency)
    except ValueError as exc:
        raise MappingError(*where, str(exc)) from None


def _time(raw: Mapping[str, Any], name: str, kind: str) -> datetime | None:
    """A timestamp the mapping itself compares; a garbled one names its field."""
    try:
        value = to_utc(raw.get(name))
    except (ValueError, TypeError, OverflowError):
        value = "bad"
    if value is not None and not isinstance(value, datetime):
        raise MappingError(kind, _text(raw.get("id")) or None, name,
                           f"not a date or datetime: {raw.get(name)!r}")
    return value


def _id_of(raw: Mapping[str, Any], key: str) -> str | None:
    nested = raw.get(key)
    return _text(nested.get("id")) or None if isinstance(nested, Mapping) else None


# -- catalogue, accounts, subscriptions ---------------------------------------------------

def to_plan(raw: Mapping[str, Any]) -> Plan:
    """``interval_unit`` is ``days`` or ``months``; ``interval_length`` counts them."""
    plan_id = _text(raw.get("id")) or None
    unit = _text(raw.get("interval_unit"))
    if unit not in INTERVAL_UNITS:
        raise MappingError("plan", plan_id, "interval_unit",
                           f"unknown Recurly interval_unit {unit!r} (known: days, months)")
    return _parse(Plan, {
        "external_id": plan_id, "name": _text(raw.get("name")) or _text(raw.get("code")),
        "interval_unit": INTERVAL_UNITS[unit], "interval_count": raw.get("interval_length") or 1,
        "updated_at": raw.get("updated_at"),
    })


def to_customer(raw: Mapping[str, Any]) -> Customer:
    """An account: the person's name, else the company, else the account code."""
    person = " ".join(p for p in (_text(raw.get("first_name")), _text(raw.get("last_name"))) if p)
    found = raw.get("address")
    address: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    return _parse(Customer, {
        "external_id": _text(raw.get("id")) or None,
        "name": person or _text(raw.get("company")) or _text(raw.get("code")),
        "email": _text(raw.get("email")) or None, "company": _text(raw.get("company")) or None,
        "country": _text(address.get("country")).upper() or None,
        "created_at": raw.get("created_at"), "updated_at": raw.get("updated_at"),
    })


def subscription_status(raw: Mapping[str, Any]) -> SubscriptionStatus:
    """The table above; ``active`` whose current period is its trial is ``trialing``.

    Decided from the record alone (no clock), so a re-read of an unchanged subscription
    maps the same way; when the trial ends Recurly starts a new period and updates it.
    """
    sub_id = _text(raw.get("id")) or None
    state = _text(raw.get("state"))
    if state not in SUBSCRIPTION_STATUS:
        raise MappingError("subscription", sub_id, "state",
                           f"unknown Recurly subscription state {state!r} "
                           f"(known: {', '.join(SUBSCRIPTION_STATUS)})", Reason.UNKNOWN_STATUS)
    trial_end = _time(raw, "trial_ends_at", "subscription")
    period_end = _time(raw, "current_period_ends_at", "subscription")
    if state == "active" and trial_end and period_end and period_end <= trial_end:
        return SubscriptionStatus.TRIALING
    return SUBSCRIPTION_STATUS[state]


def to_subscription(raw: Mapping[str, Any]) -> SourceSubscription:
    """``canceled`` keeps running until ``expires_at``: active, with that date as its end."""
    status = subscription_status(raw)
    state = _text(raw.get("state"))
    ends = raw.get("expires_at") or raw.get("canceled_at")
    cancelled_at = {"canceled": raw.get("expires_at"), "expired": ends,
                    "failed": ends or raw.get("updated_at")}.get(state)
    return _parse(SourceSubscription, {
        "external_id": _text(raw.get("id")) or None, "customer_external_id": _id_of(raw, "account"),
        "plan_external_id": _id_of(raw, "plan"), "status": status, "source_status": state,
        "started_at": raw.get("activated_at"), "cancelled_at": cancelled_at,
        "paused_at": raw.get("paused_at"), "current_period_end": raw.get("current_period_ends_at"),
        "updated_at": raw.get("updated_at"),
    })


# -- invoices -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CreditRefunds:
    """What one credit invoice gives back on the charge invoice it refunds; ``error`` when
    it cannot be read (the charge invoice is then quarantined, not sent without it)."""

    credit_invoice_id: str
    original_invoice_id: str
    transactions: tuple[dict[str, Any], ...]
    updated_at: datetime | None
    error: MappingError | None = None


def is_credit_invoice(raw: Mapping[str, Any]) -> bool:
    return _text(raw.get("type")) == "credit"


def credit_refunds(raw: Mapping[str, Any]) -> CreditRefunds | None:
    """Refunds a credit invoice makes on ``previous_invoice_id``, or None if it is no refund.

    Its refund transactions (money back to the payment method) count as they are; what
    the total gives back beyond them went to the account's credit balance and counts as
    one more successful refund, dated when the credit invoice closed.
    """
    credit_id = _text(raw.get("id")) or "?"
    original = _text(raw.get("previous_invoice_id"))
    if (not original or _text(raw.get("state")) == "voided"
            or _text(raw.get("origin")) not in REFUND_ORIGINS):
        return None
    try:
        updated = _time(raw, "updated_at", "invoice")
        currency = _currency(raw, credit_id)
        txs = [t for t in _transactions(raw, currency, credit_id) if t["type"] == "refund"]
        where = ("invoice", credit_id, "total")
        total = abs(_minor(_decimal(raw.get("total") or 0, where), currency, where))
    except MappingError as exc:
        return CreditRefunds(credit_id, original, (), None, exc)
    rest = total - sum(t["amount"] for t in txs if t["result"] == "successful")
    if rest > 0:
        txs.append({"external_id": credit_id, "type": "refund", "result": "successful",
                    "date": raw.get("closed_at") or raw.get("created_at"), "amount": rest})
    return CreditRefunds(credit_id, original, tuple(txs), updated)


def _currency(raw: Mapping[str, Any], inv_id: str | None) -> str:
    currency = _text(raw.get("currency")).upper()
    if not is_known_currency(currency):
        raise MappingError("invoice", inv_id, "currency",
                           f"unknown currency code {raw.get('currency')!r} (expected ISO 4217)")
    return currency


def _transactions(raw: Mapping[str, Any], currency: str, inv_id: str | None) -> list[dict[str, Any]]:
    """Purchases, captures and payments → payments; refunds → refunds; others move no money."""
    out: list[dict[str, Any]] = []
    for index, tx in enumerate(raw.get("transactions") or ()):
        kind = _text(tx.get("type"))
        if kind not in PAYMENT_TYPES and kind != "refund":
            continue  # authorization, verify: no money moved
        where = ("invoice", inv_id, f"transactions.{index}.status")
        status = _text(tx.get("status"))
        if status not in TRANSACTION_RESULT:
            raise MappingError(*where, f"unknown Recurly transaction status {status!r} "
                               f"(known: {', '.join(TRANSACTION_RESULT)})", Reason.UNKNOWN_STATUS)
        result = TRANSACTION_RESULT[status]
        if result is None:
            continue
        amount_at = ("invoice", inv_id, f"transactions.{index}.amount")
        out.append({
            "external_id": _text(tx.get("id")) or None,
            "type": "payment" if kind in PAYMENT_TYPES else "refund", "result": result,
            "date": tx.get("collected_at") or tx.get("created_at"),
            "amount": abs(_minor(_decimal(tx.get("amount") or 0, amount_at), currency, amount_at)),
        })
    for index, credit in enumerate(raw.get("credit_payments") or ()):
        if _text(credit.get("action")) != "payment" or credit.get("voided_at"):
            continue
        amount_at = ("invoice", inv_id, f"credit_payments.{index}.amount")
        out.append({
            "external_id": _text(credit.get("id")) or None, "type": "payment",
            "result": "successful", "date": credit.get("created_at"),
            "amount": abs(_minor(_decimal(credit.get("amount") or 0, amount_at), currency,
                                 amount_at)),
        })
    return out


@dataclass
class _Lines:
    lines: list[dict[str, Any]]
    coupons: int = 0
    line_discounts: int = 0


def _lines(raw_lines: Iterable[Mapping[str, Any]], currency: str, inv_id: str | None) -> _Lines:
    found = _Lines([])
    for index, line in enumerate(raw_lines):
        at = f"line_items.{index}"
        origin = _text(line.get("origin"))
        if origin == "carryforward" or _text(line.get("legacy_category")) in IGNORED_LEGACY:
            continue

        def money(name: str, required: bool = False, line: Mapping[str, Any] = line,
                  at: str = at) -> int:
            value = line.get(name)
            if value is None and required:
                raise MappingError("invoice", inv_id, f"{at}.{name}", "is required")
            where = ("invoice", inv_id, f"{at}.{name}")
            return _minor(_decimal(value or 0, where), currency, where)

        subtotal, discount, tax = money("subtotal", True), money("discount"), money("tax")
        if origin == "coupon":
            found.coupons += abs(subtotal)
            continue
        if origin not in RECURRING_ORIGINS | ONE_TIME_ORIGINS:
            raise MappingError("invoice", inv_id, f"{at}.origin",
                               f"unknown Recurly line origin {origin!r}")
        found.lines.append(_line(line, origin, subtotal, discount, tax))
        if subtotal >= 0 and _text(line.get("type")) != "credit":
            found.line_discounts += discount
    return found


def _line(line: Mapping[str, Any], origin: str, subtotal: int, discount: int, tax: int) -> dict[str, Any]:
    """One line: ``amount`` after its discount, tax included (tax-inclusive prices hold it).

    A credit line (negative) carries its net without tax: the model has no negative
    tax, and MRR (amount − tax) must come out right.
    """
    if _text(line.get("type")) == "credit" or subtotal < 0:
        amount, discount, tax = -(abs(subtotal) - abs(discount)), 0, 0
    else:
        amount = subtotal - discount + (0 if line.get("tax_inclusive") is True else tax)
    recurring = origin in RECURRING_ORIGINS
    rate = line.get("proration_rate")
    return {
        "external_id": _text(line.get("id")) or None,
        "kind": "subscription" if recurring else "one_time",
        "subscription_external_id": _text(line.get("subscription_id")) or None,
        "plan_external_id": (_text(line.get("plan_id")) or None) if recurring else None,
        "service_period_start": line.get("start_date") if recurring else None,
        "service_period_end": line.get("end_date") if recurring else None,
        "quantity": line.get("quantity") or 1,
        "prorated": rate is not None and rate != 1,
        "amount": amount, "discount_amount": discount, "tax_amount": tax,
        "description": _text(line.get("description")) or None,
    }


def to_invoice(raw: Mapping[str, Any], refunds: Sequence[CreditRefunds] = ()) -> Invoice:
    """A charge (or legacy) invoice with its payments and the refunds made on it.

    ``line_items`` must already be complete (the caller fetches them when
    ``has_more_line_items``). Coupon lines and any invoice discount not carried by a
    line become the invoice-level discount.
    """
    inv_id = _text(raw.get("id")) or None
    state = _text(raw.get("state"))
    if state not in INVOICE_STATUS:
        raise MappingError("invoice", inv_id, "state",
                           f"unknown Recurly invoice state {state!r} "
                           f"(known: {', '.join(INVOICE_STATUS)})", Reason.UNKNOWN_STATUS)
    currency = _currency(raw, inv_id)
    found = _lines(raw.get("line_items") or (), currency, inv_id)
    where = ("invoice", inv_id, "discount")
    residual = _minor(_decimal(raw.get("discount") or 0, where), currency, where)
    transactions = _transactions(raw, currency, inv_id)
    for bad in (r for r in refunds if r.error is not None):
        assert bad.error is not None
        raise MappingError("invoice", inv_id, f"refunds.{bad.credit_invoice_id}.{bad.error.field}",
                           f"its refund, credit invoice {bad.credit_invoice_id!r}, cannot be "
                           f"read: {bad.error.message}", bad.error.reason)
    seen = {t["external_id"] for t in transactions if t["external_id"]}
    for refund in refunds:
        transactions += [t for t in refund.transactions if t["external_id"] not in seen]
    stamps = [t for t in (_time(raw, "updated_at", "invoice"),
                          *(r.updated_at for r in refunds)) if t is not None]
    return _parse(Invoice, {
        "external_id": inv_id, "customer_external_id": _id_of(raw, "account"),
        "issued_at": raw.get("created_at"), "due_at": raw.get("due_at"), "currency": currency,
        "status": INVOICE_STATUS[state], "source_status": state, "lines": found.lines,
        "transactions": transactions,
        "discount_amount": max(found.coupons, residual - found.line_discounts, 0),
        "updated_at": max(stamps) if stamps else None,
    })
