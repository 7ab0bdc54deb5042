"""The QuickBooks Online connector (Accounting API v3): customers and invoices of one company.

Reads with OAuth2 (refresh tokens rotate: ``saasync.http.oauth2``) through the query
endpoint, classifies invoice lines with the user's item mappings (QBO has no
subscriptions) and yields plans (synthesized from the mappings), customers, then
invoices. Quirks, the derived status table and what is quarantined are in
``BEHAVIOR.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar

import requests
from pydantic import BeforeValidator, ValidationInfo, field_validator

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.connector_options import ConnectorOptions, Flag, absolute_url, between, option
from saasync.http import RETRY_STATUSES, Outcome, RateLimiter, RetryPolicy, classify_response
from saasync.http.oauth2 import OAuth2Settings
from saasync.kit.api import ApiSpec, Pacing, api_client
from saasync.kit.records import MappingError
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
from ..accounting.records import currency_code
from .streams import CustomersStream, InvoicesStream, QuickBooksApi, fault_text

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
SANDBOX_URL = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REAUTHORIZE = ("connect the app to the company again (Intuit's OAuth consent flow, e.g. the "
               "OAuth 2.0 Playground at developer.intuit.com) to get a new refresh token.")
#: Intuit asks clients to wait 60 s after ThrottleExceeded (fault 003001).
THROTTLE_WAIT = 60.0
MAX_PAGE_SIZE = 1000
def _realm(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise ValueError("required (the company id shown as realmId when the app was "
                         "connected)")
    return str(value).strip()


def _home_currency(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return currency_code(value, "option", None, "home_currency")
    except MappingError:
        raise ValueError(f"must be an ISO 4217 code such as USD, got {value!r}") from None


class QuickBooksOptions(ConnectorOptions):
    """The connector's options (BEHAVIOR.md); anything else is a ConfigError."""

    connector: ClassVar[str] = "quickbooks"
    mistakes: ClassVar[Mapping[str, str]] = oauth2_mistake("QuickBooks")

    realm_id: Annotated[str, BeforeValidator(_realm)] = option(
        None, "required: the company id (realmId) shown when the app was connected",
        example='"REPLACE-WITH-YOUR-REALM-ID"', active=True, check_default=True)
    client_id_env: EnvVar = client_id_env("QUICKBOOKS")
    client_secret_env: EnvVar = client_secret_env("QUICKBOOKS")
    refresh_token_env: EnvVar = refresh_token_env("QUICKBOOKS")
    token_url: Annotated[str, token_endpoint(TOKEN_URL)] = token_url(TOKEN_URL)
    sandbox: Flag = option(False, "true: use the sandbox API host when base_url is not set",
                           example="false")
    base_url: str = option(None, "API host (/v3/company/{realm_id} is appended)",
                           example=f'"{PRODUCTION_URL}"', check_default=True)
    page_size: Annotated[int, between(1, MAX_PAGE_SIZE)] = option(
        MAX_PAGE_SIZE, "entities per query page, 1-1000", example="1000")
    home_currency: Annotated[str | None, BeforeValidator(_home_currency)] = option(
        None, "currency of invoices that name none (companies without multicurrency); "
        "without it such invoices are quarantined", example='"USD"')
    day_first: Flag = option(False, "read numeric dates in line descriptions day-first "
                             "(31/03/2026)", example="false")
    one_time_items: OneTimeItems = one_time_items()
    item_plans: ItemPlans = item_plans()

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any, info: ValidationInfo) -> str:
        if value is None:  # not given: the host sandbox says
            return SANDBOX_URL if info.data.get("sandbox") else PRODUCTION_URL
        return absolute_url(value, f"{PRODUCTION_URL} (sandbox: {SANDBOX_URL})")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v3/company/{self.realm_id}"

    @property
    def oauth(self) -> OAuth2Settings:
        return oauth2_of(self, provider="QuickBooks", reauthorize=REAUTHORIZE)


def configure(options: Mapping[str, Any]) -> QuickBooksOptions:
    """Checked options; an unknown one is an error, so a typo never goes unnoticed."""
    return QuickBooksOptions.parse(options)


def classify_quickbooks(response: requests.Response) -> Outcome:
    """What a QBO answer means. 429 (``ThrottleExceeded``, fault 003001) waits 60 s unless a
    ``Retry-After`` says otherwise; 403 is missing access; other 4xx stop the run with
    QBO's fault text (a query QBO refuses will not get better by retrying)."""
    status = response.status_code
    if status < 400:
        return classify_response(response)
    try:
        fault = fault_text(response.json())
    except ValueError:
        fault = None
    if status == 429 or (fault is not None and ("003001" in fault or "ThrottleExceeded" in fault)):
        after = None if response.headers.get("Retry-After") else THROTTLE_WAIT
        return Outcome.rate_limited(after, message=fault or "ThrottleExceeded")
    if status == 403:
        return Outcome.auth_error(f"QuickBooks refused access (403){': ' + fault if fault else ''}"
                                  " — the user who connected the app needs access to this "
                                  "company's sales data")
    if status in RETRY_STATUSES:
        return Outcome.retry(message=fault)
    if 400 <= status < 500 and status != 401:
        return Outcome.fatal(fault)
    return classify_response(response)


def default_retry() -> RetryPolicy:
    """Room for a few 60 s throttle waits."""
    return RetryPolicy(max_retry_after=THROTTLE_WAIT * 2, deadline=600.0)


def api_spec(settings: QuickBooksOptions) -> ApiSpec[OAuth2Settings]:
    """One company's Accounting API: OAuth2 with rotating refresh tokens, 8 requests a
    second (QBO allows 500 a minute and 10 a second per company: stay under both)."""
    return ApiSpec("quickbooks", settings.api_url, settings.oauth, classify_quickbooks,
                   pacing=Pacing(8, 1.0), retry=default_retry)


class QuickBooksConnector:
    """Options in BEHAVIOR.md. ``retry`` and ``limiter`` are for tests and embedding."""

    name: ClassVar[str] = "quickbooks"
    options_model: ClassVar[type[ConnectorOptions]] = QuickBooksOptions

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 retry: RetryPolicy | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = configure(options)
        self.rules = ItemRules.from_options("quickbooks", options, context.item_mappings)
        client = api_client(api_spec(self.settings), context, retry=retry, limiter=limiter)
        self.tokens = client.manager
        self.api = QuickBooksApi(client, self.settings.page_size)

    def __repr__(self) -> str:
        return f"QuickBooksConnector(realm_id={self.settings.realm_id!r})"

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        """Plans (from the item mappings), customers, then invoices."""
        for spec in self.rules.plans():
            yield Plan(external_id=spec.external_id, name=spec.name,
                       interval_unit=spec.interval_unit,
                       interval_count=spec.interval_count)
        yield from CustomersStream().read(self.api, window)
        yield from InvoicesStream(self.rules, day_first=self.settings.day_first,
                                  home_currency=self.settings.home_currency).read(self.api, window)
