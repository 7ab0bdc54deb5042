"""The Xero connector (Accounting API): contacts and sales invoices of one organisation.

Reads with OAuth2 (refresh tokens rotate: ``saasync.http.oauth2``) and the
``xero-tenant-id`` header, classifies invoice lines with the user's item mappings and
the repeating-invoice templates (Xero has no subscriptions) and yields plans, customers,
then invoices. Quirks, the status table and what is quarantined are in ``BEHAVIOR.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from connectors.accounting.items import ITEM_OPTIONS, ItemRules
from connectors.xero.mapping import RepeatingPlans
from connectors.xero.streams import (
    ContactsStream,
    InvoicesStream,
    RepeatingInvoicesStream,
    XeroApi,
    register_template_plans,
)
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
from saasync.models import Plan, SourceRecord

DEFAULT_BASE_URL = "https://api.xero.com/api.xro/2.0"
TOKEN_URL = "https://identity.xero.com/connect/token"
REAUTHORIZE = ("connect the app to the organisation again (Xero's OAuth 2.0 authorization "
               "code flow with the offline_access scope) to get a new refresh token.")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
OPTIONS = ("tenant_id", "base_url", "page_size", "day_first", *ITEM_OPTIONS, *OAUTH2_OPTIONS)


@dataclass(frozen=True)
class XeroSettings:
    tenant_id: str
    base_url: str
    page_size: int
    day_first: bool
    oauth: OAuth2Settings


def configure(options: Mapping[str, Any]) -> XeroSettings:
    """Checked options; an unknown one is an error, so a typo never goes unnoticed."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        hint = " (Xero uses OAuth2: client_id_env, client_secret_env, refresh_token_env)" \
            if "api_key_env" in unknown else ""
        raise ConfigError(f"xero connector: unknown option(s) {', '.join(unknown)}{hint} "
                          f"(known: {', '.join(OPTIONS)})")
    tenant = options.get("tenant_id")
    if not isinstance(tenant, str) or not tenant.strip():
        raise ConfigError("xero connector: option 'tenant_id' is required (the organisation's "
                          "tenantId from GET https://api.xero.com/connections)")
    base_url = str(options.get("base_url", DEFAULT_BASE_URL)).strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"xero connector: option 'base_url' must be an absolute http(s) URL "
                          f"such as {DEFAULT_BASE_URL}, got {options.get('base_url')!r}")
    page_size = options.get("page_size", DEFAULT_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or \
            not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigError(f"xero connector: option 'page_size' must be an integer "
                          f"1..{MAX_PAGE_SIZE}, got {page_size!r}")
    day_first = options.get("day_first", True)
    if not isinstance(day_first, bool):
        raise ConfigError(f"xero connector: option 'day_first' must be true or false, "
                          f"got {day_first!r}")
    oauth = oauth2_settings("xero", options, provider="Xero", default_token_url=TOKEN_URL,
                            env_prefix="XERO", reauthorize=REAUTHORIZE)
    return XeroSettings(tenant.strip(), base_url, page_size, day_first, oauth)


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


class XeroConnector:
    """Options in BEHAVIOR.md. ``retry`` and ``limiter`` are for tests and embedding."""

    name: ClassVar[str] = "xero"

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 retry: RetryPolicy | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = configure(options)
        self.rules = ItemRules.from_options("xero", options, context.item_mappings)
        policy = retry if retry is not None else default_retry()
        secrets = SecretRegistry()
        self.tokens = TokenManager(self.settings.oauth, context.env, store=context.tokens,
                                   connection=context.connection, secrets=secrets, retry=policy)
        client = HttpClient(
            self.settings.base_url, auth=OAuth2Auth(self.tokens),
            headers={"xero-tenant-id": self.settings.tenant_id},
            classifier=passing_401(classify_xero), retry=policy, secrets=secrets,
            # 60 calls/min and 5 concurrent per organisation.
            limiter=limiter if limiter is not None else SlidingWindowLimiter(
                55, 60.0, max_concurrent=5),
        )
        self.api = XeroApi(OAuth2JsonClient(client, self.tokens), self.settings.page_size)

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
