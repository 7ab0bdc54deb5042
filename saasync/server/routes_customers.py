"""Customers: create, list with filters and cursor, search by email, retrieve, update, delete (§3).

Name, email, company, country and ``lead_created_at`` are the local store's own customer
fields (``lead_created_at`` is its ``created_at``); the other API fields (address, owner,
tags, custom attributes, a hand-set lead status) are kept alongside as extras.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from saasync.destinations.local.rows import StoredCustomer
from saasync.models import Customer
from saasync.server.api_sql import Page
from saasync.server.context import ApiContext
from saasync.server.docs import customer_docs
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

DUPLICATE_CUSTOMER = "The external ID for this customer already exists in our system."
LEAD_STATUSES = ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead")
_EXTRA_TEXTS = ("state", "city", "zip", "owner", "website_url")


def read_extras(fields: Fields, body: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """The API-only fields of a create or update body, over the ones stored before."""
    extras = dict(old)
    for name in _EXTRA_TEXTS:
        if fields.has(name):
            extras[name] = fields.text(name)
    if fields.has("free_trial_started_at"):
        extras["free_trial_started_at"] = format_time(fields.time("free_trial_started_at"))
    if isinstance(body.get("primary_contact"), dict):
        extras["primary_contact"] = body["primary_contact"]
    attributes = body.get("attributes")
    if attributes is not None:
        if not isinstance(attributes, dict):
            fields.fail("attributes", "must be an object")
            return extras
        stored = dict(extras.get("attributes", {}))
        tags = attributes.get("tags")
        if tags is not None:
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                fields.fail("attributes.tags", "must be a list of strings")
            else:
                stored["tags"] = list(dict.fromkeys(tags))
        if "custom" in attributes:
            stored["custom"] = {**stored.get("custom", {}), **_custom(fields, attributes["custom"])}
        extras["attributes"] = stored
    return extras


def _custom(fields: Fields, custom: Any) -> dict[str, Any]:
    """Custom attributes: a list of ``{type, key, value}`` on create, an object on update."""
    out: dict[str, Any] = {}
    if isinstance(custom, dict):
        for key, value in custom.items():
            out[str(key)] = value.get("value") if isinstance(value, dict) else value
        return out
    if not isinstance(custom, list):
        fields.fail("attributes.custom", "must be a list or an object")
        return out
    for item in custom:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            fields.fail("attributes.custom", "each entry needs a key, a type and a value")
            continue
        value = item.get("value")
        if item.get("type") == "Timestamp" and value is not None:
            value = format_time(Fields({"v": value}).time("v")) or value
        out[item["key"]] = value
    return out


def read_customer(fields: Fields, base: Mapping[str, Any]) -> Customer | None:
    data = dict(base)
    for name in ("name", "email", "company", "country"):
        if fields.has(name):
            data[name] = fields.text(name) or ("" if name == "name" else None)
    if fields.has("lead_created_at"):
        data["created_at"] = fields.time("lead_created_at")
    try:
        return Customer.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        fields.fail(".".join(str(p) for p in first["loc"]), first["msg"])
        return None


def create_customer(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    body = request.json_object()
    fields = Fields(body)
    ds_uuid = fields.text("data_source_uuid", required=True)
    external_id = fields.text("external_id", required=True)
    extras = read_extras(fields, body, {})
    customer = read_customer(fields, {"external_id": external_id or "?", "name": ""})
    fields.check()
    assert ds_uuid and external_id and customer
    ds = ctx.store.sources.by_uuid(ds_uuid)
    if ds is None:
        raise ApiError.invalid({"data_source_uuid": "Data source not found"})
    with ctx.store.selected(ds):
        if ctx.store.local.get_customer(external_id) is not None:
            raise ApiError.invalid({"external_id": DUPLICATE_CUSTOMER})
        ctx.store.local.upsert_customer(customer)
        stored = ctx.store.local.get_customer(external_id)
    assert stored is not None
    if extras:
        ctx.store.customers.set_extras(stored.id, extras)
    return ApiResponse(201, customer_docs(ctx, [stored])[0])


def _listing(ctx: ApiContext, page: Page[StoredCustomer], per_page: int) -> dict[str, Any]:
    last = page.items[-1].id if page.items else None
    return {"entries": customer_docs(ctx, page.items), **page_fields(page, "cus", per_page, last)}


def list_customers(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """Filters ``data_source_uuid`` and ``external_id``; no match is 200 with no entries."""
    if request.param("status") is not None:
        raise ApiError.bad_param("status", 'Parameter "status" is not supported by saasync serve')
    after, per_page = page_params(request, "cus")
    page = ctx.store.customers.page(
        data_source_uuid=request.param("data_source_uuid"),
        external_id=request.param("external_id"),
        after_id=after,
        limit=per_page,
    )
    return ApiResponse(200, _listing(ctx, page, per_page))


def search_customers(
    ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]
) -> ApiResponse:
    """By email across sources; no match at all is a 404, unlike the external-id lookup."""
    email = request.param("email")
    if email is None:
        raise ApiError.bad_param("email", 'Parameter "email" is missing')
    after, per_page = page_params(request, "cus")
    page = ctx.store.customers.page(email=email, after_id=after, limit=per_page)
    if page.total == 0:
        message = f'Can\'t find any customers with email: "{email}"'
        raise ApiError(404, {"code": 404, "message": message, "param": "email"})
    return ApiResponse(200, _listing(ctx, page, per_page))


def get_customer(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    return ApiResponse(200, customer_docs(ctx, [ctx.customer(params["uuid"])])[0])


def update_customer(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """200 with the whole customer. ``data_source_uuid`` and ``external_id`` never change;
    ``attributes.custom`` merges, ``attributes.tags`` replaces; ``status`` sets a lead status."""
    stored = ctx.customer(params["uuid"])
    body = request.json_object()
    fields = Fields(body)
    old = ctx.store.customers.extras([stored.id]).get(stored.id, {})
    extras = read_extras(fields, body, old)
    customer = read_customer(fields, stored.customer.model_dump())
    status = fields.choice("status", LEAD_STATUSES)
    fields.check()
    assert customer is not None
    if status is not None:
        extras["lead_status"] = status
    if customer != stored.customer:
        ctx.store.customers.update(stored.id, customer)
    if extras != old:
        ctx.store.customers.set_extras(stored.id, extras)
    return ApiResponse(200, customer_docs(ctx, [ctx.customer(stored.uuid)])[0])


def delete_customer(ctx: ApiContext, request: ApiRequest, params: Mapping[str, str]) -> ApiResponse:
    """Removes the customer with its invoices and subscriptions."""
    ctx.store.customers.delete(ctx.customer(params["uuid"]).id)
    return ApiResponse(204)


ROUTES: list[Route] = [
    route("POST", "/v1/customers", create_customer),
    route("GET", "/v1/customers", list_customers),
    route("GET", "/v1/customers/search", search_customers),
    route("GET", "/v1/customers/{uuid}", get_customer),
    route("PATCH", "/v1/customers/{uuid}", update_customer),
    route("DELETE", "/v1/customers/{uuid}", delete_customer),
]
