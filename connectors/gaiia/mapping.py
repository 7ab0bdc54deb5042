"""gaiia GraphQL nodes → normalized records; nothing gaiia-shaped leaves this module.

Every function takes one node as the API returns it (the selections are in
``streams.py``) and returns a model, or raises :class:`MappingError` naming the record,
the field and the reason code. The tables below are the whole status mapping; a value
outside them is quarantined, never guessed. gaiia money is already an integer in the
currency's smallest unit, so amounts are taken as they are, never scaled.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from saasync.connector import Quarantined
from saasync.kit.records import MappingError, quarantine
from saasync.models import (
    AccountStatus,
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
from saasync.reasons import Reason

INVOICE_STATUS: dict[str, InvoiceStatus] = {
    "OPEN": InvoiceStatus.OPEN,
    "PAID": InvoiceStatus.PAID,
    "UNCOLLECTIBLE": InvoiceStatus.FAILED,
    "VOID": InvoiceStatus.VOID,
}
# ``unassignedAt`` set overrides the word: the subscription has ended (see to_subscription).
SUBSCRIPTION_STATUS: dict[str, SubscriptionStatus] = {
    "PENDING": SubscriptionStatus.FUTURE,
    "ACTIVE": SubscriptionStatus.ACTIVE,
    "SUSPENDED": SubscriptionStatus.PAUSED,
    "CANCELLED": SubscriptionStatus.CANCELLED,
}
ACCOUNT_STATUS: dict[str, AccountStatus] = {s.value: s for s in AccountStatus}
BILLING_REASONS = frozenset({"MANUAL", "SUBSCRIPTION", "SYSTEM"})
PRODUCT_TYPES = frozenset({"DEBIT", "DISCOUNT", "FEE"})
PAYMENT_STRATEGIES = frozenset({"ONE_TIME", "RECURRING", "PREPAID"})
CREDITABLE_TYPES = frozenset({"PAYMENT", "DISCOUNT"})
# Payment and refund status → transaction result; None: no money has moved yet.
MONEY_RESULT: dict[str, str | None] = {"SUCCEEDED": "successful", "FAILED": "failed",
                                       "PENDING": None}
# Billing entities other than accounts (properties, commercial accounts) are not read.
CUSTOMER_TYPENAME = "Account"
Kind = Literal["subscription", "one_time"]
M = TypeVar("M", Customer, Plan, SourceSubscription, Invoice)


def quarantined(kind: str, raw: Mapping[str, Any], exc: MappingError) -> Quarantined:
    """The review-queue entry for a node that failed (the node's own id first); the run goes on."""
    ext = raw.get("id") if isinstance(raw.get("id"), str) else exc.external_id
    return quarantine(kind, exc, raw, external_id=ext if ext != "?" else None)


def dig(node: Any, *keys: str) -> Any:
    """``node[k1][k2]…``, or None as soon as a level is missing or not an object."""
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def stamp(value: Any) -> datetime | None:
    """A gaiia DateTime or Date as aware UTC; None when absent or unreadable."""
    try:
        parsed = to_utc(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return parsed if isinstance(parsed, datetime) else None


def latest(*values: Any) -> datetime | None:
    found = [s for v in values if (s := stamp(v)) is not None]
    return max(found) if found else None


def changed_since(since: datetime | None, *values: Any) -> bool:
    """Whether a node changed at/after ``since``; a node with no usable time is kept
    (better read twice than never)."""
    newest = latest(*values)
    return since is None or newest is None or newest >= since


def _parse(model: type[M], data: dict[str, Any], reason: Reason = Reason.INVALID_RECORD) -> M:
    try:
        return parse_record(model, data)
    except RecordError as exc:
        raise MappingError(exc.kind, exc.external_id, exc.field, exc.message, reason=reason) from exc


def _id(kind: str, raw: Mapping[str, Any]) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not value:
        raise MappingError(kind, None, "id", "every gaiia node has a global id; this one has none")
    return value


def _word(kind: str, ext: str, field: str, value: Any, known: Any, what: str) -> str:
    if not isinstance(value, str) or value not in known:
        raise MappingError(kind, ext, field, f"unknown {what} {value!r} (known: "
                           f"{', '.join(sorted(known))}); map it before syncing",
                           reason=Reason.UNKNOWN_STATUS)
    return value


def _int(kind: str, ext: str, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(kind, ext, field, f"expected an integer amount in minor units, "
                           f"got {value!r}")
    return value


def _owner(kind: str, ext: str, raw: Mapping[str, Any]) -> str:
    """The billing entity's id; entities other than accounts are not read as customers."""
    entity = raw.get("entity")
    owner = dig(entity, "id")
    if not isinstance(owner, str) or not owner:
        raise MappingError(kind, ext, "entity.id", "the record names no billing entity")
    typename = dig(entity, "__typename")
    if typename is not None and typename != CUSTOMER_TYPENAME:
        raise MappingError(kind, ext, "entity", f"billed to a {typename} ({owner}); only "
                           "accounts are read as customers", reason=Reason.UNKNOWN_CUSTOMER)
    return owner


def nodes(kind: str, ext: str, conn: Any, field: str) -> list[dict[str, Any]]:
    """A connection's nodes, refusing a partial one: a missing line is a wrong total."""
    found = dig(conn, "nodes")
    if not isinstance(found, list) or not all(isinstance(n, dict) for n in found):
        raise MappingError(kind, ext, field, "expected a connection {nodes, pageInfo}")
    if dig(conn, "pageInfo", "hasNextPage") is True:
        raise MappingError(kind, ext, field, f"gaiia returned only the first {len(found)} "
                           "items of this list; the record would be incomplete")
    return found


# -- accounts, products, subscriptions ---------------------------------------------------

def to_customer(raw: Mapping[str, Any]) -> Customer:
    """An Account. Its status *type* (not the tenant's custom status name) is the audit's
    account status; the billing-cycle flag lives in ``billingSettings``."""
    ext = _id("customer", raw)
    status = _word("customer", ext, "status.type", dig(raw, "status", "type"), ACCOUNT_STATUS,
                   "account status type")
    settings = raw.get("billingSettings")
    cycle = dig(settings, "billingCycleEnabled")
    if not isinstance(cycle, bool):
        raise MappingError("customer", ext, "billingSettings.billingCycleEnabled",
                           f"expected true or false, got {cycle!r}")
    email = dig(raw, "primaryContact", "email")
    return _parse(Customer, {
        "external_id": ext,
        "name": raw.get("displayName") or raw.get("name") or "",
        "email": email or None,
        "country": dig(raw, "physicalAddress", "countryIso2") or None,
        "created_at": raw.get("createdAt"),
        "account_status": ACCOUNT_STATUS[status],
        "billing_cycle_enabled": cycle,
        "updated_at": latest(raw.get("updatedAt"), dig(settings, "updatedAt")),
    })


def to_plan(raw: Mapping[str, Any]) -> Plan | None:
    """A DEBIT product is a plan, billed each monthly cycle; DISCOUNT and FEE products are
    not plans (None). gaiia products carry no interval of their own."""
    ext = _id("plan", raw)
    kind = _word("plan", ext, "type", raw.get("type"), PRODUCT_TYPES, "product type")
    if kind != "DEBIT":
        return None
    return _parse(Plan, {"external_id": ext, "name": raw.get("name") or ext,
                         "interval_unit": "month", "interval_count": 1,
                         "updated_at": raw.get("updatedAt")})


def to_subscription(raw: Mapping[str, Any]) -> SourceSubscription:
    """A billing subscription. ``unassignedAt`` ends it whatever its status word says."""
    ext = _id("subscription", raw)
    owner = _owner("subscription", ext, raw)
    word = _word("subscription", ext, "status", raw.get("status"), SUBSCRIPTION_STATUS,
                 "subscription status")
    unassigned = stamp(raw.get("unassignedAt"))
    status = SubscriptionStatus.CANCELLED if unassigned else SUBSCRIPTION_STATUS[word]
    cancelled = unassigned
    if status is SubscriptionStatus.CANCELLED and cancelled is None:
        cancelled = stamp(raw.get("updatedAt"))  # CANCELLED without a date: when it last changed
    product = dig(raw, "productVersion", "product")
    return _parse(SourceSubscription, {
        "external_id": ext,
        "customer_external_id": owner,
        "plan_external_id": dig(product, "id") if dig(product, "type") == "DEBIT" else None,
        "status": status,
        "source_status": word,
        "started_at": raw.get("activatedAt") or raw.get("startsAt") or raw.get("assignedAt"),
        "cancelled_at": cancelled,
        "paused_at": raw.get("suspendedAt") if status is SubscriptionStatus.PAUSED else None,
        "updated_at": raw.get("updatedAt"),
    })


# -- invoices ----------------------------------------------------------------------------

def line_kind(ext: str, field: str, reason: str, debit: Mapping[str, Any]) -> Kind:
    """Recurring only for a subscription's DEBIT product billed each cycle; MANUAL invoices,
    FEE products, ONE_TIME and PREPAID strategies and debits without a subscription are
    one-time."""
    version = debit.get("productVersion")
    product_type = dig(version, "product", "type")
    strategy = dig(version, "paymentStrategy")
    if product_type is not None:
        _word("invoice", ext, f"{field}.productVersion.product.type", product_type,
              PRODUCT_TYPES, "product type")
    if strategy is not None:
        _word("invoice", ext, f"{field}.productVersion.paymentStrategy", strategy,
              PAYMENT_STRATEGIES, "payment strategy")
    recurring = (reason != "MANUAL" and dig(debit, "subscription", "id") is not None
                 and product_type == "DEBIT" and strategy == "RECURRING")
    return "subscription" if recurring else "one_time"


def invoice_period(raw: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The invoice's billing period: ``fromDate``..``toDate`` are dates, both included,
    so the period ends at the start of the day after ``toDate``."""
    start, end = stamp(raw.get("fromDate")), stamp(raw.get("toDate"))
    return start, (end + timedelta(days=1) if end is not None else None)


def _amounts(ext: str, field: str, debit: Mapping[str, Any]) -> tuple[int, int, int]:
    """(debit amount, item-level discounts, tax) of one debit, in minor units."""
    tx = debit.get("transaction")
    amount = _int("invoice", ext, f"{field}.transaction.amount", dig(tx, "amount"))
    taxes = nodes("invoice", ext, dig(tx, "taxTransactions"), f"{field}.transaction.taxTransactions")
    tax = sum(_int("invoice", ext, f"{field}.transaction.taxTransactions.{i}.taxAmount",
                   t.get("taxAmount")) for i, t in enumerate(taxes))
    discounts = nodes("invoice", ext, debit.get("discounts"), f"{field}.discounts")
    off = sum(abs(_int("invoice", ext, f"{field}.discounts.{i}.transaction.amount",
                       dig(d, "transaction", "amount"))) for i, d in enumerate(discounts))
    return amount, off, tax


def to_line(ext: str, index: int, debit: Mapping[str, Any], reason: str,
            period: tuple[datetime | None, datetime | None]) -> dict[str, Any]:
    """One debit as a line: amount after its item-level discounts, tax included."""
    field = f"debits.{index}"
    kind = line_kind(ext, field, reason, debit)
    amount, off, tax = _amounts(ext, field, debit)
    product = dig(debit, "productVersion", "product")
    line: dict[str, Any] = {
        "external_id": debit.get("id"), "kind": kind,
        "subscription_external_id": dig(debit, "subscription", "id"),
        "quantity": debit.get("quantity"),
        "prorated": bool(debit.get("proratedFrom") or debit.get("proratedTo")),
        "amount": amount - off + tax, "discount_amount": off, "tax_amount": tax,
        "description": dig(debit, "transaction", "description") or dig(product, "name"),
    }
    if kind == "subscription":
        months = debit.get("months")
        if months not in (None, 1):
            raise MappingError("invoice", ext, f"{field}.months", f"the debit bills {months} "
                               "months at once; gaiia plans are monthly, so its MRR would be wrong")
        line["plan_external_id"] = dig(product, "id")
        line["service_period_start"] = stamp(debit.get("proratedFrom")) or period[0]
        line["service_period_end"] = stamp(debit.get("proratedTo")) or period[1]
    return line


def to_transactions(ext: str, raw: Mapping[str, Any], status: InvoiceStatus) -> list[dict[str, Any]]:
    """PAYMENT credits (with their payment's refunds) as transactions; DISCOUNT credits and
    voided credits move no money. A PAID invoice settled without any successful payment
    (account balance, a DISCOUNT credit) gets one, so analytics sees it paid, as gaiia does."""
    out: list[dict[str, Any]] = []
    credits = nodes("invoice", ext, raw.get("credits"), "credits")
    for i, credit in enumerate(credits):
        field = f"credits.{i}"
        kind = _word("invoice", ext, f"{field}.creditableType", credit.get("creditableType"),
                     CREDITABLE_TYPES, "credit type")
        if kind != "PAYMENT" or credit.get("voidedAt"):
            continue
        payment = dig(credit, "transaction", "payment")
        if not isinstance(payment, dict):
            raise MappingError("invoice", ext, f"{field}.transaction.payment",
                               "a PAYMENT credit without its payment")
        applied = _int("invoice", ext, f"{field}.totalAmount", credit.get("totalAmount"))
        result = MONEY_RESULT[_word("invoice", ext, f"{field}.transaction.payment.status",
                                    payment.get("status"), MONEY_RESULT, "payment status")]
        if result is not None:
            out.append({"external_id": credit.get("id"), "type": "payment", "result": result,
                        "date": payment.get("succeededAt") or payment.get("paymentDateTime")
                        or credit.get("createdAt"), "amount": abs(applied)})
        refunds = nodes("invoice", ext, payment.get("refunds"), f"{field}.transaction.payment.refunds")
        for j, refund in enumerate(refunds):
            sub = f"{field}.transaction.payment.refunds.{j}"
            done = MONEY_RESULT[_word("invoice", ext, f"{sub}.status", refund.get("status"),
                                      MONEY_RESULT, "refund status")]
            if done is None:
                continue
            amount = abs(_int("invoice", ext, f"{sub}.transaction.amount",
                              dig(refund, "transaction", "amount")))
            out.append({"external_id": refund.get("id"), "type": "refund", "result": done,
                        "date": dig(refund, "transaction", "createdAt"),
                        "amount": min(amount, abs(applied))})
    paid = any(t["type"] == "payment" and t["result"] == "successful" for t in out)
    settled = raw.get("amountPaid")
    if status is InvoiceStatus.PAID and not paid and isinstance(settled, int) and settled > 0:
        when = latest(*(c.get("createdAt") for c in credits)) or raw.get("updatedAt")
        out.append({"external_id": f"{ext}:settled", "type": "payment", "result": "successful",
                    "date": when or raw.get("createdAt"), "amount": settled})
    return out


def to_invoice(raw: Mapping[str, Any]) -> Invoice:
    """An invoice with its debits as lines. Voided debits are dropped (a VOID invoice keeps
    them: it only travels to be voided), and the lines must add up to gaiia's total."""
    ext = _id("invoice", raw)
    owner = _owner("invoice", ext, raw)
    word = _word("invoice", ext, "status", raw.get("status"), INVOICE_STATUS, "invoice status")
    status = INVOICE_STATUS[word]
    reason = _word("invoice", ext, "billingReason", raw.get("billingReason"), BILLING_REASONS,
                   "billing reason")
    period = invoice_period(raw)
    debits = nodes("invoice", ext, raw.get("debits"), "debits")
    lines = [to_line(ext, i, d, reason, period) for i, d in enumerate(debits)
             if status is InvoiceStatus.VOID or not d.get("voidedAt")]
    off = dig(raw, "totalDiscount", "totalInvoiceLevel")
    invoice = _parse(Invoice, {
        "external_id": ext,
        "customer_external_id": owner,
        "issued_at": raw.get("createdAt"),
        "due_at": raw.get("dueDate"),
        "currency": raw.get("currency"),
        "status": status,
        "source_status": word,
        "lines": lines,
        "transactions": to_transactions(ext, raw, status),
        "discount_amount": abs(_int("invoice", ext, "totalDiscount.totalInvoiceLevel", off)),
        "updated_at": raw.get("updatedAt"),
    })
    if status is not InvoiceStatus.VOID:
        check_total(invoice, raw)
    return invoice


def check_total(invoice: Invoice, raw: Mapping[str, Any]) -> None:
    """Lines minus invoice-level discounts must equal gaiia's total: a split that does not
    add up would put wrong money into analytics, so it is quarantined instead."""
    total = _int("invoice", invoice.external_id, "total", raw.get("total"))
    ours = sum(line.amount for line in invoice.lines) - invoice.discount_amount
    if ours != total:
        raise MappingError("invoice", invoice.external_id, "total",
                           f"the debits add up to {ours} after discounts and tax, gaiia's total "
                           f"is {total}; the invoice cannot be split into lines exactly")

