"""Invoices as clients send them, checked and turned into the local store's ``OutInvoice``.

Shared by the per-customer import (lines name their plan by ``plan_uuid``) and the bulk
JSON import (``plan_external_id``). Fields the store does not model (discount codes,
transaction fees, set ids, ``collection_method``) come back as extras, by position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from saasync.rules.changeset import OutInvoice, OutLine, OutTransaction
from saasync.server.api_store import ApiStore
from saasync.server.wire import Fields, problem_to_errors

DUPLICATE_INVOICE = "The external ID for this invoice already exists in our system."
INVOICE_EXTRAS = ("collection_method",)
LINE_EXTRAS = (
    "subscription_set_external_id", "discount_code", "discount_description",
    "transaction_fees_in_cents", "transaction_fees_currency", "account_code",
    "proration_type", "event_order", "balance_transfer",
)  # fmt: skip
TRANSACTION_EXTRAS = ("transaction_fees_in_cents", "transaction_fees_currency")

#: Finds the plan of a raw line: its external id, or None after ``fields.fail``.
PlanResolver = Callable[[Mapping[str, Any], Fields], str | None]


class InvoiceInvalid(Exception):
    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(str(dict(errors)))
        self.errors = dict(errors)


@dataclass(frozen=True)
class ParsedInvoice:
    invoice: OutInvoice
    extras: dict[str, Any]
    line_extras: list[dict[str, Any]]
    transaction_extras: list[dict[str, Any]]


def plan_uuid_resolver(store: ApiStore) -> PlanResolver:
    """Lines of ``POST /import/customers/{uuid}/invoices`` name plans by uuid (§5.1);
    call inside ``store.selected(ds)``: a plan of another data source is unknown."""

    def resolve(item: Mapping[str, Any], fields: Fields) -> str | None:
        uuid = fields.text("plan_uuid", required=item.get("type") == "subscription")
        if not uuid:
            return None
        plan = store.local.get_plan_by_uuid(uuid)
        if plan is None:
            fields.fail("plan_uuid", "Plan not found")
            return None
        return plan.external_id

    return resolve


def plan_external_id_resolver(item: Mapping[str, Any], fields: Fields) -> str | None:
    """Bulk-import lines name plans by external id (§8); the store checks they exist."""
    return fields.text("plan_external_id", required=item.get("type") == "subscription") or None


def _extras(item: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: item[name] for name in names if name in item}


def parse_line(item: Any, fields: Fields, resolve_plan: PlanResolver) -> tuple[OutLine, dict[str, Any]] | None:  # fmt: skip
    if not isinstance(item, dict):
        fields.fail("line_items", "each line item must be an object")
        return None
    lf = Fields(item, prefix="line_items.")
    kind = lf.choice("type", ("subscription", "one_time"), required=True)
    amount = lf.integer("amount_in_cents", required=True)
    quantity = lf.integer("quantity", default=1)
    if quantity == 0:
        lf.fail("quantity", "must not be zero")
    line = OutLine(
        kind=kind or "one_time",
        amount=amount or 0,
        discount_amount=lf.integer("discount_amount_in_cents", default=0, minimum=0) or 0,
        tax_amount=lf.integer("tax_amount_in_cents", default=0, minimum=0) or 0,
        quantity=quantity or 1,
        external_id=lf.text("external_id") or None,
        subscription_external_id=(
            lf.text("subscription_external_id", required=True) if kind == "subscription" else None
        ),
        plan_external_id=resolve_plan(item, lf),
        service_period_start=(
            lf.time("service_period_start", required=True) if kind == "subscription" else None
        ),
        service_period_end=lf.time("service_period_end") if kind == "subscription" else None,
        prorated=lf.flag("prorated"),
        description=lf.text("description") or None,
    )
    for name, message in lf.errors.items():
        fields.errors.setdefault(name, message)
    return (line, _extras(item, LINE_EXTRAS)) if not lf.errors else None


def parse_transaction(item: Any, fields: Fields, prefix: str = "transactions.") -> tuple[OutTransaction, dict[str, Any]] | None:  # fmt: skip
    if not isinstance(item, dict):
        fields.fail("transactions", "each transaction must be an object")
        return None
    tf = Fields(item, prefix=prefix)
    kind = tf.choice("type", ("payment", "refund"), required=True)
    result = tf.choice("result", ("successful", "failed"), required=True)
    date = tf.time("date", required=True)
    amount = tf.integer("amount_in_cents", minimum=0)
    external_id = tf.text("external_id") or None
    for name, message in tf.errors.items():
        fields.errors.setdefault(name, message)
    if tf.errors or kind is None or result is None or date is None:
        return None
    transaction = OutTransaction(kind, result, date, amount, external_id)
    return transaction, _extras(item, TRANSACTION_EXTRAS)


def parse_invoice(raw: Any, customer_external_id: str, resolve_plan: PlanResolver) -> ParsedInvoice:
    """Check one invoice of a request; raise ``InvoiceInvalid`` with every field's problem."""
    if not isinstance(raw, dict):
        raise InvoiceInvalid({"invoice": "must be an object"})
    fields = Fields(raw)
    external_id = fields.text("external_id", required=True)
    date = fields.time("date", required=True)
    due_date = fields.time("due_date")
    currency = fields.text("currency", required=True)
    fields.choice("collection_method", ("automatic", "manual"))
    raw_lines = raw.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        fields.fail("line_items", "can't be blank")
        raw_lines = []
    raw_transactions = raw.get("transactions") or []
    if not isinstance(raw_transactions, list):
        fields.fail("transactions", "must be a list")
        raw_transactions = []
    lines = [parse_line(item, fields, resolve_plan) for item in raw_lines]
    transactions = [parse_transaction(item, fields) for item in raw_transactions]
    if fields.errors:
        raise InvoiceInvalid(fields.errors)
    assert external_id and date and currency
    good_lines = [line for line in lines if line is not None]
    good_transactions = [t for t in transactions if t is not None]
    invoice = OutInvoice(
        external_id=external_id,
        customer_external_id=customer_external_id,
        date=date,
        currency=currency.upper(),
        lines=tuple(line for line, _ in good_lines),
        transactions=tuple(t for t, _ in good_transactions),
        due_date=due_date,
    )
    return ParsedInvoice(
        invoice,
        _extras(raw, INVOICE_EXTRAS),
        [extras for _, extras in good_lines],
        [extras for _, extras in good_transactions],
    )


def import_parsed(store: ApiStore, customer_external_id: str, parsed: ParsedInvoice) -> str:
    """Store one checked invoice in the selected data source; return its uuid.

    Unlike the store's own idempotent import, a known external id is refused whatever the
    content, with ChartMogul's duplicate message (§1.6): that is what clients must handle.
    """
    if store.local.get_invoice(parsed.invoice.external_id) is not None:
        raise InvoiceInvalid({"external_id": DUPLICATE_INVOICE})
    [result] = store.local.import_invoices(customer_external_id, [parsed.invoice])
    if result.destination_id is None:
        raise InvoiceInvalid(problem_to_errors(result.error or "base: refused"))
    if parsed.extras or any(parsed.line_extras) or any(parsed.transaction_extras):
        store.invoices.set_extras(
            result.destination_id, parsed.extras, parsed.line_extras, parsed.transaction_extras
        )
    return result.destination_id
