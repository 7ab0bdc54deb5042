"""Ping, account and data sources (docs/chartmogul.md)."""

from __future__ import annotations

from collections.abc import Mapping

from saasync.server.context import ApiContext
from saasync.server.docs import data_source_doc
from saasync.server.routing import Route, route
from saasync.server.wire import ApiError, ApiRequest, ApiResponse

NAME_REQUIRED = "A name is required for each data source."
NAME_TAKEN = "Has already been taken."
AUTO_CHURN_INVALID = "must be {\"enabled\": true|false, \"interval\": 1 to 90 days}"


def ping(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, {"data": "pong!"})


def account(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, ctx.account.doc())


def create_data_source(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    body = request.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError.invalid({"name": NAME_REQUIRED})
    auto_churn = _auto_churn(body.get("auto_churn_subscription_setting"))
    ds = ctx.store.sources.create(name.strip(), auto_churn)
    if ds is None:
        raise ApiError.invalid({"name": NAME_TAKEN})
    return ApiResponse(201, data_source_doc(ds, request, ctx))


def _auto_churn(value: object) -> dict[str, object] | None:
    """``auto_churn_subscription_setting`` on create: ``{"enabled": bool, "interval": days}``,
    days 1 to 90 when enabled (ChartMogul's range)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("enabled"), bool):
        raise ApiError.invalid({"auto_churn_subscription_setting": AUTO_CHURN_INVALID})
    interval = value.get("interval")
    if value["enabled"] and (isinstance(interval, bool) or not isinstance(interval, int)
                             or not 1 <= interval <= 90):
        raise ApiError.invalid({"auto_churn_subscription_setting": AUTO_CHURN_INVALID})
    return {"enabled": value["enabled"], "interval": interval if value["enabled"] else None}


def list_data_sources(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """Not paginated (§2). ``system`` is "Import API" for every emulated source."""
    name, system = request.param("name"), request.param("system")
    sources = [
        ds
        for ds in ctx.store.sources.all()
        if (name is None or ds.name == name) and (system is None or system == "Import API")
    ]
    return ApiResponse(200, {"data_sources": [data_source_doc(ds, request, ctx) for ds in sources]})


def get_data_source(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, data_source_doc(ctx.data_source(params["uuid"]), request, ctx))


def delete_data_source(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """Removes everything in the source at once (ChartMogul does it in the background)."""
    ctx.store.sources.delete(ctx.data_source(params["uuid"]))
    return ApiResponse(204)


def empty_data_source(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """``DELETE …/all``: no customers, plans or invoices remain; the source stays."""
    ctx.store.sources.empty(ctx.data_source(params["uuid"]))
    return ApiResponse(204)


ROUTES: list[Route] = [
    route("GET", "/v1/ping", ping),
    route("GET", "/v1/account", account),
    route("POST", "/v1/data_sources", create_data_source),
    route("GET", "/v1/data_sources", list_data_sources),
    route("GET", "/v1/data_sources/{uuid}", get_data_source),
    route("DELETE", "/v1/data_sources/{uuid}", delete_data_source),
    route("DELETE", "/v1/data_sources/{uuid}/all", empty_data_source),
]
