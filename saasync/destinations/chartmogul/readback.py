"""Read what one ChartMogul data source really holds, as docs comparable with desired state.

A dry run against ChartMogul must not write, yet should say what a real run would
change. :func:`read_state` lists the data source's customers, plans, invoices (with
their lines and transactions) and import-view subscriptions, paging with ``cursor``/
``has_more`` (``per_page=200``), and maps them back into our records. The engine
compares them with the records it would send through :meth:`DestinationSnapshot.diff`,
which applies the same :func:`~saasync.destinations.chartmogul.mapping.comparable_doc`
to both sides. What cannot be compared is listed in ``mapping.NOT_COMPARED``.

Cost: one listing each for customers, plans and invoices (200 per request), plus one
import-view subscription listing per customer whose invoices bill a subscription (there is
no data-source-wide subscription listing; a customer without such an invoice has none).
The three listings run side by side, and a customer's subscription listing starts as soon
as an invoice page shows it bills one, ``SUBSCRIPTION_WORKERS`` at a time, all through the
one paced client: the pages of the cursor-chained listings go first, the rest are spaced
evenly at the client's pace (95 % of 40 requests/s), which, not the round trip, sets the
pace: 10,000 customers take about 4.5 minutes.
:func:`read_customer` reads one customer only (``saasync explain``): a handful of requests
whatever the account's size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
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
    line_from_api,
    marker_from_api,
    plan_from_api,
)
from saasync.http import Paced
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


# (stage, done, total): the shape of ``saasync.console.ProgressFn``
Progress = Callable[[str, int, int | None], None]
# Listings in flight at once besides the invoices': enough that round trips do not set
# the pace (at 250 ms each, 10 keep 40 requests/s busy); with the invoice, customer and
# plan listings, 13 connections, below ChartMogul's 20 and within the client's pool (as
# many as ``max_concurrency``).
SUBSCRIPTION_WORKERS = 10


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


class _Spacer:
    """Starts listings evenly, one per ``interval``: the HTTP layer's window lets a full
    second's worth go at once, and a burst from many threads reaches ChartMogul's own
    window unevenly (a few 429s per burst); evenly spaced at the same rate, none."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, client: ChartMogulClient) -> _Spacer:
        """At the client's own pace (``requests_per_second``), when it has one."""
        limiter = client.http.limiter
        if isinstance(limiter, Paced) and limiter.rate > 0:
            return cls(float(limiter.per) / limiter.rate)
        return cls(0.0)

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)

    def first(self) -> None:
        """A page of a cursor-chained listing goes at once (the chain is what the read
        waits for); the slot it takes is given up by the listings not yet spaced."""
        if self.interval <= 0:
            return
        with self._lock:
            self._next = max(time.monotonic(), self._next) + self.interval


class _Reading:
    """What a read has gathered so far, filled listing by listing."""

    def __init__(self, client: ChartMogulClient, ds: str, progress: Progress) -> None:
        self.client, self.ds, self.progress = client, ds, progress
        self.uuids: dict[tuple[str, str], str] = {}
        self.customers: dict[str, Customer] = {}
        self.customer_ext: dict[str, str] = {}  # uuid -> external id
        self.plans: dict[str, Plan] = {}
        self.plan_ext: dict[str, str] = {}
        self.invoices: dict[str, OutInvoice] = {}
        self.status: dict[str, str] = {}
        self.subscriptions: dict[tuple[str, str], CancellationMarker] = {}
        self.subscribed: set[str] = set()  # customer uuids with a subscription line

    def add_customers(self, listed: Iterable[JSON]) -> None:
        for raw in listed:
            if not _in_source(raw, self.ds) or not raw.get("external_id"):
                continue
            customer = customer_from_api(raw)
            self.customers[customer.external_id] = customer
            self.customer_ext[str(raw["uuid"])] = customer.external_id
            self.uuids[("customer", customer.external_id)] = str(raw["uuid"])

    def add_plans(self, listed: Iterable[JSON]) -> None:
        for raw in listed:
            if not _in_source(raw, self.ds):
                continue
            plan = plan_from_api(raw)
            self.plans[plan.external_id] = plan
            self.plan_ext[str(raw["uuid"])] = plan.external_id
            self.uuids[("plan", plan.external_id)] = str(raw["uuid"])

    def add_invoices(self, listed: Iterable[JSON]) -> None:
        for raw in listed:
            owner_uuid = str(raw.get("customer_uuid"))
            owner = self.customer_ext.get(owner_uuid, "")
            invoice = invoice_from_api(raw, owner, self.plan_ext.get)
            self.invoices[invoice.external_id] = invoice
            self.uuids[("invoice", invoice.external_id)] = str(raw["uuid"])
            if raw.get("status"):
                self.status[invoice.external_id] = str(raw["status"])
            if any(line.subscription_external_id for line in invoice.lines):
                self.subscribed.add(owner_uuid)

    def add_subscriptions(self, cus_uuid: str, listed: Iterable[JSON]) -> None:
        cus_ext = self.customer_ext[cus_uuid]
        for raw in listed:
            if not _in_source(raw, self.ds) or not raw.get("external_id"):
                continue
            marker = marker_from_api(raw, cus_ext)
            self.subscriptions[(cus_ext, marker.subscription_external_id)] = marker
            self.uuids[("subscription", f"{cus_ext}/{marker.subscription_external_id}")] = str(
                raw["uuid"])

    def read_subscriptions(self, listings: _Listings) -> None:
        """Each subscribed customer's import-view listing (most already started while the
        invoices were listed), merged in customer order, so the result does not depend on
        which answer came first."""
        asked = [uuid for uuid in self.customer_ext if uuid in self.subscribed]
        if not asked:
            return
        self.progress("subscriptions", 0, len(asked))
        for done, uuid in enumerate(asked, 1):
            self.add_subscriptions(uuid, listings.start(uuid).result())
            self.progress("subscriptions", done, len(asked))

    def snapshot(self) -> DestinationSnapshot:
        return DestinationSnapshot(self.ds, self.customers, self.plans, self.invoices,
                                   self.status, self.subscriptions, self.uuids)


class _Listings:
    """Import-view subscription listings, started as soon as a customer is known to need
    one, at most ``workers`` at a time, each spaced evenly at the client's pace."""

    def __init__(self, pool: ThreadPoolExecutor, client: ChartMogulClient) -> None:
        self.pool, self.client = pool, client  # a client that spaces its pages
        self.started: dict[str, Future[list[JSON]]] = {}

    def start(self, customer_uuid: str) -> Future[list[JSON]]:
        if customer_uuid not in self.started:
            self.started[customer_uuid] = self.pool.submit(self._list, customer_uuid)
        return self.started[customer_uuid]

    def _list(self, customer_uuid: str) -> list[JSON]:
        return list(self.client.iter_subscriptions(customer_uuid))


def _bills_a_subscription(raw: JSON) -> bool:
    """Whether an invoice, as listed, has a line of a subscription (as ``add_invoices``
    maps it, plans aside)."""
    lines = raw.get("line_items")
    return any(isinstance(line, dict)
               and line_from_api(line, lambda _: None).subscription_external_id
               for line in (lines if isinstance(lines, list) else ()))


def read_state(client: ChartMogulClient, data_source_uuid: str, *,
               progress: Progress | None = None,
               workers: int = SUBSCRIPTION_WORKERS) -> DestinationSnapshot:
    """Page through everything the data source holds and map it back (read-only).

    Customers and plans are listed beside the invoices; as each invoice page arrives, its
    customers' subscription listings start (``workers`` at a time). Every request goes
    through the one paced client; the mapping waits for every listing and is the same
    whatever order the answers came in. ``progress(stage, done, total)`` hears of the
    invoices as they come (total unknown), then of the subscriptions, n of N.
    """
    reading = _Reading(client, data_source_uuid, progress or _no_progress)
    spacer = _Spacer.of(client)
    chained, spaced = client.paced(spacer.first), client.paced(spacer.wait)
    ds = data_source_uuid
    pool = ThreadPoolExecutor(max_workers=max(1, workers) + 2,
                              thread_name_prefix="saasync-readback")
    try:
        customers = pool.submit(lambda: list(chained.iter_customers(ds)))
        plans = pool.submit(lambda: list(chained.iter_plans(ds)))
        listings = _Listings(pool, spaced)
        reading.progress("invoices", 0, None)
        invoices: list[JSON] = []
        for raw in chained.iter_invoices(ds):
            invoices.append(raw)
            if len(invoices) % 200 == 0:
                reading.progress("invoices", len(invoices), None)
            if raw.get("customer_uuid") and _bills_a_subscription(raw):
                listings.start(str(raw["customer_uuid"]))
        reading.add_customers(customers.result())
        reading.add_plans(plans.result())
        reading.add_invoices(invoices)
        reading.read_subscriptions(listings)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return reading.snapshot()


def read_customer(client: ChartMogulClient, data_source_uuid: str,
                  customer_external_id: str) -> DestinationSnapshot:
    """What the data source holds of one customer (and every plan, which its invoices name
    and MRR needs), as :func:`read_state` would map it: the customer looked up by external
    id, then the plans, its invoices and its subscriptions. Four listings, each one request
    unless it passes 200 records; an unknown customer costs one request and reads empty."""
    ds = data_source_uuid
    found = client.find_customer(ds, customer_external_id)
    if found is None:
        return DestinationSnapshot(ds)
    reading = _Reading(client, ds, _no_progress)
    reading.add_customers([found])
    uuid = str(found["uuid"])
    if uuid not in reading.customer_ext:  # listed without an external id: read_state skips it
        return DestinationSnapshot(ds)
    reading.add_plans(client.iter_plans(ds))
    reading.add_invoices(client.iter_invoices(ds, customer_uuid=uuid))
    reading.add_subscriptions(uuid, client.iter_subscriptions(uuid))
    return reading.snapshot()


def _in_source(raw: Mapping[str, Any], ds: str) -> bool:
    """Listings are filtered by data source; a record that says otherwise is not ours.
    A merged customer lists several sources in ``data_source_uuids``."""
    own = raw.get("data_source_uuid")
    many = raw.get("data_source_uuids")
    return own in (None, ds) or (isinstance(many, list) and ds in many)
