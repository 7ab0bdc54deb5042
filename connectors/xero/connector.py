"""The Xero connector (Accounting API): contacts and sales invoices of one organisation.

Reads with OAuth2 (refresh tokens rotate: ``saasync.http.oauth2``) and the
``xero-tenant-id`` header, classifies invoice lines with the user's item mappings and
the repeating-invoice templates (Xero has no subscriptions) and yields plans, customers,
then invoices. Quirks, the status table and what is quarantined are in ``BEHAVIOR.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar

import requests
from pydantic import BeforeValidator

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.connector_options import ConnectorOptions, Flag, between, http_url, option
from saasync.http import RETRY_STATUSES, Outcome, RateLimiter, RetryPolicy, classify_response
from saasync.http.oauth2 import OAuth2Settings
from saasync.kit.api import ApiSpec, Pacing, api_client
from saasync.models import Plan, SourceRecord

from ..accounting.items import ItemRules
from ..accounting.options import (
    EnvVar,
    ItemPlans,
    OneTimeItems,
    client_id_env,
    client_secret_env,
    item_plans,
    oauth2_mistake,
    oauth2_of,
    one_time_items,
    refresh_token_env,
    token_endpoint,
    token_url,
)
from .mapping import RepeatingPlans
from .streams import (
    ContactsStream,
    InvoicesStream,
    RepeatingInvoicesStream,
    XeroApi,
    register_template_plans,
)

DEFAULT_BASE_URL = "https://api.xero.com/api.xro/2.0"
TOKEN_URL = "https://identity.xero.com/connect/token"
REAUTHORIZE = ("connect the app to the organisation again (Xero's OAuth 2.0 authorization "
               "code flow with the offline_access scope) to get a new refresh token.")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
def _tenant(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("required (the organisation's tenantId from GET "
                         "https://api.xero.com/connections)")
    return value.strip()


class XeroOptions(ConnectorOptions):
    """The connector's options (BEHAVIOR.md); anything else is a ConfigError."""

    connector: ClassVar[str] = "xero"
    mistakes: ClassVar[Mapping[str, str]] = oauth2_mistake("Xero")

    tenant_id: Annotated[str, BeforeValidator(_tenant)] = option(
        None, "required: the organisation's tenantId (GET https://api.xero.com/connections)",
        example='"REPLACE-WITH-YOUR-TENANT-ID"', active=True, check_default=True)
    client_id_env: EnvVar = client_id_env("XERO")
    client_secret_env: EnvVar = client_secret_env("XERO")
    refresh_token_env: EnvVar = refresh_token_env("XERO")
    token_url: Annotated[str, token_endpoint(TOKEN_URL)] = token_url(TOKEN_URL)
    base_url: Annotated[str, http_url(DEFAULT_BASE_URL)] = option(
        DEFAULT_BASE_URL, "API root (a proxy or a local test server)",
        example=f'"{DEFAULT_BASE_URL}"')
    page_size: Annotated[int, between(1, MAX_PAGE_SIZE)] = option(
        DEFAULT_PAGE_SIZE, "invoices and contacts per page, 1-1000", example="100")
    day_first: Flag = option(True, "read numeric dates in line descriptions day-first "
                             "(31/03/2026)", example="true")
    one_time_items: OneTimeItems = one_time_items()
    item_plans: ItemPlans = item_plans()

    @property
    def oauth(self) -> OAuth2Settings:
        return oauth2_of(self, provider="Xero", reauthorize=REAUTHORIZE)


def configure(options: Mapping[str, Any]) -> XeroOptions:
    """Checked options; an unknown one is an error, so a typo never goes unnoticed."""
    return XeroOptions.parse(options)


def _problem(response: requests.Response) -> str | None:
    """Xero's error body (``Title``/``Detail`` or ``Type``/``Message``) as one line."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    parts = [str(body[k]) for k in ("Title", "Type", "Detail", "Message") if body.get(k)]
    return ": ".join(parts) or None


def classify_xero(response: requests.Response) -> Outcome:
    """What a Xero answer means. 429 waits ``Retry-After`` (read by the retry policy),
    except the daily limit (``X-Rate-Limit-Problem: day``; Retry-After in hours), which
    stops the run at once with QuotaExhaustedError; 503 (old-style throttling, outages) is
    retried; 403 is a tenant the app may not read; other 4xx stop the run."""
    status = response.status_code
    if status == 429:
        problem = response.headers.get("X-Rate-Limit-Problem", "").strip().lower()
        if problem == "day":
            wait = response.headers.get("Retry-After", "?")
            return Outcome.quota_exhausted(
                f"Xero's daily API limit for this organisation is used up (X-Rate-Limit-Problem: "
                f"day, Retry-After: {wait} s). Run again after it resets; nothing was lost.")
        return Outcome.rate_limited(message=f"Xero rate limit ({problem or 'unspecified'})")
    if status == 403:
        detail = _problem(response)
        return Outcome.auth_error(f"Xero refused access (403){': ' + detail if detail else ''}"
                                  " — check tenant_id and that the app was granted "
                                  "accounting.transactions.read and accounting.contacts.read")
    if status in RETRY_STATUSES:
        return Outcome.retry()
    if 400 <= status < 500 and status != 401:
        return Outcome.fatal(_problem(response))
    return classify_response(response)


def default_retry() -> RetryPolicy:
    """Minute-limit waits are under 60 s; anything longer is the daily cap: stop."""
    return RetryPolicy(max_retry_after=90.0, deadline=600.0)


def api_spec(settings: XeroOptions) -> ApiSpec[OAuth2Settings]:
    """One organisation's Accounting API: OAuth2 with rotating refresh tokens, the
    ``xero-tenant-id`` header, 55 calls a minute and 5 at once (Xero allows 60 and 5)."""
    return ApiSpec("xero", settings.base_url, settings.oauth, classify_xero,
                   headers={"xero-tenant-id": settings.tenant_id},
                   pacing=Pacing.per_minute(55, max_concurrent=5), retry=default_retry)


class XeroConnector:
    """Options in BEHAVIOR.md. ``retry`` and ``limiter`` are for tests and embedding."""

    name: ClassVar[str] = "xero"
    options_model: ClassVar[type[ConnectorOptions]] = XeroOptions

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 retry: RetryPolicy | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = configure(options)
        self.rules = ItemRules.from_options("xero", options, context.item_mappings)
        client = api_client(api_spec(self.settings), context, retry=retry, limiter=limiter)
        self.tokens = client.manager
        self.api = XeroApi(client, self.settings.page_size)

    def __repr__(self) -> str:
        return f"XeroConnector(tenant_id={self.settings.tenant_id!r})"

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        """Plans (item mappings and templates), customers, invoices; then any plan first met
        on an invoice (a template line changed since)."""
        schedules, templates = RepeatingInvoicesStream().read(self.api)
        repeating = RepeatingPlans(self.rules, schedules)
        register_template_plans(templates, self.rules, repeating)
        yielded: set[str] = set()
        yield from self._plans(yielded)
        yield from ContactsStream().read(self.api, window)
        yield from InvoicesStream(self.rules, repeating,
                                  day_first=self.settings.day_first).read(self.api, window)
        yield from self._plans(yielded)

    def _plans(self, yielded: set[str]) -> Iterator[Plan]:
        for spec in self.rules.plans():
            if spec.external_id not in yielded:
                yielded.add(spec.external_id)
                yield Plan(external_id=spec.external_id, name=spec.name,
                           interval_unit=spec.interval_unit, interval_count=spec.interval_count)
