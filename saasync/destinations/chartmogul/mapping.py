"""Our records ↔ ChartMogul JSON, and the comparable docs both sides reduce to.

Outbound: ``Customer``, ``Plan``, ``OutInvoice`` become request bodies (docs/chartmogul.md).
Inbound: ChartMogul's answers become the same records again, so "what ChartMogul holds"
and "what we would send" compare with ``==`` on their docs. A comparable doc keeps
only what ChartMogul stores *and* echoes; :data:`NOT_COMPARED` lists what is left out
and why. Every time is sent as ``YYYY-MM-DDTHH:MM:SSZ`` (``changeset.iso``), which
ChartMogul echoes with ``.000Z``: both read back to the same second.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from saasync.destinations.base import InvoiceResult
from saasync.errors import ConflictError
from saasync.models import Customer, Plan, to_utc
from saasync.rules.changeset import CancellationMarker, OutInvoice, OutLine, OutTransaction, iso

JSON = dict[str, Any]

#: What a comparison cannot see, by record kind: the engine must not expect these to match.
NOT_COMPARED: Mapping[str, tuple[str, ...]] = {
    "customer": (
        "account_status, billing_cycle_enabled, updated_at: never sent to ChartMogul",
        "created_at is sent as lead_created_at and compared to the second",
        "email and company: ChartMogul answers '' for none, read as None",
    ),
    "plan": (
        "updated_at: never sent",
        "interval_unit 'week' is sent as 7-day units and compared as such",
    ),
    "invoice": (
        "line and transaction order: ChartMogul may answer in another; compared sorted",
        "description of subscription lines: ChartMogul does not echo it (not sent)",
        "plan of one-time lines: sent as plan_uuid, not part of OutLine.doc()",
        "sub-second parts of times: sent and compared to the second",
        "status (voided, written_off, paid): kept apart in DestinationSnapshot.invoice_status",
    ),
    "subscription": (
        "only cancellation_dates (sorted) are compared; plan and set ids are ChartMogul's own",
    ),
}

# Our Customer field -> ChartMogul's field, for the fields ChartMogul holds.
CUSTOMER_FIELDS: Mapping[str, str] = {
    "name": "name",
    "email": "email",
    "company": "company",
    "country": "country",
    "created_at": "lead_created_at",
}


def parse_time(value: Any) -> datetime | None:
    """ChartMogul's ``…T…:SS.000Z`` / ``+00:00`` times as aware UTC datetimes."""
    parsed = to_utc(value)
    return parsed if isinstance(parsed, datetime) else None


def _blank_none(value: Any) -> Any:
    return None if value in ("", None) else value


# -- customers ----------------------------------------------------------------------------
def customer_doc(customer: Customer) -> JSON:
    """The comparable customer: ``Customer.model_dump(mode="json")`` cut to what ChartMogul holds."""
    return {
        "external_id": customer.external_id,
        "name": customer.name or "",
        "email": _blank_none(customer.email),
        "company": _blank_none(customer.company),
        "country": _blank_none(customer.country),
        "created_at": iso(customer.created_at),
    }


def _customer_wire(customer: Customer, field: str) -> Any:
    return iso(customer.created_at) if field == "created_at" else getattr(customer, field)


def customer_body(customer: Customer, data_source_uuid: str | None) -> JSON:
    """POST /v1/customers (or a bulk ``customers`` entry when ``data_source_uuid`` is None)."""
    body: JSON = {"external_id": customer.external_id, "name": customer.name}
    if data_source_uuid is not None:
        body = {"data_source_uuid": data_source_uuid, **body}
    for field, wire in CUSTOMER_FIELDS.items():
        value = _blank_none(_customer_wire(customer, field))
        if field != "name" and value is not None:
            body[wire] = value
    return body


def customer_patch(ours: Customer, theirs: Customer) -> JSON:
    """PATCH /v1/customers/{uuid}: only the fields that differ (a cleared one as null)."""
    mine, held = customer_doc(ours), customer_doc(theirs)
    return {wire: mine[field] for field, wire in CUSTOMER_FIELDS.items() if mine[field] != held[field]}


def customer_from_api(data: Mapping[str, Any]) -> Customer:
    return Customer(
        external_id=str(data["external_id"]),
        name=data.get("name") or "",
        email=_blank_none(data.get("email")),
        company=_blank_none(data.get("company")),
        country=_blank_none(data.get("country")),
        created_at=parse_time(data.get("lead_created_at")),
    )


# -- plans --------------------------------------------------------------------------------
def plan_interval(plan: Plan) -> tuple[str, int]:
    """ChartMogul knows day, month and year (``week`` is UNCONFIRMED): a week is 7 days."""
    if plan.interval_unit == "week":
        return "day", plan.interval_count * 7
    return plan.interval_unit, plan.interval_count


def plan_doc(plan: Plan) -> JSON:
    unit, count = plan_interval(plan)
    return {"external_id": plan.external_id, "name": plan.name, "interval_unit": unit,
            "interval_count": count}


def plan_body(plan: Plan, data_source_uuid: str | None) -> JSON:
    unit, count = plan_interval(plan)
    body: JSON = {"external_id": plan.external_id, "name": plan.name,
                  "interval_count": count, "interval_unit": unit}
    return {"data_source_uuid": data_source_uuid, **body} if data_source_uuid else body


def plan_patch(ours: Plan, theirs: Plan) -> JSON:
    mine, held = plan_doc(ours), plan_doc(theirs)
    return {k: mine[k] for k in ("name", "interval_count", "interval_unit") if mine[k] != held[k]}


def plan_from_api(data: Mapping[str, Any]) -> Plan:
    return Plan(external_id=str(data["external_id"]), name=str(data["name"]),
                interval_unit=data["interval_unit"], interval_count=int(data["interval_count"]))


# -- invoices -----------------------------------------------------------------------------
def line_fields(line: OutLine) -> JSON:
    """A line item without its plan reference (``plan_uuid`` here, ``plan_external_id`` in bulk)."""
    body: JSON = {
        "type": line.kind,
        "amount_in_cents": line.amount,
        "quantity": line.quantity,
        "discount_amount_in_cents": line.discount_amount,
        "tax_amount_in_cents": line.tax_amount,
    }
    if line.external_id:
        body["external_id"] = line.external_id
    if line.kind == "subscription":
        body.update(
            subscription_external_id=line.subscription_external_id,
            service_period_start=iso(line.service_period_start),
            service_period_end=iso(line.service_period_end),
            prorated=line.prorated,
        )
    elif line.description:
        body["description"] = line.description
    return body


def transaction_body(transaction: OutTransaction) -> JSON:
    body: JSON = {"type": transaction.type, "result": transaction.result,
                  "date": iso(transaction.date)}
    if transaction.external_id:
        body["external_id"] = transaction.external_id
    if transaction.amount is not None:
        body["amount_in_cents"] = transaction.amount
    return body


def invoice_head(invoice: OutInvoice) -> JSON:
    body: JSON = {
        "external_id": invoice.external_id,
        "customer_external_id": invoice.customer_external_id,
        "date": iso(invoice.date),
        "currency": invoice.currency,
    }
    if invoice.due_date is not None:
        body["due_date"] = iso(invoice.due_date)
    return body


def invoice_body(invoice: OutInvoice, plan_uuids: Mapping[str, str]) -> JSON:
    """One entry of POST /v1/import/customers/{uuid}/invoices ``invoices``.

    ``plan_uuids`` maps every plan external id the lines name to its ``pl_…`` uuid.
    """
    lines = []
    for line in invoice.lines:
        body = line_fields(line)
        if line.plan_external_id is not None:
            body["plan_uuid"] = plan_uuids[line.plan_external_id]
        lines.append(body)
    return {**invoice_head(invoice), "line_items": lines,
            "transactions": [transaction_body(t) for t in invoice.transactions]}


def line_from_api(data: Mapping[str, Any], plan_external_id: Callable[[str], str | None]) -> OutLine:
    plan_uuid = data.get("plan_uuid")
    plan_ext = None
    if plan_uuid:
        plan_ext = plan_external_id(str(plan_uuid)) or f"<unknown plan {plan_uuid}>"
    kind = str(data.get("type"))
    return OutLine(
        kind=kind,
        amount=int(data.get("amount_in_cents") or 0),
        discount_amount=int(data.get("discount_amount_in_cents") or 0),
        tax_amount=int(data.get("tax_amount_in_cents") or 0),
        quantity=int(data.get("quantity") or 1),
        external_id=_blank_none(data.get("external_id")),
        subscription_external_id=_blank_none(data.get("subscription_external_id")),
        plan_external_id=plan_ext,
        service_period_start=parse_time(data.get("service_period_start")),
        service_period_end=parse_time(data.get("service_period_end")),
        prorated=bool(data.get("prorated")),
        description=None if kind == "subscription" else _blank_none(data.get("description")),
    )


def transaction_from_api(data: Mapping[str, Any]) -> OutTransaction:
    date = parse_time(data.get("date"))
    assert date is not None, "ChartMogul transactions always carry a date"
    amount = data.get("amount_in_cents")
    return OutTransaction(type=str(data.get("type")), result=str(data.get("result")), date=date,
                          amount=int(amount) if amount is not None else None,
                          external_id=_blank_none(data.get("external_id")))


def invoice_from_api(data: Mapping[str, Any], customer_external_id: str,
                     plan_external_id: Callable[[str], str | None]) -> OutInvoice:
    """An invoice as ChartMogul lists it, as the ``OutInvoice`` that would have produced it.

    ``customer_external_id`` comes from the caller: import answers do not carry it.
    """
    date = parse_time(data.get("date"))
    assert date is not None, "ChartMogul invoices always carry a date"
    return OutInvoice(
        external_id=str(data["external_id"]),
        customer_external_id=str(data.get("customer_external_id") or customer_external_id),
        date=date,
        currency=str(data.get("currency")),
        lines=tuple(line_from_api(li, plan_external_id) for li in data.get("line_items") or ()),
        transactions=tuple(transaction_from_api(t) for t in data.get("transactions") or ()),
        due_date=parse_time(data.get("due_date")),
    )


def _canonical(items: Sequence[JSON], identity: Sequence[str]) -> list[JSON]:
    """Sorted by identity first, so a changed amount does not move its line elsewhere."""
    def key(item: JSON) -> tuple[str, ...]:
        return (*(str(item.get(k) or "") for k in identity),
                json.dumps(item, sort_keys=True, default=str))

    return sorted(items, key=key)


def invoice_doc(invoice: OutInvoice) -> JSON:
    """``OutInvoice.doc()`` minus what ChartMogul does not echo, children in a fixed order."""
    doc = invoice.doc()
    lines = []
    for line in doc["line_items"]:
        if line["type"] == "subscription":
            line = {k: v for k, v in line.items() if k != "description"}
        lines.append(line)
    doc["line_items"] = _canonical(lines, ("type", "external_id", "subscription_external_id",
                                           "service_period_start", "description"))
    doc["transactions"] = _canonical(doc["transactions"], ("date", "type", "external_id"))
    return doc


def without_transactions(doc: JSON) -> JSON:
    return {k: v for k, v in doc.items() if k != "transactions"}


def per_invoice_answers(body: Any) -> list[Any] | None:
    """The per-invoice answers of a refused import, when the body has them (§1.6)."""
    invoices = body.get("invoices") if isinstance(body, dict) else None
    if isinstance(invoices, list) and any(isinstance(i, dict) and "external_id" in i
                                          for i in invoices):
        return invoices
    return None


def added_transactions(held: JSON, invoice: OutInvoice) -> list[OutTransaction]:
    """The transactions to add when the only change is new ones; [] otherwise."""
    if without_transactions(held) != without_transactions(invoice_doc(invoice)):
        return []
    remaining = list(held["transactions"])
    added = []
    for transaction in invoice.transactions:
        doc = transaction.doc()
        if doc in remaining:
            remaining.remove(doc)
        else:
            added.append(transaction)
    return added if not remaining else []


# -- subscriptions ------------------------------------------------------------------------
def cancellation_body(dates: Sequence[datetime]) -> JSON:
    """PATCH /v1/import/subscriptions/{uuid}: replaces the list; ``[]`` reactivates."""
    return {"cancellation_dates": [iso(d) for d in dates]}


def marker_from_api(data: Mapping[str, Any], customer_external_id: str) -> CancellationMarker:
    dates = (parse_time(d) for d in data.get("cancellation_dates") or ())
    return CancellationMarker(
        subscription_external_id=str(data["external_id"]),
        customer_external_id=customer_external_id,
        cancellation_dates=tuple(sorted(d for d in dates if d is not None)),
    )


def cancellation_doc(marker: CancellationMarker) -> JSON:
    doc = marker.doc()
    doc["cancellation_dates"] = sorted(doc["cancellation_dates"])
    return doc


# -- comparing ----------------------------------------------------------------------------
Comparable = Customer | Plan | OutInvoice | CancellationMarker


def comparable_doc(record: Comparable) -> JSON:
    """The doc of any record the destination holds, in the form read-back produces."""
    if isinstance(record, Customer):
        return customer_doc(record)
    if isinstance(record, Plan):
        return plan_doc(record)
    if isinstance(record, OutInvoice):
        return invoice_doc(record)
    return cancellation_doc(record)


def differences(theirs: Any, ours: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``(field path, ChartMogul's value, ours)`` for every leaf that differs."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(theirs) | set(ours)):
            sub = f"{path}.{key}" if path else str(key)
            out += differences(theirs.get(key), ours.get(key), sub)
        return out
    if isinstance(theirs, list) and isinstance(ours, list) and len(theirs) == len(ours):
        return [d for i, (a, b) in enumerate(zip(theirs, ours, strict=True))
                for d in differences(a, b, f"{path}[{i}]")]
    return [] if theirs == ours else [(path or "(record)", theirs, ours)]


def describe(diffs: Sequence[tuple[str, Any, Any]], limit: int = 8) -> str:
    """``field (ChartMogul: x, ours: y), …`` for a report line, at most ``limit`` fields."""
    def short(value: Any) -> str:
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."

    shown = [f"{p} (ChartMogul: {short(a)}, ours: {short(b)})" for p, a, b in diffs[:limit]]
    more = f", and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return ", ".join(shown) + more


class RecordConflict(ConflictError):
    """ChartMogul already holds this external id with other content."""

    def __init__(self, kind: str, external_id: str, diffs: Sequence[tuple[str, Any, Any]],
                 *, message: str | None = None) -> None:
        self.kind = kind
        self.external_id = external_id
        self.fields = tuple(path for path, _, _ in diffs)
        super().__init__(message or f"{kind} {external_id!r} already exists at ChartMogul with "
                         f"different content: {describe(diffs)}")


@dataclass(frozen=True)
class InvoiceConflict(InvoiceResult):
    """An invoice refused as a conflict: ``error`` is the RecordConflict message."""

    fields: tuple[str, ...] = ()
