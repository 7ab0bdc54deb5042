"""ChartMogul's Import API as typed calls over the one HTTP layer, plus the id look-ups.

Only the requests and the reading of ChartMogul's answers live here: what a call means
for the sync (create or patch, duplicate or conflict) is decided by the destination.
Every call goes through :class:`~saasync.http.HttpClient`, so pacing (40 requests/s, 20
in flight), retries (429, 5xx, honouring ``Retry-After``) and secret redaction are the
HTTP layer's, never repeated here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from saasync.destinations.chartmogul.mapping import JSON, cancellation_body
from saasync.errors import BadRecordError
from saasync.http import (
    BasicAuth,
    CursorPaginator,
    HttpClient,
    Outcome,
    OutcomeKind,
    ResponseClassifier,
    RetryPolicy,
    SecretRegistry,
    SlidingWindowLimiter,
    classify_response,
    key_path,
    paginate,
)
from saasync.settings import DestinationSettings

PAGE_SIZE = 200  # ChartMogul's maximum (docs/chartmogul.md)

# The exact "already exists" messages (docs/chartmogul.md), by resource.
DUPLICATE_MESSAGES: Mapping[str, str] = {
    "customer": "The external ID for this customer already exists in our system.",
    "plan": "A plan with this identifier already exists in our system.",
    "invoice": "The external ID for this invoice already exists in our system.",
    "line_item": "The external ID for this line item already exists in our system.",
    "transaction": "has already been taken",
    "data_source": "Has already been taken.",
}
_DUPLICATE_KEY = {"data_source": "name", "line_item": "line_items.external_id",
                  "transaction": "transactions.external_id"}


def auth_classifier(key_env: str) -> ResponseClassifier:
    """The default classifier, with 401/403 explained by the variable holding the key."""

    def classify(response: requests.Response) -> Outcome:
        outcome = classify_response(response)
        if outcome.kind is OutcomeKind.AUTH_ERROR:
            said = error_text(_json_or_none(response)) or response.reason or "refused"
            return Outcome.auth_error(
                f"{said}: ChartMogul refused the API key from environment variable {key_env}"
            )
        return outcome

    return classify


def build_http(settings: DestinationSettings, key: str, *, sleep: Callable[[float], None],
               clock: Callable[[], float], secrets: SecretRegistry | None = None) -> HttpClient:
    """An HttpClient for ChartMogul: Basic auth (key as username), paced, retried."""
    rate, per = _window(settings.requests_per_second)
    return HttpClient(
        settings.base_url,
        auth=BasicAuth.api_key(key),
        classifier=auth_classifier(settings.api_key_env),
        retry=RetryPolicy(sleep=sleep, clock=clock),
        limiter=SlidingWindowLimiter(rate, per, settings.max_concurrency, clock=clock, sleep=sleep),
        secrets=secrets,
        clock=clock,
    )


def _window(requests_per_second: float) -> tuple[int, float]:
    """A sliding window of whole requests: 40/s stays 40 per 1 s, 0.5/s becomes 1 per 2 s."""
    if requests_per_second >= 1:
        return math.floor(requests_per_second), 1.0
    return 1, 1.0 / requests_per_second


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_messages(body: Any) -> dict[str, list[str]]:
    """ChartMogul's validation errors as ``field -> messages``, whatever the body shape.

    Accepts ``{"errors": {field: msg | [msg]}}``, the newer ``{field: [msg], "error_details":
    …}``, ``{"message": …}`` and ``{"error": …}`` (docs/chartmogul.md).
    """
    if not isinstance(body, Mapping):
        return {"": [str(body)]} if body else {}
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        return {str(k): _as_list(v) for k, v in errors.items() if v}
    if isinstance(errors, str | list):
        return {"": _as_list(errors)}
    out = {str(k): _as_list(v) for k, v in body.items()
           if k not in ("error_details", "code", "param", "invoices") and isinstance(v, list)}
    for key in ("message", "error"):
        if isinstance(body.get(key), str):
            out.setdefault("", []).append(body[key])
    return out


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def error_text(body: Any) -> str:
    """``field: message; …`` for a report line."""
    return "; ".join(f"{field}: {msg}" if field else msg
                     for field, msgs in error_messages(body).items() for msg in msgs)


def is_duplicate(messages: Mapping[str, list[str]], resource: str) -> bool:
    """True when ``messages`` say this resource's external id (or name) is taken."""
    key = _DUPLICATE_KEY.get(resource, "external_id")
    return DUPLICATE_MESSAGES[resource] in messages.get(key, [])


def only_duplicates(messages: Mapping[str, list[str]]) -> bool:
    """Every message is an "already exists" one (an invoice retried whole, children too)."""
    known = set(DUPLICATE_MESSAGES.values())
    return bool(messages) and all(m in known for msgs in messages.values() for m in msgs)


def already_exists(error: BadRecordError, resource: str) -> bool:
    """A 422 whose body says the record's external id is already taken."""
    return error.status == 422 and is_duplicate(error_messages(error.body), resource)


def _seg(value: str) -> str:
    """One URL path segment: external ids may hold ``/``, ``?`` or spaces."""
    return quote(value, safe="")


class _Paced:
    """The HttpClient's ``request_json``, with ``wait()`` before each request (a reader's
    own spacing on top of the client's pacing, which still applies)."""

    def __init__(self, http: HttpClient, wait: Callable[[], None]) -> None:
        self.http, self.wait = http, wait

    def request_json(self, method: str, path_or_url: str, *,
                     params: Mapping[str, Any] | None = None, json: Any = None,
                     headers: Mapping[str, str] | None = None) -> Any:
        self.wait()
        return self.http.request_json(method, path_or_url, params=params, json=json,
                                      headers=headers)


class ChartMogulClient:
    """The Import API endpoints the sync uses; answers are ChartMogul's JSON objects."""

    def __init__(self, http: HttpClient, *, before_page: Callable[[], None] | None = None) -> None:
        self.http = http
        self._before_page = before_page

    def paced(self, before_page: Callable[[], None]) -> ChartMogulClient:
        """The same client whose listings call ``before_page()`` before asking each page."""
        return ChartMogulClient(self.http, before_page=before_page)

    def _pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[JSON]:
        paginator = CursorPaginator(page_size=PAGE_SIZE)
        http = self.http if self._before_page is None else _Paced(self.http, self._before_page)
        for item in paginate(http, "GET", path, paginator, params, extract=key_path(key)):
            if isinstance(item, dict):
                yield item

    def _first(self, path: str, key: str, params: Mapping[str, Any],
               match: Callable[[JSON], bool]) -> JSON | None:
        """The one listed record ``match`` accepts (the filters are checked, not trusted)."""
        page = self.http.get_json(path, params=params)
        items = page.get(key) if isinstance(page, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and match(item):
                return item
        return None

    # -- data sources ---------------------------------------------------------------------
    def list_data_sources(self, name: str | None = None) -> list[JSON]:
        page = self.http.get_json("data_sources", params={"name": name} if name else None)
        items = page.get("data_sources") if isinstance(page, dict) else None
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def auto_churn_setting(self, uuid: str) -> JSON | None:
        """The data source's ``auto_churn_subscription_setting`` (``{"enabled", "interval"}``),
        asked for with its flag; None when the answer carries none."""
        doc = self.http.get_json(f"data_sources/{_seg(uuid)}",
                                 params={"with_auto_churn_subscription_setting": "true"})
        setting = doc.get("auto_churn_subscription_setting") if isinstance(doc, dict) else None
        return dict(setting) if isinstance(setting, dict) else None

    def create_data_source(self, name: str) -> JSON:
        return dict(self.http.post_json("data_sources", {"name": name}))

    # -- customers ------------------------------------------------------------------------
    def find_customer(self, ds: str, external_id: str) -> JSON | None:
        """Look-up by external id: ChartMogul answers 200 with an empty list when unknown."""
        def ours(item: JSON) -> bool:
            # A merged customer answers for every (source, external id) merged into it.
            return (item.get("external_id") == external_id
                    or external_id in (item.get("external_ids") or ())) and (
                item.get("data_source_uuid") == ds or ds in (item.get("data_source_uuids") or ()))

        return self._first("customers", "entries",
                           {"data_source_uuid": ds, "external_id": external_id}, ours)

    def create_customer(self, body: JSON) -> JSON:
        return dict(self.http.post_json("customers", body))

    def update_customer(self, uuid: str, body: JSON) -> Any:
        return self.http.request_json("PATCH", f"customers/{_seg(uuid)}", json=body)

    def iter_customers(self, ds: str) -> Iterator[JSON]:
        return self._pages("customers", "entries", {"data_source_uuid": ds})

    # -- plans ----------------------------------------------------------------------------
    def find_plan(self, ds: str, external_id: str) -> JSON | None:
        return self._first("plans", "plans", {"data_source_uuid": ds, "external_id": external_id},
                           lambda item: item.get("external_id") == external_id
                           and item.get("data_source_uuid", ds) == ds)

    def get_plan(self, uuid: str) -> JSON | None:
        try:
            found = self.http.get_json(f"plans/{_seg(uuid)}")
        except BadRecordError as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    def create_plan(self, body: JSON) -> JSON:
        return dict(self.http.post_json("plans", body))

    def update_plan(self, uuid: str, body: JSON) -> Any:
        return self.http.request_json("PATCH", f"plans/{_seg(uuid)}", json=body)

    def iter_plans(self, ds: str) -> Iterator[JSON]:
        return self._pages("plans", "plans", {"data_source_uuid": ds})

    # -- invoices -------------------------------------------------------------------------
    def import_invoices(self, customer_uuid: str, invoices: list[JSON]) -> JSON:
        path = f"import/customers/{_seg(customer_uuid)}/invoices"
        return dict(self.http.post_json(path, {"invoices": invoices}))

    def find_invoice(self, ds: str, external_id: str) -> JSON | None:
        return self._first("invoices", "invoices",
                           {"data_source_uuid": ds, "external_id": external_id},
                           lambda item: item.get("external_id") == external_id)

    def iter_invoices(self, ds: str, customer_uuid: str | None = None) -> Iterator[JSON]:
        """The data source's invoices, 200 a page; with ``customer_uuid``, that customer's."""
        params = {"data_source_uuid": ds, **({"customer_uuid": customer_uuid} if customer_uuid
                                             else {})}
        return self._pages("invoices", "invoices", params)

    def delete_invoice(self, uuid: str) -> bool:
        """Delete; False when it was already gone (a retried delete)."""
        try:
            self.http.request("DELETE", f"invoices/{_seg(uuid)}")
        except BadRecordError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def add_transaction(self, invoice_uuid: str, body: JSON) -> JSON:
        return dict(self.http.post_json(f"import/invoices/{_seg(invoice_uuid)}/transactions", body))

    def set_invoice_status(self, ds: str, external_id: str, status: str) -> Any:
        path = f"data_sources/{_seg(ds)}/invoices/{_seg(external_id)}/status"
        return self.http.request_json("PUT", path, json={"status": status})

    # -- subscriptions --------------------------------------------------------------------
    def iter_subscriptions(self, customer_uuid: str) -> Iterator[JSON]:
        return self._pages(f"import/customers/{_seg(customer_uuid)}/subscriptions",
                           "subscriptions", {})

    def update_subscription(self, uuid: str, body: JSON) -> Any:
        return self.http.request_json("PATCH", f"import/subscriptions/{_seg(uuid)}", json=body)

    # -- bulk -----------------------------------------------------------------------------
    def create_json_import(self, ds: str, body: JSON) -> JSON:
        return dict(self.http.post_json(f"data_sources/{_seg(ds)}/json_imports", body))

    def get_json_import(self, ds: str, import_id: str) -> JSON:
        path = f"data_sources/{_seg(ds)}/json_imports/{_seg(import_id)}"
        return dict(self.http.get_json(path))


class Lookups:
    """External id ↔ uuid of one data source, cached: writes fill it, misses ask ChartMogul.

    Per instance, never module-wide: a destination or bulk importer owns one.
    """

    def __init__(self, client: ChartMogulClient, data_source_uuid: str) -> None:
        self.client = client
        self.ds = data_source_uuid
        self._customers: dict[str, str] = {}
        self._plans: dict[str, str] = {}
        self._plan_ids: dict[str, str] = {}
        self._subscriptions: dict[tuple[str, str], str] = {}

    def remember_customer(self, external_id: str, uuid: str) -> None:
        self._customers[external_id] = uuid

    def remember_plan(self, external_id: str, uuid: str) -> None:
        self._plans[external_id] = uuid
        self._plan_ids[uuid] = external_id

    def customer_uuid(self, external_id: str) -> str | None:
        if external_id not in self._customers:
            found = self.client.find_customer(self.ds, external_id)
            if found is None:
                return None
            self.remember_customer(external_id, str(found["uuid"]))
        return self._customers[external_id]

    def plan_uuid(self, external_id: str) -> str | None:
        if external_id not in self._plans:
            found = self.client.find_plan(self.ds, external_id)
            if found is None:
                return None
            self.remember_plan(external_id, str(found["uuid"]))
        return self._plans[external_id]

    def plan_external_id(self, uuid: str) -> str | None:
        if uuid not in self._plan_ids:
            found = self.client.get_plan(uuid)
            if found is None or not found.get("external_id"):
                return None
            self.remember_plan(str(found["external_id"]), uuid)
        return self._plan_ids[uuid]

    def subscription_uuid(self, customer_uuid: str, customer_external_id: str,
                          subscription_external_id: str) -> str | None:
        """From the customer's import-view subscriptions, paged; re-listed on a miss
        (invoices imported since the last listing create subscriptions)."""
        key = (customer_external_id, subscription_external_id)
        if key not in self._subscriptions:
            for sub in self.client.iter_subscriptions(customer_uuid):
                if sub.get("data_source_uuid", self.ds) == self.ds and sub.get("external_id"):
                    self._subscriptions[(customer_external_id, str(sub["external_id"]))] = str(
                        sub["uuid"])
        return self._subscriptions.get(key)


def set_cancellation_dates(client: ChartMogulClient, ids: Lookups, customer_external_id: str,
                           subscription_external_id: str, dates: Sequence[datetime]) -> None:
    """Replace a subscription's cancellation dates (docs/chartmogul.md); ``[]`` reactivates it.

    The subscription is found through its customer's import-view listing. A missing
    customer or subscription, or a refused PATCH, is a BadRecordError naming both ids.
    """
    if any(d.tzinfo is None for d in dates):
        raise BadRecordError("cancellation_dates: times must be timezone-aware UTC", status=422)
    what = f"subscription {subscription_external_id!r} of customer {customer_external_id!r}"
    customer_uuid = ids.customer_uuid(customer_external_id)
    if customer_uuid is None:
        raise BadRecordError(f"{what}: customer not found at ChartMogul", status=404)
    uuid = ids.subscription_uuid(customer_uuid, customer_external_id, subscription_external_id)
    if uuid is None:
        raise BadRecordError(f"{what}: not found at ChartMogul", status=404)
    try:
        client.update_subscription(uuid, cancellation_body(dates))
    except BadRecordError as exc:
        raise refused(what, exc) from exc


def refused(what: str, error: BadRecordError) -> BadRecordError:
    """The HTTP layer's BadRecordError, reworded to name the record ChartMogul refused."""
    detail = error_text(error.body) or str(error)
    return BadRecordError(f"{what} refused by ChartMogul ({error.status}): {detail}",
                          status=error.status, body=error.body)
