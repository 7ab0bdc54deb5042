"""Response bodies: the store's ChartMogul-shaped ``doc()``s, completed to the API's shapes.

Each object carries the union of the fields seen across the recorded responses (older
``clearbit`` attributes and newer ``website_url``, ``errors`` and ``event_order`` alike),
so clients written against any vintage of the API find what they read. Fields the
emulator has no data for keep ChartMogul's empty values (``""``, ``0`` or ``null``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from saasync.destinations.local.rows import (
    DataSourceInfo,
    StoredCustomer,
    StoredInvoice,
    StoredSubscription,
)
from saasync.rules.status import CustomerStatus
from saasync.server.analytics import STATUS_NAMES, CustomerFigures, customer_figures
from saasync.server.api_sql import InvoiceExtras
from saasync.server.context import ApiContext
from saasync.server.wire import ApiRequest, offset_time

_LINE_DEFAULTS: dict[str, Any] = {
    "discount_code": "",
    "discount_description": None,
    "transaction_fees_in_cents": 0,
    "transaction_fees_currency": None,
    "account_code": "",
    "event_order": None,
    "balance_transfer": None,
}
_SUBSCRIPTION_LINE_DEFAULTS: dict[str, Any] = {
    "subscription_set_external_id": None,
    "proration_type": None,
}
_TRANSACTION_DEFAULTS: dict[str, Any] = {
    "transaction_fees_in_cents": None,
    "transaction_fees_currency": None,
}


def data_source_doc(ds: DataSourceInfo, request: ApiRequest, ctx: ApiContext) -> dict[str, Any]:
    """§2, with the optional blocks the ``with_*`` flags ask for. The invoice-handling
    setting shown is the one the emulator applies (MRR from issue; voided and written-off
    invoices excluded, refunded ones kept)."""
    doc = ds.doc()
    if request.flag("with_processing_status"):
        with ctx.store.selected(ds):
            counts = ctx.store.counts()
        processed = counts["customers"] + counts["plans"] + counts["invoices"]
        doc["processing_status"] = {"processed": processed, "failed": 0, "pending": 0}
    if request.flag("with_auto_churn_subscription_setting"):
        doc["auto_churn_subscription_setting"] = ctx.store.sources.auto_churn(ds)
    if request.flag("with_invoice_handling_setting"):
        handling = {
            "create_subscription_when_invoice_is": "open",
            "update_subscription_when_invoice_is": "open",
            "prevent_subscription_for_invoice_voided": True,
            "prevent_subscription_for_invoice_refunded": False,
            "prevent_subscription_for_invoice_written_off": True,
        }
        doc["invoice_handling_setting"] = {"manual": handling, "automatic": dict(handling)}
    return doc


def customer_docs(ctx: ApiContext, customers: Sequence[StoredCustomer]) -> list[dict[str, Any]]:
    """Customers with their status, MRR and ``customer-since`` judged now by the rules."""
    store, now = ctx.store, ctx.now()
    extras = store.customers.extras([c.id for c in customers])
    plans_by_source: dict[str, Any] = {}
    docs = []
    for stored in customers:
        ds = ctx.data_source(stored.data_source_uuid)
        with store.selected(ds):
            if ds.uuid not in plans_by_source:
                plans_by_source[ds.uuid] = store.local.plans_by_external_id()
            views = store.local.subscription_views(stored.external_id)
        figures = customer_figures(views, plans_by_source[ds.uuid], now, ctx.grace)
        docs.append(_customer_doc(ctx, stored, extras.get(stored.id, {}), figures))
    return docs


def _customer_doc(
    ctx: ApiContext, stored: StoredCustomer, extras: dict[str, Any], figures: CustomerFigures
) -> dict[str, Any]:
    doc = stored.doc()
    status = STATUS_NAMES[figures.status]
    if figures.status is CustomerStatus.LEAD and extras.get("lead_status"):
        status = extras["lead_status"]  # Working/Qualified/Unqualified Lead, set by hand
    attributes = extras.get("attributes", {})
    slug = re.sub(r"\W+", "_", stored.customer.name or stored.external_id).strip("_")
    doc.update(
        status=status,
        **{"customer-since": offset_time(figures.since)},
        attributes={
            "custom": attributes.get("custom", {}),
            "clearbit": {},
            "stripe": {},
            "tags": attributes.get("tags", []),
        },
        state=extras.get("state"),
        city=extras.get("city"),
        zip=extras.get("zip"),
        free_trial_started_at=extras.get("free_trial_started_at"),
        address={
            "country": stored.customer.country,
            "state": extras.get("state"),
            "city": extras.get("city"),
            "address_zip": extras.get("zip"),
        },
        mrr=figures.mrr,
        arr=12 * figures.mrr,
        owner=extras.get("owner"),
        website_url=extras.get("website_url"),
        currency=ctx.account.currency,
        **{
            "billing-system-url": None,
            "chartmogul-url": f"{ctx.base_url}/#/customers/{stored.id}-{slug}",
            "billing-system-type": "Import API",
            "currency-sign": ctx.account.currency_sign,
        },
    )
    if "primary_contact" in extras:
        doc["primary_contact"] = extras["primary_contact"]
    return doc


def invoice_docs(ctx: ApiContext, invoices: Sequence[StoredInvoice]) -> list[dict[str, Any]]:
    extras = ctx.store.invoices.extras([i.id for i in invoices])
    return [invoice_doc(i, extras.get(i.id, InvoiceExtras())) for i in invoices]


def invoice_doc(stored: StoredInvoice, extras: InvoiceExtras) -> dict[str, Any]:
    """§5.1/§5.3: every field of every vintage; ``status`` open/paid/voided/written_off."""
    doc = stored.doc()
    invoice_extras = dict(extras.invoice)
    doc.update(
        errors={},
        status=invoice_extras.pop("status", stored.status),
        collection_method=invoice_extras.pop("collection_method", None),
        disabled=False,
        disabled_at=None,
        disabled_by=None,
        user_created=False,
    )
    for line in doc["line_items"]:
        defaults = dict(_LINE_DEFAULTS)
        if line["type"] == "subscription":
            defaults.update(_SUBSCRIPTION_LINE_DEFAULTS)
        else:
            defaults["plan_uuid"] = line.get("plan_uuid")
        line.update({**defaults, **extras.lines.get(line["uuid"], {})})
    for transaction in doc["transactions"]:
        transaction.update(
            {**_TRANSACTION_DEFAULTS, **extras.transactions.get(transaction["uuid"], {})}
        )
    return doc


def subscription_docs(
    ctx: ApiContext, subscriptions: Sequence[StoredSubscription]
) -> list[dict[str, Any]]:
    """The import view (§6.2): ``subscription_set_external_id`` only when one was sent."""
    sets = ctx.store.subscriptions.line_extras([s.id for s in subscriptions])
    docs = []
    for sub in subscriptions:
        doc = sub.doc()
        set_id = sets.get(sub.id, {}).get("subscription_set_external_id")
        if set_id:
            doc["subscription_set_external_id"] = set_id
        docs.append(doc)
    return docs
