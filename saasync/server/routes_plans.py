"""Plans: create, list with filters and cursor, retrieve, update (202), delete (§4)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import uuid4

from saasync.models import Plan
from saasync.server.context import ApiContext
from saasync.server.routing import Route, route
from saasync.server.wire import ApiError, ApiRequest, ApiResponse, Fields, page_fields, page_params

DUPLICATE_PLAN = "A plan with this identifier already exists in our system."
PLAN_IN_USE = "The plan is used by invoices or subscriptions and can't be deleted."
# ChartMogul documents day, month and year; the local store also knows week.
INTERVAL_UNITS = ("day", "week", "month", "year")


def create_plan(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """Without ``external_id`` the server makes one up (ChartMogul: the uuid sans ``pl_``)."""
    fields = Fields(request.json_object())
    ds_uuid = fields.text("data_source_uuid", required=True)
    name = fields.text("name", required=True)
    count = fields.integer("interval_count", required=True, minimum=1)
    unit = fields.choice("interval_unit", INTERVAL_UNITS, required=True)
    external_id = fields.text("external_id") or str(uuid4())
    fields.check()
    assert ds_uuid and name and count and unit
    ds = ctx.store.sources.by_uuid(ds_uuid)
    if ds is None:
        raise ApiError.invalid({"data_source_uuid": "Data source not found"})
    with ctx.store.selected(ds):
        if ctx.store.local.get_plan(external_id) is not None:
            raise ApiError.invalid({"external_id": DUPLICATE_PLAN})
        plan = Plan(external_id=external_id, name=name, interval_unit=unit, interval_count=count)
        ctx.store.local.upsert_plan(plan)
        stored = ctx.store.local.get_plan(external_id)
    assert stored is not None
    return ApiResponse(201, stored.doc())


def list_plans(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    after, per_page = page_params(request, "pl")
    page = ctx.store.plans.page(
        data_source_uuid=request.param("data_source_uuid"),
        external_id=request.param("external_id"),
        after_id=after,
        limit=per_page,
    )
    last = page.items[-1].id if page.items else None
    return ApiResponse(
        200, {"plans": [p.doc() for p in page.items], **page_fields(page, "pl", per_page, last)}
    )


def get_plan(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, ctx.plan(params["uuid"]).doc())


def update_plan(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """``name``, ``interval_count`` and ``interval_unit`` change; answered 202 (observed)."""
    stored = ctx.plan(params["uuid"])
    fields = Fields(request.json_object())
    name = fields.text("name", required=fields.has("name"))
    count = fields.integer("interval_count", minimum=1)
    unit = fields.choice("interval_unit", INTERVAL_UNITS)
    fields.check()
    plan = Plan(
        external_id=stored.external_id,
        name=name or stored.plan.name,
        interval_unit=unit or stored.plan.interval_unit,
        interval_count=count or stored.plan.interval_count,
    )
    with ctx.store.selected(ctx.data_source(stored.data_source_uuid)):
        ctx.store.local.upsert_plan(plan)
    return ApiResponse(202, ctx.plan(stored.uuid).doc())


def delete_plan(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """A plan that invoices still use is refused with a 422 (an emulator choice: deleting it
    would leave subscriptions without an interval to compute MRR from)."""
    if not ctx.store.plans.delete(ctx.plan(params["uuid"]).id):
        raise ApiError.invalid({"plan": PLAN_IN_USE})
    return ApiResponse(204)


ROUTES: list[Route] = [
    route("POST", "/v1/plans", create_plan),
    route("POST", "/v1/import/plans", create_plan),  # the older documented alias
    route("GET", "/v1/plans", list_plans),
    route("GET", "/v1/plans/{uuid}", get_plan),
    route("PATCH", "/v1/plans/{uuid}", update_plan),
    route("DELETE", "/v1/plans/{uuid}", delete_plan),
]
