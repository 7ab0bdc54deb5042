"""Read what one ChartMogul data source really holds, as docs comparable with desired state.

A dry run against ChartMogul must not write, yet should say what a real run would
change. :func:`read_state` lists the data source's customers, plans, invoices (with
their lines and transactions) and import-view subscriptions, paging with ``cursor``/
``has_more`` (``per_page=200``), and maps them back into our records. The engine
compares them with the records it would send through :meth:`DestinationSnapshot.diff`,
which applies the same :func:`~saasync.destinations.chartmogul.mapping.comparable_doc`
to both sides. What cannot be compared is listed in ``mapping.NOT_COMPARED``.

Cost: one listing each for customers, plans and invoices (200 per request), plus one
subscription listing per customer; at 40 requests/s, 10,000 customers take ~5 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saasync.destinations.chartmogul.client import ChartMogulClient
from saasync.destinations.chartmogul.mapping import (
    JSON,
    NOT_COMPARED,
    Comparable,
    comparable_doc,
    customer_from_api,
    differences,
    invoice_from_api,
    marker_from_api,
    plan_from_api,
)
from saasync.models import Customer, Plan
from saasync.rules.changeset import CancellationMarker, OutInvoice


@dataclass(frozen=True)
class DestinationSnapshot:
    """One data source's content, keyed by external id, mapped back into our records.

    ``subscriptions`` is keyed by ``(customer_external_id, subscription_external_id)``
    (subscription ids are unique per customer only). ``invoice_status`` holds ChartMogul's
    ``status`` where it answers one (newer accounts): ``voided``, ``written_off``, ``paid``…
    ``uuids`` maps ``(kind, key)`` to ChartMogul's uuid, the key being the external id
    (for subscriptions ``"customer_external_id/subscription_external_id"``).
    """

    data_source_uuid: str | None
    customers: Mapping[str, Customer] = field(default_factory=dict)
    plans: Mapping[str, Plan] = field(default_factory=dict)
    invoices: Mapping[str, OutInvoice] = field(default_factory=dict)
    invoice_status: Mapping[str, str] = field(default_factory=dict)
    subscriptions: Mapping[tuple[str, str], CancellationMarker] = field(default_factory=dict)
    uuids: Mapping[tuple[str, str], str] = field(default_factory=dict)
    not_compared: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: NOT_COMPARED)

    @classmethod
    def empty(cls) -> DestinationSnapshot:
        """A data source that does not exist yet: everything would be created."""
        return cls(None)

    def held(self, record: Comparable) -> Comparable | None:
        """The destination's version of ``record`` (same kind and id), or None."""
        if isinstance(record, Customer):
            return self.customers.get(record.external_id)
        if isinstance(record, Plan):
            return self.plans.get(record.external_id)
        if isinstance(record, OutInvoice):
            return self.invoices.get(record.external_id)
        return self.subscriptions.get(
            (record.customer_external_id, record.subscription_external_id))

    def diff(self, record: Comparable) -> list[str] | None:
        """None: ChartMogul lacks it (create); []: it holds exactly this; else the fields
        that differ (update). Both sides go through ``comparable_doc``.

        A cancellation marker with no dates on a subscription ChartMogul lacks is ``[]``:
        there is nothing to cancel, as in the engine's own plan.
        """
        theirs = self.held(record)
        if theirs is None:
            if isinstance(record, CancellationMarker) and not record.cancellation_dates:
                return []
            return None
        return [path for path, _, _ in differences(comparable_doc(theirs), comparable_doc(record))]

    def docs(self) -> dict[str, dict[str, JSON]]:
        """Every comparable doc, by kind then key (for rendering or hashing)."""
        return {
            "customer": {k: comparable_doc(v) for k, v in self.customers.items()},
            "plan": {k: comparable_doc(v) for k, v in self.plans.items()},
            "invoice": {k: comparable_doc(v) for k, v in self.invoices.items()},
            "subscription": {f"{c}/{s}": comparable_doc(v)
                             for (c, s), v in self.subscriptions.items()},
        }


def read_state(client: ChartMogulClient, data_source_uuid: str) -> DestinationSnapshot:
    """Page through everything the data source holds and map it back (read-only)."""
    ds = data_source_uuid
    uuids: dict[tuple[str, str], str] = {}
    customers: dict[str, Customer] = {}
    customer_ext: dict[str, str] = {}  # uuid -> external id
    for raw in client.iter_customers(ds):
        if not _in_source(raw, ds) or not raw.get("external_id"):
            continue
        customer = customer_from_api(raw)
        customers[customer.external_id] = customer
        customer_ext[str(raw["uuid"])] = customer.external_id
        uuids[("customer", customer.external_id)] = str(raw["uuid"])

    plans: dict[str, Plan] = {}
    plan_ext: dict[str, str] = {}
    for raw in client.iter_plans(ds):
        if not _in_source(raw, ds):
            continue
        plan = plan_from_api(raw)
        plans[plan.external_id] = plan
        plan_ext[str(raw["uuid"])] = plan.external_id
        uuids[("plan", plan.external_id)] = str(raw["uuid"])

    invoices: dict[str, OutInvoice] = {}
    status: dict[str, str] = {}
    for raw in client.iter_invoices(ds):
        owner = customer_ext.get(str(raw.get("customer_uuid")), "")
        invoice = invoice_from_api(raw, owner, plan_ext.get)
        invoices[invoice.external_id] = invoice
        uuids[("invoice", invoice.external_id)] = str(raw["uuid"])
        if raw.get("status"):
            status[invoice.external_id] = str(raw["status"])

    subscriptions: dict[tuple[str, str], CancellationMarker] = {}
    for cus_uuid, cus_ext in customer_ext.items():
        for raw in client.iter_subscriptions(cus_uuid):
            if not _in_source(raw, ds) or not raw.get("external_id"):
                continue
            marker = marker_from_api(raw, cus_ext)
            subscriptions[(cus_ext, marker.subscription_external_id)] = marker
            uuids[("subscription", f"{cus_ext}/{marker.subscription_external_id}")] = str(
                raw["uuid"])

    return DestinationSnapshot(ds, customers, plans, invoices, status, subscriptions, uuids)


def _in_source(raw: Mapping[str, Any], ds: str) -> bool:
    """Listings are filtered by data source; a record that says otherwise is not ours.
    A merged customer lists several sources in ``data_source_uuids``."""
    own = raw.get("data_source_uuid")
    many = raw.get("data_source_uuids")
    return own in (None, ds) or (isinstance(many, list) and ds in many)
