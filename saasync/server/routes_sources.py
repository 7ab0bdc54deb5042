"""Ping, account and data sources (reference §1.2, §2)."""

from __future__ import annotations

from collections.abc import Mapping

from saasync.server.context import ApiContext
from saasync.server.docs import data_source_doc
from saasync.server.wire import ApiError, ApiRequest, ApiResponse, Route, route

NAME_REQUIRED = "A name is required for each data source."
NAME_TAKEN = "Has already been taken."


def ping(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, {"data": "pong!"})


def account(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, ctx.account.doc())


def create_data_source(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    name = request.json_object().get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError.invalid({"name": NAME_REQUIRED})
    ds = ctx.store.create_data_source(name.strip())
    if ds is None:
        raise ApiError.invalid({"name": NAME_TAKEN})
    return ApiResponse(201, data_source_doc(ds, request, ctx))


def list_data_sources(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """Not paginated (§2). ``system`` is "Import API" for every emulated source."""
    name, system = request.param("name"), request.param("system")
    sources = [
        ds
        for ds in ctx.store.data_sources()
        if (name is None or ds.name == name) and (system is None or system == "Import API")
    ]
    return ApiResponse(200, {"data_sources": [data_source_doc(ds, request, ctx) for ds in sources]})


def get_data_source(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, data_source_doc(ctx.data_source(params["uuid"]), request, ctx))


def delete_data_source(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """Removes everything in the source at once (ChartMogul does it in the background)."""
    ctx.store.delete_data_source(ctx.data_source(params["uuid"]))
    return ApiResponse(204)


def empty_data_source(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """``DELETE …/all``: no customers, plans or invoices remain; the source stays."""
    ctx.store.empty_data_source(ctx.data_source(params["uuid"]))
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
