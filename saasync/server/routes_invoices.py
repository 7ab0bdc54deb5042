"""Invoices: import per customer, list, retrieve, delete, void / write off, add transactions (§5).

Import (emulator choices where ChartMogul is unconfirmed, §1.6): each invoice of a request
stands alone. Valid ones are stored; refused ones come back in the ``invoices`` array with
``uuid: null`` and their ``errors`` (``{"external_id": "The external ID for this invoice
already exists in our system."}`` for a duplicate); the answer is 201 when every invoice
was stored and 422 when any was refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from saasync.destinations.local.rows import StoredInvoice
from saasync.server.api_sql import Page
from saasync.server.context import ApiContext
from saasync.server.docs import invoice_docs
from saasync.server.invoice_input import (
    InvoiceInvalid,
    import_parsed,
    parse_invoice,
    parse_transaction,
    plan_uuid_resolver,
)
from saasync.server.routing import Route, route
from saasync.server.wire import (
    ApiError,
    ApiRequest,
    ApiResponse,
    Fields,
    format_time,
    page_fields,
    page_params,
)

_ECHOED = ("external_id", "date", "due_date", "currency", "line_items", "transactions")


def _refused(raw: Any, errors: Mapping[str, str]) -> dict[str, Any]:
    echo = {name: raw.get(name) for name in _ECHOED} if isinstance(raw, dict) else {}
    return {"uuid": None, **echo, "errors": dict(errors)}


def import_invoices(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    customer = ctx.customer(params["uuid"])
    raw_invoices = request.json_object().get("invoices")
    if not isinstance(raw_invoices, list) or not raw_invoices:
        raise ApiError.invalid({"invoices": "can't be blank"})
    store = ctx.store
    entries: list[dict[str, Any]] = []
    refused = False
    with store.selected(ctx.data_source(customer.data_source_uuid)):
        resolve = plan_uuid_resolver(store)
        for raw in raw_invoices:
            try:
                uuid = import_parsed(
                    store, customer.external_id, parse_invoice(raw, customer.external_id, resolve)
                )
            except InvoiceInvalid as exc:
                entries.append(_refused(raw, exc.errors))
                refused = True
                continue
            stored = store.local.get_invoice_by_uuid(uuid)
            assert stored is not None
            entries.append(invoice_docs(ctx, [stored])[0])
    return ApiResponse(422 if refused else 201, {"invoices": entries})


def _listing(ctx: ApiContext, page: Page[StoredInvoice], per_page: int) -> dict[str, Any]:
    last = page.items[-1].id if page.items else None
    return {"invoices": invoice_docs(ctx, page.items), **page_fields(page, "inv", per_page, last)}


def list_customer_invoices(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    customer = ctx.customer(params["uuid"])
    after, per_page = page_params(request, "inv")
    page = ctx.store.invoices.page(customer_uuid=customer.uuid, after_id=after, limit=per_page)
    return ApiResponse(200, {"customer_uuid": customer.uuid, **_listing(ctx, page, per_page)})


def list_invoices(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """Filters ``customer_uuid``, ``data_source_uuid``, ``external_id``. The emulator stores
    only valid invoices, so ``validation_type=invalid`` lists none."""
    after, per_page = page_params(request, "inv")
    page = ctx.store.invoices.page(
        data_source_uuid=request.param("data_source_uuid"),
        customer_uuid=request.param("customer_uuid"),
        external_id=request.param("external_id"),
        after_id=after,
        limit=per_page,
    )
    if request.param("validation_type") == "invalid":
        page = Page([], False, 0)
    return ApiResponse(200, _listing(ctx, page, per_page))


def get_invoice(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, invoice_docs(ctx, [ctx.invoice(params["uuid"])])[0])


def delete_invoice(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """A subscription whose only invoice this was disappears with it (§5.5)."""
    ctx.store.invoices.delete(ctx.invoice(params["uuid"]))
    return ApiResponse(204)


def delete_customer_invoices(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    ds = ctx.data_source(params["ds"])
    customer = ctx.customer(params["uuid"])
    if customer.data_source_uuid != ds.uuid:
        raise ApiError.not_found("Customer")
    while page := ctx.store.invoices.page(customer_uuid=customer.uuid, limit=200).items:
        for stored in page:
            ctx.store.invoices.delete(stored)
    return ApiResponse(204)


def update_status(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """``voided`` or ``written_off``, addressed by external id (§5.4). Either stops the
    invoice counting; setting the same status again is accepted (idempotent)."""
    ds = ctx.data_source(params["ds"])
    fields = Fields(request.json_object())
    status = fields.choice("status", ("voided", "written_off"), required=True)
    fields.check()
    with ctx.store.selected(ds):
        stored = ctx.store.local.get_invoice(params["external_id"])
        if stored is None:
            raise ApiError.not_found("Invoice")
        ctx.store.invoices.set_status(stored, "written_off" if status == "written_off" else "voided")
        updated = ctx.store.local.get_invoice(params["external_id"])
    assert updated is not None
    return ApiResponse(
        200, {"message": "Invoice updated", "invoice": invoice_docs(ctx, [updated])[0]}
    )


def add_transaction(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    stored = ctx.invoice(params["uuid"])
    fields = Fields({})
    parsed = parse_transaction(request.json_object(), fields, prefix="")
    fields.check()
    assert parsed is not None
    transaction, extras = parsed
    uuid = ctx.store.invoices.add_transaction(stored, transaction, extras)
    if uuid is None:
        raise ApiError.invalid({"external_id": "has already been taken"})
    doc = {
        "uuid": uuid,
        "external_id": transaction.external_id,
        "type": transaction.type,
        "date": format_time(transaction.date),
        "result": transaction.result,
        "amount_in_cents": transaction.amount,
        "transaction_fees_in_cents": None,
        "transaction_fees_currency": None,
        **extras,
    }
    return ApiResponse(201, doc)


ROUTES: list[Route] = [
    route("POST", "/v1/import/customers/{uuid}/invoices", import_invoices),
    route("GET", "/v1/import/customers/{uuid}/invoices", list_customer_invoices),
    route("GET", "/v1/invoices", list_invoices),
    route("GET", "/v1/invoices/{uuid}", get_invoice),
    route("DELETE", "/v1/invoices/{uuid}", delete_invoice),
    route("DELETE", "/v1/data_sources/{ds}/customers/{uuid}/invoices", delete_customer_invoices),
    route("PUT", "/v1/data_sources/{ds}/invoices/{external_id}/status", update_status),
    route("POST", "/v1/import/invoices/{uuid}/transactions", add_transaction),
]
