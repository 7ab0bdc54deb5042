"""Xero Accounting JSON → normalized records: contacts as customers, ACCREC invoices.

Xero invoices have a status (table in BEHAVIOR.md) but no subscriptions: lines are
classified by the user's item mappings, with the repeating-invoice template as the
vendor's own recurring signal. Line amounts are made tax-included whatever
``LineAmountTypes`` says; money is decimal in major units; dates come as
``/Date(1700000000000+0000)/`` or ISO. Nothing vendor-shaped leaves this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from saasync.errors import ConfigError
from saasync.kit.records import MappingError
from saasync.models import Customer, Invoice, InvoiceStatus, clip, to_utc
from saasync.reasons import Reason

from ..accounting.items import Classification, ItemRules, PlanSpec
from ..accounting.lines import InvoiceFrame, SourceLine, build_lines
from ..accounting.records import (
    currency_code,
    decimal,
    minor,
    parse,
    quantity,
)

VENDOR = "Xero"
STATUSES: dict[str, InvoiceStatus] = {
    "DRAFT": InvoiceStatus.DRAFT,
    "SUBMITTED": InvoiceStatus.DRAFT,  # awaiting approval: not issued yet
    "AUTHORISED": InvoiceStatus.OPEN,
    "PAID": InvoiceStatus.PAID,
    "VOIDED": InvoiceStatus.VOID,
    "DELETED": InvoiceStatus.VOID,  # a deleted draft: voided at the destination if ever sent
}
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
SCHEDULE_UNITS = {"WEEKLY": "week", "MONTHLY": "month"}
_NET_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def xero_time(value: Any) -> datetime | None:
    """``/Date(1700000000000+0000)/`` (milliseconds since the epoch, UTC; the offset is
    informational) or an ISO string (``DateString``: no offset, read as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        match = _NET_DATE.match(value.strip())
        if match:
            try:
                return _EPOCH + timedelta(milliseconds=int(match.group(1)))
            except (OverflowError, ValueError) as exc:  # past year 9999
                raise ValueError(f"date out of range: {clip(value)}") from exc
    result = to_utc(value)
    return result if isinstance(result, datetime) else None


def _when(raw: Mapping[str, Any], kind: str, ext_id: str | None, name: str) -> datetime | None:
    try:
        return xero_time(raw.get(name))
    except ValueError as exc:
        raise MappingError(kind, ext_id, name, str(exc)) from None


def to_customer(raw: Mapping[str, Any]) -> Customer:
    ext_id = str(raw.get("ContactID") or "") or None
    addresses = [a for a in raw.get("Addresses") or [] if isinstance(a, Mapping)]
    # POBOX is Xero's billing (postal) address; STREET the physical one.
    ordered = sorted(addresses, key=lambda a: 0 if a.get("AddressType") == "POBOX" else 1)
    country = next((a["Country"] for a in ordered if a.get("Country")), None)
    data: dict[str, Any] = {
        "external_id": ext_id, "name": raw.get("Name") or "", "email": raw.get("EmailAddress"),
        "country": country, "updated_at": _when(raw, "customer", ext_id, "UpdatedDateUTC"),
    }
    return parse(Customer, {k: v for k, v in data.items() if v not in (None, "")})


def status_of(raw: Mapping[str, Any], ext_id: str) -> InvoiceStatus:
    value = raw.get("Status")
    status = STATUSES.get(str(value)) if value is not None else None
    if status is None:
        raise MappingError("invoice", ext_id, "Status",
                           f"unknown Xero invoice status {value!r}: not in the mapping table "
                           "(see BEHAVIOR.md)", reason=Reason.UNKNOWN_STATUS)
    return status


def _objects(raw: Mapping[str, Any], key: str, ext_id: str | None) -> list[Mapping[str, Any]]:
    """``raw[key]`` as a list of objects (absent: none); any other shape names the field."""
    value = raw.get(key) or []
    if not isinstance(value, list):
        raise MappingError("invoice", ext_id, key, f"expected a list of objects, got {clip(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise MappingError("invoice", ext_id, f"{key}.{index}",
                               f"expected an object, got {clip(item)}")
    return value


def source_line(index: int, line: Mapping[str, Any], currency: str, amount_types: str,
                ext_id: str) -> SourceLine | None:
    """One LineItem, tax included; None for a text-only line (no code, no money)."""
    field = f"lines.{index}"
    description = line.get("Description")
    if description is not None and not isinstance(description, str):
        raise MappingError("invoice", ext_id, f"{field}.Description",
                           f"expected text, got {clip(description)}")
    codes = tuple(dict.fromkeys(str(c).strip() for c in (line.get("ItemCode"),
                                                         line.get("AccountCode")) if c))
    net = minor(line.get("LineAmount", 0) or 0, currency, "invoice", ext_id, f"{field}.LineAmount")
    tax = 0 if amount_types == "NoTax" else minor(line.get("TaxAmount", 0) or 0, currency,
                                                  "invoice", ext_id, f"{field}.TaxAmount")
    if not codes and net == 0 and tax == 0:
        return None
    if line.get("DiscountAmount") is not None:
        discount = minor(line["DiscountAmount"], currency, "invoice", ext_id,
                         f"{field}.DiscountAmount", rounded=True)
    elif line.get("DiscountRate") is not None:  # LineAmount is already net of the discount
        gross = decimal(line.get("Quantity", 1), "invoice", ext_id, f"{field}.Quantity") * \
            decimal(line.get("UnitAmount", 0), "invoice", ext_id, f"{field}.UnitAmount")
        discount = max(minor(gross, currency, "invoice", ext_id, f"{field}.UnitAmount",
                             rounded=True) - net, 0)
    else:
        discount = 0
    item = line.get("Item")
    return SourceLine(
        index=index, codes=codes,
        amount=net + tax if amount_types == "Exclusive" else net,
        discount=discount, tax=tax, quantity=quantity(line.get("Quantity")),
        description=description,
        item_name=item.get("Name") if isinstance(item, Mapping) else None,
        external_id=line.get("LineItemID"),
    )


def transactions(raw: Mapping[str, Any], currency: str, ext_id: str) -> list[dict[str, Any]]:
    """Payments (and applied prepayments/overpayments) as payments; allocated credit notes
    as refunds on this invoice."""
    out: list[dict[str, Any]] = []
    sources = (("Payments", "PaymentID", "Amount", "payment", "payment"),
               ("Prepayments", "PrepaymentID", "AppliedAmount", "prepayment", "payment"),
               ("Overpayments", "OverpaymentID", "AppliedAmount", "overpayment", "payment"),
               ("CreditNotes", "CreditNoteID", "AppliedAmount", "credit", "refund"))
    for key, id_key, amount_key, prefix, kind in sources:
        for index, entry in enumerate(_objects(raw, key, ext_id)):
            if not isinstance(entry, Mapping) or entry.get("Status") == "DELETED" or \
                    entry.get(amount_key) is None:
                continue
            field = f"transactions.{key}.{index}"
            out.append({
                "external_id": f"{prefix}:{entry.get(id_key) or entry.get('ID')}",
                "type": kind, "result": "successful",
                "date": _when(entry, "invoice", ext_id, "Date"),
                "amount": minor(entry[amount_key], currency, "invoice", ext_id,
                                f"{field}.{amount_key}"),
            })
    return out


class RepeatingPlans:
    """Xero's recurring signal: a line of an invoice made from a repeating-invoice template
    is a subscription line even when its code is not mapped; its plan is the code plus
    the template's schedule (``"{code}@{count}-{unit}"``)."""

    def __init__(self, rules: ItemRules, schedules: Mapping[str, tuple[str, int]]) -> None:
        self.rules = rules
        self.schedules = schedules

    def plan_for(self, code: str, template_id: str) -> PlanSpec | None:
        schedule = self.schedules.get(template_id)
        if schedule is None:
            return None
        unit, count = schedule
        every = f"{unit}" if count == 1 else f"{count} {unit}s"
        spec = PlanSpec(f"{code}@{count}-{unit}", f"{code} (every {every})", unit, count)
        try:
            return self.rules.add_plan(spec, f"repeating invoice {template_id}")
        except ConfigError:  # a user-named plan with this id exists: do not guess
            return None

    def __call__(self, frame: InvoiceFrame, line: SourceLine) -> Classification | None:
        if not frame.template_id or not line.codes:
            return None
        plan = self.plan_for(line.codes[0], frame.template_id)
        return None if plan is None else Classification("subscription", line.codes[0], plan,
                                                        "repeating")


def to_invoice(raw: Mapping[str, Any], rules: ItemRules, repeating: RepeatingPlans, *,
               day_first: bool) -> Invoice:
    """An ACCREC invoice with its payments and credits; MappingError names the field."""
    ext_id = str(raw.get("InvoiceID") or "")
    if not ext_id:
        raise MappingError("invoice", None, "InvoiceID", "the invoice has no InvoiceID")
    status = status_of(raw, ext_id)
    currency = currency_code(raw.get("CurrencyCode"), "invoice", ext_id, "CurrencyCode")
    contact = raw.get("Contact")
    customer = contact.get("ContactID") if isinstance(contact, Mapping) else None
    issued_at = _when(raw, "invoice", ext_id, "Date")
    if not customer or issued_at is None:
        field = "Contact.ContactID" if not customer else "Date"
        raise MappingError("invoice", ext_id, field, f"{field} is required")
    amount_types = raw.get("LineAmountTypes") or "Exclusive"
    if amount_types not in LINE_AMOUNT_TYPES:
        raise MappingError("invoice", ext_id, "LineAmountTypes",
                           f"unknown LineAmountTypes {amount_types!r} (expected "
                           f"{', '.join(LINE_AMOUNT_TYPES)})")
    lines = [line for index, item in enumerate(_objects(raw, "LineItems", ext_id))
             if (line := source_line(index, item, currency, amount_types, ext_id)) is not None]
    frame = InvoiceFrame(VENDOR, ext_id, raw.get("InvoiceNumber"), str(customer), issued_at,
                         status, raw.get("RepeatingInvoiceID") or None)
    built = build_lines(frame, lines, rules, day_first=day_first, fallback=repeating)
    if not built:
        raise MappingError("invoice", ext_id, "LineItems", "the invoice has no charge line")
    return parse(Invoice, {
        "external_id": ext_id, "customer_external_id": str(customer), "issued_at": issued_at,
        "due_at": _when(raw, "invoice", ext_id, "DueDate"), "currency": currency,
        "status": status, "source_status": raw.get("Status"), "lines": built,
        "transactions": transactions(raw, currency, ext_id),
        "updated_at": _when(raw, "invoice", ext_id, "UpdatedDateUTC"),
    })


def summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    """What the review queue keeps of a quarantined invoice: enough to place and find it."""
    contact = raw.get("Contact")
    issued = updated = None
    try:
        issued, updated = xero_time(raw.get("Date")), xero_time(raw.get("UpdatedDateUTC"))
    except ValueError:
        pass
    return {"invoice": raw.get("InvoiceNumber"), "status": raw.get("Status"),
            "customer_external_id": contact.get("ContactID") if isinstance(contact, Mapping)
            else None, "issued_at": issued.isoformat() if issued else None,
            "updated_at": updated.isoformat() if updated else None,
            "currency": raw.get("CurrencyCode"), "repeating_invoice": raw.get("RepeatingInvoiceID")}
