"""The Recurly connector (API v3, version v2021-02-25): plans, accounts, subscriptions, invoices.

Reads with the site's private API key (Basic auth, key as username, empty password)
and the versioned ``Accept`` header Recurly requires, and yields normalized records in
dependency order: plans, customers, subscriptions, invoices. Quirks, the status tables
and what is quarantined are in ``BEHAVIOR.md`` beside this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

import requests
from pydantic import BeforeValidator

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.connector_options import ConnectorOptions, EnvName, between, http_url, option
from saasync.http import (
    EPOCH_THRESHOLD,
    RETRY_STATUSES,
    BasicAuth,
    Outcome,
    RateLimiter,
    RetryPolicy,
    classify_response,
)
from saasync.kit.api import ApiKey, ApiSpec, Pacing, api_client
from saasync.kit.windows import concurrency_in, default_concurrency
from saasync.models import SourceRecord

from .streams import (
    AccountsStream,
    InvoicesStream,
    PlansStream,
    RecurlyApi,
    SubscriptionsStream,
    Windowed,
)

API_VERSION = "v2021-02-25"
ACCEPT = f"application/vnd.recurly.{API_VERSION}+json"
DEFAULT_BASE_URL = "https://v3.recurly.com"
DEFAULT_KEY_ENV = "RECURLY_API_KEY"
MAX_PAGE_SIZE = 200
MAX_CONCURRENCY = 32



class RecurlySettings(ConnectorOptions):
    """The connector's options; an unknown one is an error, so a typo never goes unnoticed."""

    connector: ClassVar[str] = "recurly"

    api_key_env: EnvName = option(DEFAULT_KEY_ENV, "variable holding the site's private API "
                                  "key", example=f'"{DEFAULT_KEY_ENV}"', active=True)
    base_url: Annotated[str, http_url(f"{DEFAULT_BASE_URL} (EU: https://v3.eu.recurly.com)")] = \
        option(DEFAULT_BASE_URL, 'API host; EU sites: "https://v3.eu.recurly.com"',
               example=f'"{DEFAULT_BASE_URL}"')
    page_size: Annotated[int, between(1, MAX_PAGE_SIZE)] = option(
        MAX_PAGE_SIZE, "records per list call, 1-200", example=str(MAX_PAGE_SIZE))
    requests_per_minute: Annotated[int, between(1)] = option(
        900, "client-side pace (Recurly allows 1000 GETs a minute, a sandbox 400 of any "
        "method: 350 there)", example="900")
    concurrency: Annotated[int | None, BeforeValidator(concurrency_in(MAX_CONCURRENCY))] = option(
        None, f"list calls in flight at once, 1-{MAX_CONCURRENCY}, each over its own time "
        "window; default: enough for requests_per_minute at 0.4 s a page (6 at 900)",
        example="6")


def configure(options: Mapping[str, Any]) -> RecurlySettings:
    """Checked options; an unknown one is an error, so a typo never goes unnoticed."""
    return RecurlySettings.parse(options)


def _error_text(response: requests.Response) -> str | None:
    """Recurly's ``{"error": {"type", "message"}}``, as one line."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    return ": ".join(str(error[k]) for k in ("type", "message") if error.get(k)) or None


def classify_recurly(response: requests.Response) -> Outcome:
    """What a Recurly answer means. 429 waits until ``X-RateLimit-Reset`` (epoch seconds;
    Recurly sends no ``Retry-After``); 406 is a refused API version; 404 is left to the
    caller (a missing object); other 4xx stop the run with Recurly's message."""
    status = response.status_code
    if status == 429:
        after, at = None, None
        try:
            reset = float(response.headers.get("X-RateLimit-Reset", ""))
        except ValueError:
            reset = None
        if reset is not None and reset >= EPOCH_THRESHOLD:  # else: seconds to wait
            at = datetime.fromtimestamp(reset, tz=UTC)
        elif reset is not None:
            after = max(reset, 0.0)
        return Outcome.rate_limited(after, at=at, message=_error_text(response)
                                    or "Recurly rate limit reached")
    if status == 406:
        return Outcome.fatal(f"Recurly refused API version {API_VERSION}: "
                             f"{_error_text(response) or 'unsupported Accept header'}")
    if status == 404:
        return Outcome.bad_record(_error_text(response))
    if 400 <= status < 500 and status not in (401, 403) and status not in RETRY_STATUSES:
        return Outcome.fatal(_error_text(response))
    return classify_response(response)


def default_retry() -> RetryPolicy:
    """Recurly's limit is a sliding 5-minute window, so a reset can be minutes away."""
    return RetryPolicy(max_retry_after=330.0, deadline=900.0)


def api_spec(settings: RecurlySettings) -> ApiSpec[ApiKey]:
    """Recurly's API: the private key as Basic username, the versioned Accept header,
    paced at ``requests_per_minute``, waits as long as its 5-minute window needs."""
    return ApiSpec("recurly", settings.base_url,
                   ApiKey(settings.api_key_env, BasicAuth.api_key, option="api_key_env"),
                   classify_recurly, headers={"Accept": ACCEPT},
                   pacing=Pacing.per_minute(settings.requests_per_minute), retry=default_retry)


class RecurlyConnector:
    """Options: ``base_url``, ``api_key_env``, ``page_size`` (1..200), ``requests_per_minute``,
    ``concurrency``.

    ``retry`` and ``limiter`` are for tests and embedding (a no-op sleep, a shared budget).
    """

    name: ClassVar[str] = "recurly"
    options_model: ClassVar[type[ConnectorOptions]] = RecurlySettings

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 retry: RetryPolicy | None = None, limiter: RateLimiter | None = None) -> None:
        self.settings = configure(options)
        client = api_client(api_spec(self.settings), context, retry=retry, limiter=limiter)
        self.concurrency = self.settings.concurrency or default_concurrency(
            self.settings.requests_per_minute / 60, cap=MAX_CONCURRENCY)
        client.widen_pool(self.concurrency)
        self.api = RecurlyApi(client, self.settings.page_size)

    def __repr__(self) -> str:
        return f"RecurlyConnector({self.settings.base_url!r})"

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        """Plans, customers, subscriptions, then invoices (see ReadWindow for the modes)."""
        windowed = Windowed(self.api, self.concurrency)
        yield from PlansStream().read(self.api, window)
        yield from AccountsStream().read(self.api, window, windowed)
        yield from SubscriptionsStream().read(self.api, window, windowed)
        yield from InvoicesStream().read(self.api, window, windowed)
