"""Chargebee JSON → normalized records: statuses, line kinds, discounts, tax, payments, refunds.

Each function takes one object exactly as the API sends it (integer minor units, epoch
seconds) and returns a validated record, or raises :class:`MappingError` naming the
record, the Chargebee field and the reason code. Nothing vendor-shaped leaves this
module, and nothing is guessed: a status or kind not in the tables below is an error.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from dateutil.relativedelta import relativedelta
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
from saasync.reasons import Reason

M = TypeVar("M", bound=BaseModel)
Raw = Mapping[str, Any]
#: item price / plan id → (interval unit, interval count), used to spot prorated lines
Periods = Mapping[str, tuple[str, int]]
#: ids of catalog entries that are one-time charges (v1 addons with ``charge_type``
#: ``non_recurring``; 2.0 item prices of type ``charge`` or without a ``period``)
OneTime = Collection[str]

# the connectors' BEHAVIOR.md ("Chargebee" column). `pending` is a metered invoice that
# is still open for charges: a draft, never sent until Chargebee closes it.
INVOICE_STATUSES: dict[str, InvoiceStatus] = {
    "pending": InvoiceStatus.DRAFT,
    "posted": InvoiceStatus.OPEN,
    "payment_due": InvoiceStatus.OPEN,
    "not_paid": InvoiceStatus.FAILED,
    "voided": InvoiceStatus.VOID,
    "paid": InvoiceStatus.PAID,
}
# `transferred` is deliberately absent: its revenue meaning is unconfirmed (§11), so it is
# quarantined as UNKNOWN_STATUS rather than guessed.
SUBSCRIPTION_STATUSES: dict[str, SubscriptionStatus] = {
    "future": SubscriptionStatus.FUTURE,
    "in_trial": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "non_renewing": SubscriptionStatus.ACTIVE,
    "paused": SubscriptionStatus.PAUSED,
    "cancelled": SubscriptionStatus.CANCELLED,
}
RECURRING_ENTITIES = frozenset({"plan_item_price", "addon_item_price", "plan", "addon"})
#: Line kinds that are recurring only when their catalog entry is: an addon can be a
#: one-time (non-recurring) charge, billed alone or beside a plan.
ADDON_ENTITIES = frozenset({"addon_item_price", "addon"})
ONE_TIME_ENTITIES = frozenset({"charge_item_price", "plan_setup", "adhoc"})
ITEM_LEVEL_DISCOUNTS = frozenset({"item_level_coupon", "item_level_discount"})
DOCUMENT_LEVEL_DISCOUNTS = frozenset(
    {"document_level_coupon", "document_level_discount", "promotional_credits", "prorated_credits"}
)
PRICE_TYPES = frozenset({"tax_exclusive", "tax_inclusive"})
INTERVAL_UNITS = frozenset({"day", "week", "month", "year"})
# A linked payment / refund's txn_status: settled ones become transactions; the others
# (still running, cancelled, unknown outcome) are not a payment result yet.
TXN_RESULTS = {"success": "successful", "failure": "failed"}
TXN_UNSETTLED = frozenset({"in_progress", "timeout", "needs_attention", "voided"})
# Chargebee term boundaries are in the site's time zone; a DST shift moves a month by an hour.
_PRORATION_TOLERANCE = timedelta(hours=2)

# Normalized field → the Chargebee field to name in the review queue.
_VENDOR_FIELDS = {
    "external_id": "id", "customer_external_id": "customer_id", "issued_at": "date",
    "due_at": "due_date", "currency": "currency_code", "plan_external_id": "plan_id",
    "service_period_start": "date_from", "service_period_end": "date_to",
    "subscription_external_id": "subscription_id", "interval_unit": "period_unit",
    "interval_count": "period", "cancelled_at": "cancelled_at", "lines": "line_items",
}  # fmt: skip


def _vendor_field(path: str) -> str:
    parts = path.split(".")
    on_line = parts[0] == "lines"  # a line's plan is its entity_id
    return ".".join("entity_id" if on_line and part == "plan_external_id"
                    else _VENDOR_FIELDS.get(part, part) for part in parts)


def _parse(model: type[M], data: dict[str, Any], kind: str) -> M:
    try:
        return parse_record(model, data)
    except RecordError as exc:
        raise MappingError(kind, exc.external_id, _vendor_field(exc.field), exc.message) from exc


def _id(raw: Raw, kind: str) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not value.strip():
        raise MappingError(kind, None, "id", "every Chargebee object has a non-empty string id")
    return value


def _money(raw: Raw, key: str, kind: str, ext_id: str, path: str, default: int | None = 0) -> int:
    """An integer amount in minor units (Chargebee never sends major units or floats)."""
    value = raw.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(kind, ext_id, path, f"expected an integer amount in minor units, "
                                               f"got {value!r}")
    return value


def _list(raw: Raw, key: str, kind: str, ext_id: str) -> list[Raw]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise MappingError(kind, ext_id, key, "expected a list of objects")
    return value


def _epoch(value: Any) -> datetime | None:
    """For comparisons only: None when absent or out of range (the record's validation
    then names the field, since the raw value is what the record is built from)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return epoch_to_utc(value)
    except ValueError:
        return None


# -- customers, plans, subscriptions --------------------------------------------------------


def to_customer(raw: Raw) -> Customer:
    ext_id = _id(raw, "customer")
    person = " ".join(str(raw.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    address = raw.get("billing_address")
    if not isinstance(address, Mapping):
        address = {}
    data = {
        "external_id": ext_id,
        "name": person or str(raw.get("company") or ""),
        "email": raw.get("email") or None,
        "company": raw.get("company") or None,
        "country": address.get("country") or None,
        "created_at": raw.get("created_at"),
        "updated_at": raw.get("updated_at"),
    }
    return _parse(Customer, data, "customer")


def to_plan(raw: Raw) -> Plan:
    """An item price (PC 2.0) or a v1 plan / recurring addon: all carry period + period_unit."""
    ext_id = _id(raw, "plan")
    unit = raw.get("period_unit")
    if unit not in INTERVAL_UNITS:
        raise MappingError("plan", ext_id, "period_unit", f"period_unit {unit!r} is not a "
                           f"billing interval (expected one of {', '.join(sorted(INTERVAL_UNITS))})")
    data = {
        "external_id": ext_id,
        "name": raw.get("name") or raw.get("external_name") or ext_id,
        "interval_unit": unit,
        "interval_count": raw.get("period", 1),
        "updated_at": raw.get("updated_at"),
    }
    return _parse(Plan, data, "plan")


def is_one_time_catalog_entry(raw: Raw) -> bool:
    """A catalog entry that bills once: a v1 addon whose ``charge_type`` is
    ``non_recurring``, or a 2.0 item price of type ``charge`` or with no billing
    ``period_unit`` (only recurring item prices carry one)."""
    if raw.get("charge_type") == "non_recurring" or raw.get("item_type") == "charge":
        return True
    return "item_type" in raw and raw.get("period_unit") is None


def subscription_plan_id(raw: Raw) -> str | None:
    """PC 2.0: the subscription item of type plan; PC 1.0: ``plan_id``."""
    for item in raw.get("subscription_items") or []:
        if isinstance(item, Mapping) and item.get("item_type") == "plan":
            value = item.get("item_price_id")
            return str(value) if value else None
    value = raw.get("plan_id")
    return str(value) if value else None


def to_subscription(raw: Raw) -> SourceSubscription:
    ext_id = _id(raw, "subscription")
    source = raw.get("status")
    status = SUBSCRIPTION_STATUSES.get(source) if isinstance(source, str) else None
    if status is None:
        raise MappingError("subscription", ext_id, "status",
                           f"status {source!r} is not in the Chargebee mapping table; not guessed",
                           Reason.UNKNOWN_STATUS)
    data = {
        "external_id": ext_id,
        "customer_external_id": raw.get("customer_id"),
        "plan_external_id": subscription_plan_id(raw),
        "status": status,
        "source_status": source,
        "started_at": raw.get("started_at") or raw.get("start_date"),
        # non_renewing carries its *scheduled* cancellation in cancelled_at: not a cancellation yet
        "cancelled_at": raw.get("cancelled_at") if status is SubscriptionStatus.CANCELLED else None,
        "paused_at": raw.get("pause_date") if status is SubscriptionStatus.PAUSED else None,
        "current_period_end": raw.get("current_term_end"),
        "updated_at": raw.get("updated_at"),
    }
    return _parse(SourceSubscription, data, "subscription")


# -- invoices ---------------------------------------------------------------------------------


def is_prorated(start: datetime | None, end: datetime | None, period: tuple[str, int] | None) -> bool:
    """A recurring line whose service period is clearly shorter than one full plan period."""
    if start is None or end is None or period is None:
        return False
    unit, count = period
    step = {"day": relativedelta(days=count), "week": relativedelta(weeks=count),
            "month": relativedelta(months=count), "year": relativedelta(years=count)}[unit]
    full = start + step
    return end < full - _PRORATION_TOLERANCE


def _item_level_discount(line: Raw, line_discounts: Sequence[Raw], ext_id: str, path: str) -> int:
    if "item_level_discount_amount" in line:
        return _money(line, "item_level_discount_amount", "invoice", ext_id, path)
    return sum(
        _money(d, "discount_amount", "invoice", ext_id, "line_item_discounts.discount_amount")
        for d in line_discounts
        if d.get("line_item_id") == line.get("id") and d.get("discount_type") in ITEM_LEVEL_DISCOUNTS
    )


def _is_recurring(entity: Any, line: Raw, invoice: Raw, periods: Periods,
                  one_time: OneTime) -> bool:
    """Plans always recur; an addon recurs unless the catalog says it is a one-time charge
    or nothing ties it to a subscription (Chargebee bills recurring charges only through
    subscriptions, so an addon on an invoice without one is a one-time charge)."""
    if entity not in ADDON_ENTITIES:
        return True
    entity_id = str(line.get("entity_id"))
    if entity_id in one_time:
        return False
    if entity_id in periods:
        return True
    return bool(line.get("subscription_id") or invoice.get("subscription_id"))


def _line(line: Raw, index: int, invoice: Raw, ext_id: str, periods: Periods,
          one_time: OneTime = frozenset()) -> dict[str, Any]:
    path = f"line_items.{index}"
    entity = line.get("entity_type")
    tax_inclusive = invoice.get("price_type") == "tax_inclusive"
    amount = _money(line, "amount", "invoice", ext_id, f"{path}.amount", default=None)
    discount = _item_level_discount(line, _list(invoice, "line_item_discounts", "invoice", ext_id),
                                    ext_id, f"{path}.item_level_discount_amount")
    tax = _money(line, "tax_amount", "invoice", ext_id, f"{path}.tax_amount")
    quantity = line.get("quantity")
    out: dict[str, Any] = {
        "external_id": line.get("id"),
        # Chargebee's amount is before discounts and (tax_exclusive) before tax.
        "amount": amount - discount + (0 if tax_inclusive else tax),
        "discount_amount": discount,
        "tax_amount": tax,
        "quantity": quantity if isinstance(quantity, int) and quantity >= 1 else 1,
        "description": line.get("description"),
    }
    if entity in RECURRING_ENTITIES and _is_recurring(entity, line, invoice, periods, one_time):
        plan_id = line.get("entity_id")
        start, end = _epoch(line.get("date_from")), _epoch(line.get("date_to"))
        period = periods.get(str(plan_id))
        try:
            prorated = is_prorated(start, end, period)
        except (OverflowError, ValueError) as exc:  # a period past the last datetime
            raise MappingError("invoice", ext_id, f"{path}.entity_id",
                               f"the period of plan {plan_id!r} ({period}) from date_from "
                               f"{line.get('date_from')!r} is beyond any date ({exc})") from exc
        return out | {
            "kind": "subscription",
            "subscription_external_id": line.get("subscription_id") or invoice.get("subscription_id"),
            "plan_external_id": plan_id,
            "service_period_start": line.get("date_from"),
            "service_period_end": line.get("date_to"),
            "prorated": prorated,
        }
    if entity in ONE_TIME_ENTITIES or entity in ADDON_ENTITIES:
        return out | {"kind": "one_time", "subscription_external_id": line.get("subscription_id")}
    known = ", ".join(sorted(RECURRING_ENTITIES | ONE_TIME_ENTITIES))
    raise MappingError("invoice", ext_id, f"{path}.entity_type",
                       f"entity_type {entity!r} is neither recurring nor one-time (known: {known})")


def _document_discounts(invoice: Raw, ext_id: str) -> tuple[int, str | None]:
    """Invoice-level discounts (the line share is Chargebee's, the total is ours) and coupons."""
    total, coupons = 0, []
    for index, discount in enumerate(_list(invoice, "discounts", "invoice", ext_id)):
        kind = discount.get("entity_type")
        if kind in ITEM_LEVEL_DISCOUNTS:
            continue  # already taken off its line
        if kind not in DOCUMENT_LEVEL_DISCOUNTS:
            raise MappingError("invoice", ext_id, f"discounts.{index}.entity_type",
                               f"discount entity_type {kind!r} is not a known discount kind")
        total += _money(discount, "amount", "invoice", ext_id, f"discounts.{index}.amount")
        if kind == "document_level_coupon" and discount.get("entity_id"):
            coupons.append(str(discount["entity_id"]))
    return total, ", ".join(dict.fromkeys(coupons)) or None


def _txn(entry: Raw, kind: str, ext_id: str, path: str, txn_type: str) -> dict[str, Any] | None:
    """One linked payment / refund; None while it is not settled."""
    status = entry.get("txn_status")
    if status in TXN_UNSETTLED:
        return None
    result = TXN_RESULTS.get(status) if isinstance(status, str) else None
    if result is None:
        raise MappingError(kind, ext_id, f"{path}.txn_status",
                           f"txn_status {status!r} is not in the Chargebee mapping table; "
                           "not guessed",
                           Reason.UNKNOWN_STATUS)
    return {
        # one Chargebee transaction can settle several invoices: scope the id to this one
        "external_id": f"{entry.get('txn_id')}:{ext_id}",
        "type": txn_type,
        "result": result,
        "date": entry.get("txn_date") or entry.get("applied_at"),
        "amount": _money(entry, "applied_amount", kind, ext_id, f"{path}.applied_amount"),
    }


def _transactions(invoice: Raw, ext_id: str, credit_notes: Iterable[Raw]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(_list(invoice, "linked_payments", "invoice", ext_id)):
        txn = _txn(entry, "invoice", ext_id, f"linked_payments.{index}", "payment")
        if txn is not None:
            out.append(txn)
    for index, credit in enumerate(_list(invoice, "applied_credits", "invoice", ext_id)):
        # a credit note applied to this invoice pays it as surely as a card would
        out.append({
            "external_id": f"{credit.get('cn_id')}:{ext_id}", "type": "payment",
            "result": "successful", "date": credit.get("applied_at"),
            "amount": _money(credit, "applied_amount", "invoice", ext_id,
                             f"applied_credits.{index}.applied_amount"),
        })
    for note in credit_notes:
        if note.get("deleted") is True or note.get("status") == "voided":
            continue
        cn_id = note.get("id")
        for index, entry in enumerate(_list(note, "linked_refunds", "invoice", ext_id)):
            txn = _txn(entry, "invoice", ext_id, f"credit_notes.{cn_id}.linked_refunds.{index}",
                       "refund")
            if txn is not None:
                out.append(txn)
    return out


def review_keys(raw: Raw) -> dict[str, Any]:
    """What ``reconcile`` and ``explain`` read from a quarantined invoice's raw record (the
    normalized names, next to Chargebee's own): its customer, date, currency, and the
    subscriptions its lines bill, so those are reported QUARANTINED, not NO_INVOICE."""
    lines = raw.get("line_items")
    if not isinstance(lines, list):
        lines = []
    subs = [line.get("subscription_id") or raw.get("subscription_id")
            for line in lines if isinstance(line, Mapping)]
    return {
        "customer_external_id": raw.get("customer_id"),
        "issued_at": raw.get("date"),
        "currency": raw.get("currency_code"),
        "lines": [{"subscription_external_id": sub} for sub in subs if sub],
    }


def invoice_status(raw: Raw, ext_id: str) -> tuple[InvoiceStatus, str]:
    """The normalized status and the raw one; a deleted invoice is void whatever it said."""
    if raw.get("deleted") is True:
        return InvoiceStatus.VOID, "deleted"
    source = raw.get("status")
    status = INVOICE_STATUSES.get(source) if isinstance(source, str) else None
    if status is None or not isinstance(source, str):
        raise MappingError("invoice", ext_id, "status",
                           f"status {source!r} is not in the Chargebee mapping table; not guessed",
                           Reason.UNKNOWN_STATUS)
    return status, source


def to_invoice(raw: Raw, credit_notes: Iterable[Raw] = (), periods: Periods | None = None,
               one_time: OneTime = frozenset()) -> Invoice:
    """An invoice with its lines, payments, applied credits and the refunds of its credit
    notes. ``periods`` are the recurring plans' periods, ``one_time`` the ids of one-time
    addons / charges (both read by ``PlansStream``)."""
    ext_id = _id(raw, "invoice")
    status, source = invoice_status(raw, ext_id)
    price_type = raw.get("price_type", "tax_exclusive")
    if price_type not in PRICE_TYPES:
        raise MappingError("invoice", ext_id, "price_type",
                           f"price_type {price_type!r} is not tax_exclusive or tax_inclusive")
    lines = [_line(line, i, raw, ext_id, periods or {}, one_time)
             for i, line in enumerate(_list(raw, "line_items", "invoice", ext_id))]
    discount, coupons = _document_discounts(raw, ext_id)
    data = {
        "external_id": ext_id,
        "customer_external_id": raw.get("customer_id"),
        "issued_at": raw.get("date"),
        "due_at": raw.get("due_date"),
        "currency": raw.get("currency_code"),
        "status": status,
        "source_status": source,
        "lines": lines,
        "transactions": _transactions(raw, ext_id, credit_notes),
        "discount_amount": discount,
        "discount_code": coupons,
        "updated_at": raw.get("updated_at"),
    }
    return _parse(Invoice, data, "invoice")
