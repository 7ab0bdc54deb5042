"""Subscriptions: the import view, cancellation dates, and the metrics view (§6.2, §6.3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from saasync.server.analytics import subscription_entry
from saasync.server.context import ApiContext
from saasync.server.docs import subscription_docs
from saasync.server.routing import Route, route
from saasync.server.wire import ApiRequest, ApiResponse, Fields, page_fields, page_params


def list_import_view(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """``sub_…`` uuids with their cancellation dates, as saasync writes them."""
    customer = ctx.customer(params["uuid"])
    after, per_page = page_params(request, "sub")
    page = ctx.store.subscriptions.page(customer, after_id=after, limit=per_page)
    last = page.items[-1].id if page.items else None
    return ApiResponse(
        200,
        {
            "customer_uuid": customer.uuid,
            "subscriptions": subscription_docs(ctx, page.items),
            **page_fields(page, "sub", per_page, last),
        },
    )


def _new_dates(ctx: ApiContext, fields: Fields, current: tuple[datetime, ...]) -> list[datetime]:
    body = fields.body
    if "cancellation_dates" in body:  # replaces the whole list; [] reactivates
        raw = body["cancellation_dates"]
        if not isinstance(raw, list):
            fields.fail("cancellation_dates", "must be a list")
            return []
        dates = [Fields({"date": item}).time("date", required=True) for item in raw]
        if any(d is None for d in dates):
            fields.fail("cancellation_dates", "contains an entry that is not a valid date")
        return sorted({d for d in dates if d is not None})
    at = fields.time("cancelled_at", required=True)  # adds one cancellation
    if at is not None and at > ctx.now():
        fields.fail("cancelled_at", "must be in the past")
    return sorted({*current, *([at] if at else [])})


def update_cancellations(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """``cancelled_at`` appends (and must be in the past), ``cancellation_dates`` replaces;
    answered 202 with the subscription (observed)."""
    sub = ctx.subscription(params["uuid"])
    fields = Fields(request.json_object())
    dates = _new_dates(ctx, fields, sub.cancellation_dates)
    fields.check()
    with ctx.store.selected(ctx.data_source(sub.data_source_uuid)):
        ctx.store.local.set_cancellation_dates(sub.customer_external_id, sub.external_id, dates)
    return ApiResponse(202, subscription_docs(ctx, [ctx.subscription(sub.uuid)])[0])


def list_metrics_view(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """Status, MRR and billing cycle of each subscription now, judged by the rules. A
    subscription all of whose invoices were voided no longer exists and is not listed."""
    customer = ctx.customer(params["uuid"])
    after, per_page = page_params(request, "msub")
    store = ctx.store
    page = store.subscriptions.page(customer, after_id=after, limit=per_page)
    with store.selected(ctx.data_source(customer.data_source_uuid)):
        views = {v.external_id: v for v in store.local.subscription_views(customer.external_id)}
        plans = store.local.plans_by_external_id()
    sets = store.subscriptions.line_extras([s.id for s in page.items])
    now = ctx.now()
    entries = [
        subscription_entry(
            sub,
            views[sub.external_id],
            plans,
            now,
            ctx.grace,
            ctx.account,
            sets.get(sub.id, {}).get("subscription_set_external_id"),
        )
        for sub in page.items
        if sub.external_id in views
    ]
    last = page.items[-1].id if page.items else None
    return ApiResponse(200, {"entries": entries, **page_fields(page, "msub", per_page, last)})


ROUTES: list[Route] = [
    route("GET", "/v1/import/customers/{uuid}/subscriptions", list_import_view),
    route("PATCH", "/v1/import/subscriptions/{uuid}", update_cancellations),
    route("GET", "/v1/customers/{uuid}/subscriptions", list_metrics_view),
]
