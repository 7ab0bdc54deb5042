"""Stripe JSON → normalized records: statuses, both invoice-line shapes, minor units, discounts, tax.

Every function takes Stripe objects as the API returns them (either side of the
2025-03-31 "basil" change) and returns a validated record, or raises ``MappingError``
naming the record, the field and the reason code. Nothing is guessed: a status that is
not in the tables below is ``UNKNOWN_STATUS``. Nothing Stripe-shaped leaves this module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from saasync.kit.records import MappingError
from saasync.models import (
    Customer,
    Invoice,
    InvoiceStatus,
    Plan,
    RecordError,
    SourceSubscription,
    SubscriptionStatus,
    epoch_to_utc,
    parse_record,
)
from saasync.money import UnknownCurrency, currency_exponent
from saasync.reasons import Reason

M = TypeVar("M", bound=BaseModel)
Raw = Mapping[str, Any]

INVOICE_STATUSES: dict[str, InvoiceStatus] = {
    "draft": InvoiceStatus.DRAFT,
    "open": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "uncollectible": InvoiceStatus.FAILED,
    "void": InvoiceStatus.VOID,
}
SUBSCRIPTION_STATUSES: dict[str, SubscriptionStatus] = {
    "incomplete": SubscriptionStatus.FUTURE,
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAUSED,
    "canceled": SubscriptionStatus.CANCELLED,
    "incomplete_expired": SubscriptionStatus.CANCELLED,
}
# ``pause_collection`` on a subscription that still bills: Stripe keeps status "active".
_PAUSABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
INTERVALS = ("day", "week", "month", "year")
CREDIT_NOTE_STATUSES = ("issued", "void")

# Stripe's zero-decimal currencies (https://stripe.com/docs/currencies#zero-decimal): sent
# without ×100. MGA is two-decimal in ISO 4217, so its Stripe amounts are scaled up.
STRIPE_ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
})
# ISK is zero-decimal in ISO 4217 but Stripe still sends it with two decimals ("00").
STRIPE_TWO_DECIMAL_SPECIAL = frozenset({"ISK"})


# -- small readers ---------------------------------------------------------------------------

def ref(value: Any) -> str | None:
    """The id of an expandable field: a string id, or an expanded object's ``id``."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _obj(raw: Raw, *keys: str) -> Raw:
    """``raw[k1][k2]…`` as an object; a missing or null level reads as an empty object."""
    found: Any = raw
    for key in keys:
        found = found.get(key) if isinstance(found, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _list(raw: Raw, key: str) -> list[Raw]:
    value = raw.get(key)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def epoch(value: Any) -> Any:
    """Stripe timestamps are Unix seconds; None stays None. A number out of range (past
    year 9999) is returned as given: the record's validation then refuses it, naming its
    field, instead of the run stopping on an OverflowError."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return epoch_to_utc(value)
        except ValueError:
            return value
    return None


def stripe_exponent(currency: str) -> int:
    """Decimals in Stripe's own integer amounts for ``currency`` (JPY 0, USD 2, KWD 3)."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_TWO_DECIMAL_SPECIAL:
        return 2
    return currency_exponent(code)


def to_minor_units(value: Any, currency: str) -> int:
    """A Stripe integer amount as ISO 4217 minor units (usually the same number)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(  # noqa: TRY004 - a bad value in a record, reported as one
            f"expected an integer amount in minor units, got {value!r}")
    amount: int = value
    shift = currency_exponent(currency) - stripe_exponent(currency)
    if shift >= 0:
        return amount * int(10**shift)
    whole, rest = divmod(amount, int(10**-shift))
    if rest:
        raise ValueError(f"{amount} is not a whole {currency.upper()} amount")
    return whole


class _Reader:
    """Reads money fields of one record, turning every problem into a MappingError."""

    def __init__(self, kind: str, ext_id: str | None, currency: Any) -> None:
        self.kind, self.ext_id = kind, ext_id
        if not isinstance(currency, str) or not currency:
            raise MappingError(kind, ext_id, "currency", "currency is required")
        try:
            stripe_exponent(currency)
        except UnknownCurrency as exc:
            raise MappingError(kind, ext_id, "currency", str(exc)) from exc
        self.currency = currency.upper()

    def money(self, value: Any, field: str) -> int:
        try:
            return to_minor_units(value, self.currency)
        except ValueError as exc:
            raise MappingError(self.kind, self.ext_id, field, str(exc)) from exc

    def total(self, items: Sequence[Raw], field: str) -> int:
        return sum(self.money(item.get("amount"), field) for item in items)


def _parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return parse_record(model, data)
    except RecordError as exc:
        raise MappingError(exc.kind, data.get("external_id"), exc.field, exc.message) from exc


def _status(kind: str, ext_id: str | None, raw: Any, table: Mapping[str, Any]) -> Any:
    if raw not in table:
        known = ", ".join(table)
        raise MappingError(kind, ext_id, "status",
                           f"{kind} {ext_id!r}: unknown Stripe status {raw!r} in field 'status' "
                           f"(known: {known}); not guessed", reason=Reason.UNKNOWN_STATUS)
    return table[raw]


# -- plans, customers, subscriptions -----------------------------------------------------------

def to_plan(price: Raw) -> Plan:
    """A recurring Price (legacy Plans are Prices with the same id) as a Plan."""
    ext_id = ref(price.get("id"))
    recurring = _obj(price, "recurring")
    interval = recurring.get("interval")
    if interval not in INTERVALS:
        raise MappingError("plan", ext_id, "recurring.interval",
                           f"price {ext_id!r}: recurring.interval {interval!r} is not one of "
                           f"{', '.join(INTERVALS)} (is it a one-time price?)")
    product = price.get("product")
    name = price.get("nickname") or (product.get("name") if isinstance(product, Mapping) else None)
    return _parse(Plan, {
        "external_id": ext_id, "name": name or ref(product) or ext_id,
        "interval_unit": interval, "interval_count": recurring.get("interval_count") or 1,
    })


def to_customer(customer: Raw, updated_at: datetime | None = None) -> Customer:
    return _parse(Customer, {
        "external_id": ref(customer.get("id")),
        "name": customer.get("name") or "",
        "email": customer.get("email") or None,
        "country": _obj(customer, "address").get("country") or None,
        "created_at": epoch(customer.get("created")),
        "updated_at": updated_at,
    })


def subscription_status(sub: Raw) -> SubscriptionStatus:
    """Stripe status, with ``pause_collection`` on a billing subscription read as paused."""
    status: SubscriptionStatus = _status("subscription", ref(sub.get("id")), sub.get("status"),
                                         SUBSCRIPTION_STATUSES)
    if sub.get("pause_collection") and status in _PAUSABLE:
        return SubscriptionStatus.PAUSED
    return status


def to_subscription(sub: Raw, updated_at: datetime | None = None) -> SourceSubscription:
    status = subscription_status(sub)
    items = _list(_obj(sub, "items"), "data")
    first = items[0] if items else {}
    plan = ref(first.get("price")) or ref(first.get("plan"))
    # Before basil the period is on the subscription; from basil on, on each item.
    ends = [e for item in items if (e := item.get("current_period_end")) is not None]
    period_end = sub.get("current_period_end") or (max(ends) if ends else None)
    cancelled = None
    if status is SubscriptionStatus.CANCELLED:
        # canceled_at is when cancellation was *requested*; ended_at is when service stopped.
        cancelled = epoch(sub.get("ended_at") or sub.get("cancel_at") or sub.get("canceled_at"))
    return _parse(SourceSubscription, {
        "external_id": ref(sub.get("id")),
        "customer_external_id": ref(sub.get("customer")),
        "plan_external_id": plan,
        "status": status,
        "source_status": sub.get("status"),
        "started_at": epoch(sub.get("start_date") or sub.get("created")),
        "cancelled_at": cancelled,
        "current_period_end": epoch(period_end),
        "updated_at": updated_at,
    })


# -- invoices ------------------------------------------------------------------------------------

def _origin(line: Raw, fail: Any) -> tuple[str, str | None, bool]:
    """(source, subscription id, proration): ``parent`` from basil on, ``type`` before."""
    parent = _obj(line, "parent")
    if parent.get("type") == "subscription_item_details":
        details = _obj(parent, "subscription_item_details")
        return "subscription", ref(details.get("subscription")), bool(details.get("proration"))
    if parent.get("type") == "invoice_item_details":
        details = _obj(parent, "invoice_item_details")
        return "invoiceitem", ref(details.get("subscription")), bool(details.get("proration"))
    if parent.get("type") is not None:
        raise fail("parent.type", f"unknown line parent type {parent.get('type')!r}")
    if line.get("type") in ("subscription", "invoiceitem"):
        return str(line["type"]), ref(line.get("subscription")), bool(line.get("proration"))
    raise fail("type", f"line type {line.get('type')!r}: neither parent.type nor type tells "
                       "a subscription line from a one-time one")


def _price(line: Raw) -> tuple[str | None, bool | None]:
    """(price id, recurring?) from ``pricing`` (basil) or ``price``/``plan`` (before);
    recurring is None when the line alone does not say (basil gives only the price id)."""
    price = _obj(line, "pricing", "price_details").get("price")
    if price is None:
        price = line.get("price") or line.get("plan")
    if isinstance(price, Mapping):
        recurring = price.get("recurring") is not None or price.get("interval") is not None
        return ref(price), recurring
    return ref(price), None


def _taxes(line: Raw) -> list[tuple[Raw, bool]]:
    """Each tax with whether it is exclusive: ``taxes[]`` (basil) or ``tax_amounts[]``."""
    if isinstance(line.get("taxes"), list):
        return [(t, t.get("tax_behavior") == "exclusive") for t in _list(line, "taxes")]
    return [(t, t.get("inclusive") is False) for t in _list(line, "tax_amounts")]


def to_line(line: Raw, money: _Reader, recurring_prices: Collection[str],
            index: int) -> tuple[dict[str, Any], int]:
    """One line as LineItem fields, and its line-level discount total.

    ``amount`` is before discounts and without exclusive tax in both shapes. Only discounts
    named in the line's own ``discounts`` are line-level; the rest of ``discount_amounts``
    is the line's share of an invoice-level discount, which stays on the invoice.
    """
    at = f"lines[{index}]"

    def fail(field: str, message: str) -> MappingError:
        return MappingError("invoice", money.ext_id, f"lines.{field}",
                            f"invoice {money.ext_id!r}, {at} ({line.get('id')}): {message}")

    source, sub_id, proration = _origin(line, fail)
    price_id, recurring = _price(line)
    if recurring is None:
        recurring = price_id in recurring_prices
    is_sub = source == "subscription" or (sub_id is not None and recurring)
    own_ids = {ref(d) for d in (line.get("discounts") or [])} - {None}
    own = [d for d in _list(line, "discount_amounts") if ref(d.get("discount")) in own_ids]
    discount = money.total(own, "lines.discount_amounts.amount")
    taxes = _taxes(line)
    exclusive = money.total([t for t, excl in taxes if excl], "lines.taxes.amount")
    tax = money.total([t for t, _ in taxes], "lines.taxes.amount")
    period = _obj(line, "period")
    return {
        "external_id": ref(line.get("id")),
        "kind": "subscription" if is_sub else "one_time",
        "subscription_external_id": sub_id,
        "plan_external_id": price_id if is_sub else None,
        "service_period_start": epoch(period.get("start")),
        "service_period_end": epoch(period.get("end")),
        # Metered lines can have quantity 0 and one-off amounts none: the model wants >= 1.
        "quantity": line.get("quantity") or 1,
        "prorated": proration,
        "amount": money.money(line.get("amount"), "lines.amount") - discount + exclusive,
        "discount_amount": discount,
        # A credit (negative) line carries negative tax, which the model cannot hold: 0.
        "tax_amount": max(tax, 0),
        "description": line.get("description") or None,
    }, discount


def _payment(invoice: Raw, money: _Reader) -> dict[str, Any]:
    paid_at = epoch(_obj(invoice, "status_transitions").get("paid_at"))
    if paid_at is None:
        raise MappingError("invoice", money.ext_id, "status_transitions.paid_at",
                           f"invoice {money.ext_id!r} is paid but has no paid_at")
    return {
        "external_id": ref(invoice.get("charge")) or f"{money.ext_id}-payment",
        "type": "payment", "result": "successful", "date": paid_at,
        "amount": money.money(invoice.get("amount_paid", 0), "amount_paid"),
    }


def _refund(note: Raw, money: _Reader) -> dict[str, Any] | None:
    """A post-payment credit note (money back, or credit, after payment) as a refund."""
    note_id = ref(note.get("id"))
    status = note.get("status")
    if status not in CREDIT_NOTE_STATUSES:
        raise MappingError("invoice", money.ext_id, "credit_notes.status",
                           f"credit note {note_id!r} of invoice {money.ext_id!r}: unknown "
                           f"status {status!r}", reason=Reason.UNKNOWN_STATUS)
    if status == "void":
        return None
    if "post_payment_amount" in note:
        amount = money.money(note.get("post_payment_amount"), "credit_notes.post_payment_amount")
    elif note.get("type") == "post_payment":
        amount = money.money(note.get("total"), "credit_notes.total")
    else:
        amount = 0
    if amount <= 0:
        return None
    return {"external_id": note_id, "type": "refund", "result": "successful",
            "date": epoch(note.get("effective_at") or note.get("created")), "amount": amount}


def to_invoice(invoice: Raw, lines: Sequence[Raw], credit_notes: Sequence[Raw] = (), *,
               recurring_prices: Collection[str] = (),
               updated_at: datetime | None = None) -> Invoice:
    """An invoice with all its ``lines`` (paged by the caller) and its credit notes."""
    ext_id = ref(invoice.get("id"))
    status = _status("invoice", ext_id, invoice.get("status"), INVOICE_STATUSES)
    money = _Reader("invoice", ext_id, invoice.get("currency"))
    items, line_level = [], 0
    for index, line in enumerate(lines):
        item, discount = to_line(line, money, recurring_prices, index)
        items.append(item)
        line_level += discount
    if isinstance(invoice.get("total_discount_amounts"), list):
        total = money.total(_list(invoice, "total_discount_amounts"),
                            "total_discount_amounts.amount")
    else:
        total = sum(money.total(_list(line, "discount_amounts"), "lines.discount_amounts.amount")
                    for line in lines)
    transactions = [_payment(invoice, money)] if status is InvoiceStatus.PAID else []
    transactions += [t for note in credit_notes if (t := _refund(note, money)) is not None]
    return _parse(Invoice, {
        "external_id": ext_id,
        "customer_external_id": ref(invoice.get("customer")),
        "issued_at": epoch(invoice.get("created")),
        "due_at": epoch(invoice.get("due_date")),
        "currency": money.currency,
        "status": status,
        "source_status": invoice.get("status"),
        "lines": items,
        "transactions": transactions,
        "discount_amount": max(total - line_level, 0),
        "updated_at": updated_at,
    })


def needs_credit_notes(invoice: Raw) -> bool:
    """Whether the invoice has post-payment credit notes worth a request."""
    amount = invoice.get("post_payment_credit_notes_amount")
    return isinstance(amount, int) and amount > 0
