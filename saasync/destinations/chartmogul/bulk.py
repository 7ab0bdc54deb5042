"""Bulk mode: many customers' data in one ``json_imports`` request, polled until done.

``POST /v1/data_sources/{uuid}/json_imports`` (docs/chartmogul.md) takes arrays of customers,
plans, invoices, line items and transactions that refer to each other by external id.
A customer's records must travel together, so batches are cut between customers (at
most ``max_customers`` and ``max_bytes`` each, under the 5 MB cap), sent one after the
other, and each is polled (``sleep`` injected) until it leaves ``queued``/``processing``.
``status_details`` is mapped back to per-record results by external id. Its exact
nesting is UNCONFIRMED (§13.21): a record without any detail in a ``completed`` import
counts as imported.

A record refused as "already exists" — say the POST was retried after a 5xx and both
imports ran — is read back and compared, as in the per-customer path: equal is success,
different a conflict (``conflict_fields`` set). Cancellation dates have no place in a bulk import; ``add_cancellation`` queues them and
``flush`` applies them after the imports finished (subscriptions exist only then)
through the per-subscription endpoint.

Independent of ``ChartMogulDestination``: it needs only a client and a data source uuid.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from saasync.destinations.chartmogul.client import (
    DUPLICATE_MESSAGES,
    ChartMogulClient,
    Lookups,
    error_text,
    set_cancellation_dates,
)
from saasync.destinations.chartmogul.mapping import (
    JSON,
    RecordConflict,
    comparable_doc,
    customer_body,
    customer_from_api,
    differences,
    invoice_from_api,
    invoice_head,
    line_fields,
    plan_body,
    plan_from_api,
    transaction_body,
)
from saasync.errors import BadRecordError, FatalError
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice

PENDING = frozenset({"queued", "processing", "pending", "in_progress"})
DONE = frozenset({"imported", "completed", "processed", "success", "succeeded", "ok"})
MAX_BYTES = 4_500_000  # the API takes at most 5 MB; leave room for the envelope
_CHILDREN = ("invoices", "line_items", "transactions")


@dataclass(frozen=True)
class BulkResult:
    """One record's fate in a bulk import: ``error`` is None when it went through."""

    kind: str  # customer | plan | invoice | subscription
    external_id: str
    customer_external_id: str | None
    error: str | None = None
    import_id: str | None = None
    conflict_fields: tuple[str, ...] = ()  # set when ``error`` is a conflict (RecordConflict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Group:
    """Everything of one customer: it must travel in one request."""

    customer: JSON | None = None
    invoices: list[JSON] = field(default_factory=list)
    line_items: list[JSON] = field(default_factory=list)
    transactions: list[JSON] = field(default_factory=list)

    def size(self) -> int:
        return len(json.dumps([self.customer, self.invoices, self.line_items, self.transactions]))


class BulkImporter:
    """Collects records, then ``flush()`` sends them as json_imports and reports per record."""

    def __init__(self, client: ChartMogulClient, data_source_uuid: str, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 poll_interval: float = 2.0, timeout: float = 1800.0, max_customers: int = 500,
                 max_bytes: int = MAX_BYTES, name_prefix: str = "saasync") -> None:
        self.client = client
        self.ds = data_source_uuid
        self.sleep = sleep
        self.clock = clock
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_customers = max_customers
        self.max_bytes = max_bytes
        self.name_prefix = name_prefix
        self._plans: dict[str, JSON] = {}
        self._groups: dict[str, _Group] = {}
        self._records: dict[tuple[str, str], Customer | Plan | OutInvoice] = {}
        self._cancellations: list[tuple[str, str, tuple[datetime, ...]]] = []
        self._accepted: Accepted | None = None

    def watch(self, accepted: Accepted) -> None:
        """``accepted(import_id, data_source_uuid, manifest)`` hears of each import as soon
        as ChartMogul accepted it, before it is polled (to keep it across a crash)."""
        self._accepted = accepted

    def add_plan(self, plan: Plan) -> None:
        self._plans[plan.external_id] = plan_body(plan, None)
        self._records[("plan", plan.external_id)] = plan

    def add_customer(self, customer: Customer) -> None:
        self._records[("customer", customer.external_id)] = customer
        self._groups.setdefault(customer.external_id, _Group()).customer = customer_body(customer,
                                                                                         None)

    def add_invoices(self, customer_external_id: str, invoices: Sequence[OutInvoice]) -> None:
        group = self._groups.setdefault(customer_external_id, _Group())
        for invoice in invoices:
            ext = invoice.external_id
            self._records[("invoice", ext)] = invoice
            group.invoices.append({**invoice_head(invoice), "customer_external_id":
                                   customer_external_id})
            for line in invoice.lines:
                body = line_fields(line)
                if line.plan_external_id is not None:
                    body["plan_external_id"] = line.plan_external_id
                group.line_items.append({"invoice_external_id": ext, **body})
            group.transactions += [{"invoice_external_id": ext, **transaction_body(t)}
                                   for t in invoice.transactions]

    def add_cancellation(self, customer_external_id: str, subscription_external_id: str,
                         dates: Sequence[datetime]) -> None:
        self._cancellations.append((customer_external_id, subscription_external_id, tuple(dates)))

    # -- sending --------------------------------------------------------------------------
    def flush(self) -> list[BulkResult]:
        """Send everything collected; one result per plan, customer, invoice and cancellation."""
        plans, groups, cancellations = self._plans, self._groups, self._cancellations
        records, self._records = self._records, {}
        self._plans, self._groups, self._cancellations = {}, {}, []
        results: list[BulkResult] = []
        first = True
        for batch in self._batches(groups, results, len(json.dumps(list(plans.values())))):
            results += self._send(plans if first else {}, batch)
            first = False
        if first and plans:
            results += self._send(plans, {})
        ids = Lookups(self.client, self.ds)
        results = [_settle_duplicate(r, records, ids) for r in results]
        for customer, subscription, dates in cancellations:
            try:
                set_cancellation_dates(self.client, ids, customer, subscription, dates)
                results.append(BulkResult("subscription", subscription, customer))
            except BadRecordError as exc:
                results.append(BulkResult("subscription", subscription, customer, str(exc)))
        return results

    def _batches(self, groups: Mapping[str, _Group], results: list[BulkResult],
                 size: int) -> list[dict[str, _Group]]:
        """Whole customers per batch; the plans (``size`` bytes) ride in the first one."""
        batches: list[dict[str, _Group]] = []
        current: dict[str, _Group] = {}
        for customer, group in groups.items():
            grown = group.size()
            if grown > self.max_bytes:
                results += _group_results(customer, group, None,
                                          f"this customer's records exceed {self.max_bytes} bytes, "
                                          "too much for one bulk import")
                continue
            if current and (len(current) >= self.max_customers or size + grown > self.max_bytes):
                batches.append(current)
                current, size = {}, 0
            current[customer] = group
            size += grown
        if current:
            batches.append(current)
        return batches

    def _payload(self, plans: Mapping[str, JSON], batch: Mapping[str, _Group]) -> JSON:
        payload: JSON = {
            "plans": list(plans.values()),
            "customers": [g.customer for g in batch.values() if g.customer is not None],
        }
        for key in _CHILDREN:
            payload[key] = [item for g in batch.values() for item in getattr(g, key)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
        # Named by content: the same data sent again carries the same import name.
        return {"external_id": f"{self.name_prefix}-{digest}", **payload}

    def _send(self, plans: Mapping[str, JSON], batch: Mapping[str, _Group]) -> list[BulkResult]:
        payload = self._payload(plans, batch)
        try:
            created = self.client.create_json_import(self.ds, payload)
        except BadRecordError as exc:
            text = f"bulk import refused ({exc.status}): {error_text(exc.body) or exc}"
            return _outcomes(plans, batch, {"status": "refused"}, None, text)
        import_id = str(created.get("id"))
        if self._accepted is not None:
            self._accepted(import_id, self.ds, manifest(plans, batch))
        status = self._wait(import_id, created)
        return _outcomes(plans, batch, status, import_id, None)

    def settle(self, import_id: str, found: Mapping[str, Any]) -> list[BulkResult] | None:
        """An import a dead run left in flight (``found``: its ``manifest``): polled until it
        has finished, its records' results as ``flush`` gives them; None when ChartMogul
        does not know the import (its records are simply sent again)."""
        try:
            status = self._wait(import_id, self.client.get_json_import(self.ds, import_id))
        except BadRecordError as exc:
            if exc.status == 404:
                return None
            raise
        return results_of(found, status, import_id)

    def _wait(self, import_id: str, status: JSON) -> JSON:
        deadline = self.clock() + self.timeout
        while str(status.get("status")) in PENDING:
            if self.clock() >= deadline:
                raise FatalError(f"ChartMogul bulk import {import_id} still "
                                 f"{status.get('status')} after {self.timeout:.0f}s; check it "
                                 f"later at data_sources/{self.ds}/json_imports/{import_id}")
            self.sleep(self.poll_interval)
            status = self.client.get_json_import(self.ds, import_id)
        return status


# (import id, data source uuid, manifest): an import ChartMogul accepted
Accepted = Callable[[str, str, dict[str, Any]], None]


def manifest(plans: Mapping[str, JSON], batch: Mapping[str, _Group]) -> dict[str, Any]:
    """What an import carries, by external id: enough to map its ``status_details`` back
    (``results_of``) after the run that sent it died."""
    return {"plans": list(plans),
            "customers": {customer: {"customer": group.customer is not None,
                                     "invoices": [str(i["external_id"]) for i in group.invoices]}
                          for customer, group in batch.items()}}


def results_of(found: Mapping[str, Any], status: JSON, import_id: str) -> list[BulkResult]:
    """Per-record results of a finished import from its ``manifest``, as ``flush`` maps a
    live one (``_outcomes``)."""
    plans: dict[str, JSON] = {str(ext): {} for ext in found.get("plans") or ()}
    batch = {str(customer): _Group(customer={} if entry.get("customer") else None,
                                   invoices=[{"external_id": ext} for ext in entry["invoices"]])
             for customer, entry in (found.get("customers") or {}).items()}
    return _outcomes(plans, batch, status, import_id, None)


def _outcomes(plans: Mapping[str, JSON], batch: Mapping[str, _Group], status: JSON,
              import_id: str | None, refused: str | None) -> list[BulkResult]:
    """Per-record results from a finished import's ``status_details``."""
    overall = str(status.get("status"))
    details = status.get("status_details")
    details = details if isinstance(details, dict) else {}
    fallback = refused or (None if overall in DONE else f"bulk import {import_id} ended {overall}")
    results = [BulkResult("plan", ext, None, _error(details.get("plans"), ext, fallback), import_id)
               for ext in plans]
    for customer, group in batch.items():
        results += _group_results(customer, group, import_id, fallback, details.get(customer))
    return results


def _group_results(customer: str, group: _Group, import_id: str | None, fallback: str | None,
                   detail: Any = None) -> list[BulkResult]:
    detail = detail if isinstance(detail, dict) else {}
    results = []
    own = None
    if group.customer is not None:
        own = _error(detail.get("customers"), customer, fallback)
        results.append(BulkResult("customer", customer, customer, own, import_id))
    for invoice in group.invoices:
        ext = str(invoice["external_id"])
        errors = [_error(detail.get(key), ext, fallback) for key in _CHILDREN]
        found = [e for e in (*errors, own) if e]  # the customer's failure fails its invoices
        results.append(BulkResult("invoice", ext, customer, "; ".join(dict.fromkeys(found)) or None,
                                  import_id))
    return results


def _error(entry: Any, external_id: str, fallback: str | None) -> str | None:
    """The error an entry of ``status_details`` holds for ``external_id``; None if fine.

    An entry is ``{"status": …}`` and maybe ``errors``. Errors keyed by external id name
    the records that failed; errors keyed by field apply to every record the entry covers.
    """
    if not isinstance(entry, dict):
        return fallback
    state = str(entry.get("status") or "")
    errors = entry.get("errors")
    if isinstance(errors, dict) and external_id in errors:
        return f"{state or 'failed'}: {json.dumps(errors[external_id], default=str)}"
    if not state or state in DONE:
        return None
    if isinstance(errors, dict) and errors and not set(errors) & _FIELDS:
        return None  # keyed by the external ids of other records: this one went through
    said = f": {json.dumps(errors, default=str)}" if errors else ""
    message = entry.get("message")
    return f"{state}{said}" + (f" ({message})" if message else "")


def _settle_duplicate(result: BulkResult, records: Mapping[tuple[str, str], Any],
                      ids: Lookups) -> BulkResult:
    """A record refused as "already exists" (say, a retried POST whose first import ran)
    is read back: equal is success, different a conflict naming the fields."""
    ours = records.get((result.kind, result.external_id))
    if result.error is None or ours is None or not any(
            message in result.error for message in DUPLICATE_MESSAGES.values()):
        return result
    client, ext = ids.client, result.external_id
    found: JSON | None
    if isinstance(ours, Plan):
        found = client.find_plan(ids.ds, ext)
        held: Any = plan_from_api(found) if found else None
    elif isinstance(ours, Customer):
        found = client.find_customer(ids.ds, ext)
        held = customer_from_api(found) if found else None
    else:
        found = client.find_invoice(ids.ds, ext)
        held = invoice_from_api(found, ours.customer_external_id,
                                ids.plan_external_id) if found else None
    if held is None:
        return result
    diffs = differences(comparable_doc(held), comparable_doc(ours))
    if not diffs:
        return replace(result, error=None)
    conflict = RecordConflict(result.kind, ext, diffs)
    return replace(result, error=str(conflict), conflict_fields=conflict.fields)


# Field names that an ``errors`` object keyed by field (not by external id) would use.
_FIELDS = frozenset({"external_id", "name", "email", "date", "currency", "amount_in_cents",
                     "type", "result", "plan_external_id", "customer_external_id",
                     "invoice_external_id", "interval_unit", "interval_count",
                     "service_period_start", "service_period_end", "base"})
