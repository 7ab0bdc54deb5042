"""Bulk JSON import (§8): ``POST /v1/data_sources/{uuid}/json_imports`` and its status.

The payload (at most 5 MB) holds ``plans``, ``customers``, ``invoices``, ``line_items`` and
``transactions`` (cross-referenced by external id), and ``subscription_events``: a
``subscription_cancelled`` event adds its ``effective_date`` to the subscription's
cancellation dates (the bulk form of §6.3); the other event types are accepted and have no
effect, as they feed only CMRR, which the emulator does not compute.

Emulator choices (ChartMogul leaves these unconfirmed): the create call answers 202 with
``status: "queued"``; the work is done before that answer, so the first poll already says
``completed`` (every record imported), ``completed_with_errors`` or ``failed`` (none
imported). Every record stands alone and follows the same rules as the single-record
API, duplicates included; ``status_details`` is keyed by ``"plans"`` and by customer
external id, each object type with ``status`` (imported, partially_imported, failed),
counts, and per-record ``errors`` ``[{"external_id", "errors": {field: message}}]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from saasync.destinations.local.schema import api_time
from saasync.models import Plan
from saasync.server.api_store import ApiStore
from saasync.server.context import ApiContext
from saasync.server.invoice_input import (
    InvoiceInvalid,
    import_parsed,
    parse_invoice,
    plan_external_id_resolver,
)
from saasync.server.routes_customers import DUPLICATE_CUSTOMER, read_customer, read_extras
from saasync.server.routes_plans import DUPLICATE_PLAN, INTERVAL_UNITS
from saasync.server.routing import Route, route
from saasync.server.wire import ApiError, ApiRequest, ApiResponse, Fields

MAX_BYTES = 5 * 1024 * 1024
ARRAYS = ("plans", "customers", "invoices", "line_items", "transactions", "subscription_events")
EVENT_TYPES = (
    "subscription_start", "subscription_start_scheduled", "scheduled_subscription_start_retracted",
    "subscription_updated", "subscription_update_scheduled",
    "scheduled_subscription_update_retracted", "subscription_cancelled",
    "subscription_cancellation_scheduled", "scheduled_subscription_cancellation_retracted",
    "subscription_event_retracted",
)  # fmt: skip
UNMATCHED = "_unmatched"  # lines and transactions naming no invoice of the import


class _Tally:
    """Per group (``plans`` or a customer) and object type: counts and record errors."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, dict[str, Any]]] = {}

    def _entry(self, group: str, kind: str) -> dict[str, Any]:
        kinds = self.groups.setdefault(group, {})
        return kinds.setdefault(kind, {"imported": 0, "failed": 0, "errors": []})

    def ok(self, group: str, kind: str, count: int = 1) -> None:
        self._entry(group, kind)["imported"] += count

    def fail(self, group: str, kind: str, external_id: Any, errors: Mapping[str, str],
             count: int = 1) -> None:  # fmt: skip
        entry = self._entry(group, kind)
        entry["failed"] += count
        entry["errors"].append({"external_id": external_id, "errors": dict(errors)})

    def totals(self) -> tuple[int, int]:
        entries = [e for kinds in self.groups.values() for e in kinds.values()]
        return sum(e["imported"] for e in entries), sum(e["failed"] for e in entries)

    def details(self) -> dict[str, Any]:
        def shown(entry: dict[str, Any]) -> dict[str, Any]:
            imported, failed = entry["imported"], entry["failed"]
            status = "failed" if not imported else "partially_imported" if failed else "imported"
            out = {"status": status, "imported": imported, "failed": failed}
            return {**out, "errors": entry["errors"]} if entry["errors"] else out

        out: dict[str, Any] = {}
        for group, kinds in self.groups.items():
            if group == "plans":
                out[group] = shown(kinds["plans"])
            else:
                out[group] = {kind: shown(entry) for kind, entry in kinds.items()}
        return out


def _records(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name) or []
    return value if isinstance(value, list) else []


def _plans(store: ApiStore, body: Mapping[str, Any], tally: _Tally) -> None:
    for raw in _records(body, "plans"):
        fields = Fields(raw if isinstance(raw, dict) else {})
        external_id = fields.text("external_id", required=True)
        name = fields.text("name", required=True)
        count = fields.integer("interval_count", required=True, minimum=1)
        unit = fields.choice("interval_unit", INTERVAL_UNITS, required=True)
        if not fields.errors and store.local.get_plan(external_id or "") is not None:
            fields.fail("external_id", DUPLICATE_PLAN)
        if fields.errors:
            tally.fail("plans", "plans", external_id, fields.errors)
            continue
        assert external_id and name and count and unit
        plan = Plan(external_id=external_id, name=name, interval_unit=unit, interval_count=count)
        store.local.upsert_plan(plan)
        tally.ok("plans", "plans")


def _customers(store: ApiStore, body: Mapping[str, Any], tally: _Tally) -> None:
    for raw in _records(body, "customers"):
        record = raw if isinstance(raw, dict) else {}
        fields = Fields(record)
        external_id = fields.text("external_id", required=True)
        extras = read_extras(fields, record, {})
        customer = read_customer(fields, {"external_id": external_id or "?", "name": ""})
        if not fields.errors and store.local.get_customer(external_id or "") is not None:
            fields.fail("external_id", DUPLICATE_CUSTOMER)
        group = external_id or UNMATCHED
        if fields.errors or customer is None:
            tally.fail(group, "customers", external_id, fields.errors)
            continue
        store.local.upsert_customer(customer)
        stored = store.local.get_customer(customer.external_id)
        if extras and stored is not None:
            store.customers.set_extras(stored.id, extras)
        tally.ok(group, "customers")


def _by_invoice(body: Mapping[str, Any], name: str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for raw in _records(body, name):
        record = dict(raw) if isinstance(raw, dict) else {}
        grouped.setdefault(str(record.pop("invoice_external_id", None)), []).append(record)
    return grouped


def _invoices(store: ApiStore, body: Mapping[str, Any], tally: _Tally) -> None:
    lines, transactions = _by_invoice(body, "line_items"), _by_invoice(body, "transactions")
    for raw in _records(body, "invoices"):
        record = dict(raw) if isinstance(raw, dict) else {}
        external_id = record.get("external_id")
        customer_id = record.get("customer_external_id")
        group = str(customer_id) if customer_id else UNMATCHED
        record["line_items"] = lines.pop(str(external_id), [])
        record["transactions"] = transactions.pop(str(external_id), [])
        counts = {
            "line_items": len(record["line_items"]),
            "transactions": len(record["transactions"]),
        }
        try:
            if not isinstance(customer_id, str) or store.local.get_customer(customer_id) is None:
                raise InvoiceInvalid({"customer_external_id": "Customer not found"})
            import_parsed(
                store, customer_id, parse_invoice(record, customer_id, plan_external_id_resolver)
            )
        except InvoiceInvalid as exc:
            tally.fail(group, "invoices", external_id, exc.errors)
            for kind, count in counts.items():
                if count:
                    tally.fail(group, kind, external_id, exc.errors, count)
            continue
        tally.ok(group, "invoices")
        for kind, count in counts.items():
            if count:
                tally.ok(group, kind, count)
    for kind, left in (("line_items", lines), ("transactions", transactions)):
        for invoice_id, records in left.items():
            errors = {"invoice_external_id": "No invoice with this external ID in the import"}
            tally.fail(UNMATCHED, kind, invoice_id, errors, len(records))


def _events(ctx: ApiContext, body: Mapping[str, Any], tally: _Tally) -> None:
    store = ctx.store
    for raw in _records(body, "subscription_events"):
        fields = Fields(raw if isinstance(raw, dict) else {})
        customer_id = fields.text("customer_external_id", required=True)
        kind = fields.choice("event_type", EVENT_TYPES, required=True)
        effective = fields.time("effective_date", required=True)
        sub_id = fields.text("subscription_external_id", required=kind == "subscription_cancelled")
        group = customer_id or UNMATCHED
        sub = store.local.get_subscription(customer_id or "", sub_id or "") if not fields.errors else None
        if kind == "subscription_cancelled" and not fields.errors and sub is None:
            fields.fail("subscription_external_id", "Subscription not found")
        if effective and kind == "subscription_cancelled" and effective > ctx.now():
            fields.fail("effective_date", "must be in the past")
        if fields.errors:
            tally.fail(group, "subscription_events", fields.body.get("external_id"), fields.errors)
            continue
        if kind == "subscription_cancelled" and sub is not None and effective is not None:
            dates = sorted({*sub.cancellation_dates, effective})
            store.local.set_cancellation_dates(sub.customer_external_id, sub.external_id, dates)
        tally.ok(group, "subscription_events")


def create_import(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    ds = ctx.data_source(params["uuid"])
    if request.size > MAX_BYTES:
        message = "The JSON payload may be at most 5 MB"
        raise ApiError(413, {"code": 413, "message": message, "param": None})
    body = request.json_object()
    wrong = {name: "must be a list" for name in ARRAYS if not isinstance(body.get(name, []), list)}
    if wrong:
        raise ApiError.invalid(wrong)
    now = api_time(ctx.now())
    import_id = str(uuid4())
    doc: dict[str, Any] = {"id": import_id, "data_source_uuid": ds.uuid, "external_id": body.get("external_id"),
           "status": "queued", "status_details": {}, "created_at": now, "updated_at": now}  # fmt: skip
    tally = _Tally()
    with ctx.store.selected(ds):
        _plans(ctx.store, body, tally)
        _customers(ctx.store, body, tally)
        _invoices(ctx.store, body, tally)
        _events(ctx, body, tally)
    imported, failed = tally.totals()
    status = (
        "failed" if failed and not imported else "completed_with_errors" if failed else "completed"
    )
    ctx.store.json_imports.save(ds, import_id, {**doc, "status": status,
                                               "status_details": tally.details()})  # fmt: skip
    return ApiResponse(202, doc)


def get_import(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    doc = ctx.store.json_imports.get(ctx.data_source(params["uuid"]), params["id"])
    if doc is None:
        raise ApiError.not_found("Import")
    return ApiResponse(200, doc)


ROUTES: list[Route] = [
    route("POST", "/v1/data_sources/{uuid}/json_imports", create_import),
    route("GET", "/v1/data_sources/{uuid}/json_imports/{id}", get_import),
]
