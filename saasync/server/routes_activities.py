"""Activities: ``GET /v1/activities`` and ``GET /v1/customers/{uuid}/activities``.

Each activity is one MRR movement of ``saasync.rules.movements`` (new_biz, expansion,
contraction, churn, reactivation), the same derivation the metrics endpoints sum into
their ``mrr-*`` movement figures. Amounts are in the subscription's own currency
(``currency``), in minor units; ``activity-mrr`` is the customer's MRR in that currency
after the movement and ``activity-arr`` twelve times it. Activities after "now" (invoices
dated in the future) are not listed yet.

Query: ``start-date`` and ``end-date`` (a date, inclusive, or a timestamp), ``type``,
``order`` (``date``, the default, or ``-date``), ``per_page`` (at most 200), ``cursor``;
the older ``start-after`` (an activity uuid) is understood too. Both lists carry every
field either of ChartMogul's two activity shapes has.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from saasync.destinations.local.rows import StoredCustomer
from saasync.rules.movements import MOVE_KINDS, MoveKind, Movement, customer_movements
from saasync.server.analytics import AccountViews
from saasync.server.api_sql import Page
from saasync.server.context import ApiContext, currency_sign
from saasync.server.routing import Route, route
from saasync.server.wire import (
    ApiError,
    ApiRequest,
    ApiResponse,
    offset_time,
    page_fields,
    page_params,
)

_NAMESPACE = uuid.UUID("8f0c6d1e-5b1a-4c1e-9a52-5aa5c0ac7e11")  # saasync activity ids
_VERBS = {
    MoveKind.NEW_BIZ: "purchased the {plan} plan",
    MoveKind.EXPANSION: "upgraded the {plan} plan",
    MoveKind.CONTRACTION: "downgraded the {plan} plan",
    MoveKind.CHURN: "cancelled the {plan} plan",
    MoveKind.REACTIVATION: "reactivated the {plan} plan",
}


def _instant(request: ApiRequest, name: str, end: bool) -> datetime | None:
    text = request.param(name)
    if text is None or text == "":
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) - timedelta(
                    microseconds=1
                )
            return datetime.combine(day, time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError.bad_param(name, f'Parameter "{name}" must be an ISO 8601 date') from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _activity_id(ds_uuid: str, move: Movement) -> str:
    key = (
        f"{ds_uuid}|{move.customer_external_id}|{move.subscription_external_id}|"
        f"{move.at.isoformat()}|{move.currency}|{move.kind.value}"
    )
    return str(uuid.uuid5(_NAMESPACE, key))


def _entry(
    number: int,
    ds_uuid: str,
    move: Movement,
    customer: StoredCustomer | None,
    plans: Mapping[str, str],
) -> dict[str, Any]:
    plan = plans.get(move.plan_external_id or "", move.plan_external_id or "")
    return {
        "id": number,
        "uuid": _activity_id(ds_uuid, move),
        "date": offset_time(move.at),
        "type": move.kind.value,
        "description": _VERBS[move.kind].format(plan=plan),
        "activity-mrr-movement": move.amount,
        "activity-mrr": move.mrr,
        "activity-arr": 12 * move.mrr,
        "currency": move.currency,
        "currency-sign": currency_sign(move.currency),
        "subscription-external-id": move.subscription_external_id,
        "subscription-set-external-id": move.subscription_external_id,
        "plan-external-id": move.plan_external_id,
        "customer-name": customer.customer.name if customer else None,
        "customer-uuid": customer.uuid if customer else None,
        "customer-external-id": move.customer_external_id,
        "billing-connector-uuid": ds_uuid,
    }


def _answer(request: ApiRequest, kind: str, entries: list[dict[str, Any]]) -> ApiResponse:
    """Filter, order and page a time-ordered list of activity entries."""
    start, end = _instant(request, "start-date", False), _instant(request, "end-date", True)
    wanted = request.param("type")
    if wanted is not None and wanted not in {k.value for k in MOVE_KINDS}:
        choices = ", ".join(k.value for k in MOVE_KINDS)
        raise ApiError.bad_param("type", f'Parameter "type" must be one of {choices}')
    order = request.param("order") or "date"
    if order not in ("date", "-date"):
        raise ApiError.bad_param("order", 'Parameter "order" must be "date" or "-date"')
    if request.param("per-page") is not None and request.param("per_page") is None:
        request = ApiRequest(request.method, request.path,
                             {**request.query, "per_page": request.param("per-page") or ""})  # fmt: skip
    offset, per_page = page_params(request, kind)
    chosen = [
        e for e in entries
        if (wanted is None or e["type"] == wanted)
        and (start is None or e["_at"] >= start) and (end is None or e["_at"] <= end)
    ]  # fmt: skip
    if order == "-date":
        chosen.reverse()
    skip = offset or 0
    if (after := request.param("start-after")) is not None and offset is None:
        ids = [e["uuid"] for e in chosen]
        skip = ids.index(after) + 1 if after in ids else len(chosen)
    rows = chosen[skip : skip + per_page]
    page: Page[dict[str, Any]] = Page(rows, skip + len(rows) < len(chosen), len(chosen))
    body = {
        "entries": [{k: v for k, v in e.items() if k != "_at"} for e in rows],
        **page_fields(page, kind, per_page, skip + len(rows) if rows else None),
    }
    return ApiResponse(200, body)


def _plan_names(ctx: ApiContext) -> dict[str, str]:
    names: dict[str, str] = {}
    for ds in ctx.store.sources.all():
        with ctx.store.selected(ds):
            names.update({pid: p.name for pid, p in ctx.store.local.plans_by_external_id().items()})
    return names


def _customers(ctx: ApiContext, ds_uuid: str) -> dict[str, StoredCustomer]:
    out: dict[str, StoredCustomer] = {}
    after: int | None = None
    while True:
        page = ctx.store.customers.page(data_source_uuid=ds_uuid, after_id=after, limit=1000)
        out.update({c.external_id: c for c in page.items})
        if not page.has_more or not page.items:
            return out
        after = page.items[-1].id


def _entries(
    ctx: ApiContext,
    found: Sequence[tuple[str, Movement]],
    customers: Mapping[tuple[str, str], StoredCustomer],
) -> list[dict[str, Any]]:
    plans = _plan_names(ctx)
    return [
        {**_entry(i, ds, m, customers.get((ds, m.customer_external_id)), plans), "_at": m.at}
        for i, (ds, m) in enumerate(found, 1)
    ]


def list_activities(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    found = AccountViews(ctx.store, ctx.grace).movements(ctx.now())
    customers = {
        (ds.uuid, cid): c
        for ds in ctx.store.sources.all()
        for cid, c in _customers(ctx, ds.uuid).items()
    }
    return _answer(request, "act", _entries(ctx, found, customers))


def list_customer_activities(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    customer = ctx.customer(params["uuid"])
    with ctx.store.selected(ctx.data_source(customer.data_source_uuid)):
        views = ctx.store.local.subscription_views(customer.external_id)
        plans = ctx.store.local.plans_by_external_id()
    moves = customer_movements(views, plans, ctx.now(), ctx.grace)
    ds = customer.data_source_uuid
    found = [(ds, m) for m in moves]
    return _answer(request, "cact", _entries(ctx, found, {(ds, customer.external_id): customer}))


ROUTES: list[Route] = [
    route("GET", "/v1/activities", list_activities),
    route("GET", "/v1/customers/{uuid}/activities", list_customer_activities),
]
