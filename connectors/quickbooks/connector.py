"""The QuickBooks Online connector (Accounting API v3): customers and invoices of one company.

Reads with OAuth2 (refresh tokens rotate: ``saasync.http.oauth2``) through the query
endpoint, classifies invoice lines with the user's item mappings (QBO has no
subscriptions) and yields plans (synthesized from the mappings), customers, then
invoices. Quirks, the derived status table and what is quarantined are in
``BEHAVIOR.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from connectors.accounting.items import ITEM_OPTIONS, ItemRules
from connectors.accounting.records import currency_code
from connectors.quickbooks.streams import CustomersStream, InvoicesStream, QuickBooksApi, fault_text
from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.errors import ConfigError
from saasync.http import (
    RETRY_STATUSES,
    HttpClient,
    Outcome,
    RateLimiter,
    RetryPolicy,
    SecretRegistry,
    SlidingWindowLimiter,
    classify_response,
)
from saasync.http.oauth2 import (
    OAUTH2_OPTIONS,
    OAuth2Auth,
    OAuth2JsonClient,
    OAuth2Settings,
    TokenManager,
    oauth2_settings,
    passing_401,
)
from saasync.kit.records import MappingError
from saasync.models import Plan, SourceRecord

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
SANDBOX_URL = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REAUTHORIZE = ("connect the app to the company again (Intuit's OAuth consent flow, e.g. the "
               "OAuth 2.0 Playground at developer.intuit.com) to get a new refresh token.")
#: Intuit asks clients to wait 60 s after ThrottleExceeded (fault 003001).
THROTTLE_WAIT = 60.0
MAX_PAGE_SIZE = 1000
OPTIONS = ("realm_id", "base_url", "sandbox", "page_size", "home_currency", "day_first",
           *ITEM_OPTIONS, *OAUTH2_OPTIONS)


@dataclass(frozen=True)
class QuickBooksSettings:
    realm_id: str
    base_url: str
    page_size: int
    home_currency: str | None
    day_first: bool
    oauth: OAuth2Settings

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v3/company/{self.realm_id}"


def _bool(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"quickbooks connector: option {name!r} must be true or false, "
                          f"got {value!r}")
    return value


def configure(options: Mapping[str, Any]) -> QuickBooksSettings:
    """Checked options; an unknown one is an error, so a typo never goes unnoticed."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        hint = " (QuickBooks uses OAuth2: client_id_env, client_secret_env, refresh_token_env)" \
            if "api_key_env" in unknown else ""
        raise ConfigError(f"quickbooks connector: unknown option(s) {', '.join(unknown)}{hint} "
                          f"(known: {', '.join(OPTIONS)})")
    realm = options.get("realm_id")
    if not isinstance(realm, str | int) or isinstance(realm, bool) or not str(realm).strip():
        raise ConfigError("quickbooks connector: option 'realm_id' is required (the company id "
                          "shown as realmId when the app was connected)")
    default_url = SANDBOX_URL if _bool(options, "sandbox", False) else PRODUCTION_URL
    base_url = str(options.get("base_url", default_url)).strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"quickbooks connector: option 'base_url' must be an absolute http(s) "
                          f"URL such as {PRODUCTION_URL} (sandbox: {SANDBOX_URL}), "
                          f"got {options.get('base_url')!r}")
    page_size = options.get("page_size", MAX_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or \
            not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigError(f"quickbooks connector: option 'page_size' must be an integer "
                          f"1..{MAX_PAGE_SIZE}, got {page_size!r}")
    home = options.get("home_currency")
    if home is not None:
        try:
            home = currency_code(home, "option", None, "home_currency")
        except MappingError:
            raise ConfigError(f"quickbooks connector: option 'home_currency' must be an ISO "
                              f"4217 code such as USD, got {home!r}") from None
    oauth = oauth2_settings("quickbooks", options, provider="QuickBooks",
                            default_token_url=TOKEN_URL, env_prefix="QUICKBOOKS",
                            reauthorize=REAUTHORIZE)
    return QuickBooksSettings(str(realm).strip(), base_url, page_size, home,
                              _bool(options, "day_first", False), oauth)


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


class QuickBooksConnector:
    """Options in BEHAVIOR.md. ``retry`` and ``limiter`` are for tests and embedding."""

    name: ClassVar[str] = "quickbooks"

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 retry: RetryPolicy | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = configure(options)
        self.rules = ItemRules.from_options("quickbooks", options, context.item_mappings)
        policy = retry if retry is not None else default_retry()
        secrets = SecretRegistry()
        self.tokens = TokenManager(self.settings.oauth, context.env, store=context.tokens,
                                   connection=context.connection, secrets=secrets, retry=policy)
        client = HttpClient(
            self.settings.api_url, auth=OAuth2Auth(self.tokens),
            classifier=passing_401(classify_quickbooks), retry=policy, secrets=secrets,
            # 500 requests/min and 10/s per company: stay under both.
            limiter=limiter if limiter is not None else SlidingWindowLimiter(
                8, 1.0, max_concurrent=None),
        )
        self.api = QuickBooksApi(OAuth2JsonClient(client, self.tokens), self.settings.page_size)

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
