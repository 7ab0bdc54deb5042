"""The gaiia connector (ISP billing platform, GraphQL): products, accounts, subscriptions, invoices.

Reads the GraphQL API with the ``X-Gaiia-Api-Key`` header and yields normalized records
in dependency order: plans, customers, subscriptions, invoices. Accounts carry their
status type and billing-cycle flag, which the out-of-sync audit (docs/rules.md, out-of-sync accounts) reads.
Quirks, the status tables and what is quarantined are in ``BEHAVIOR.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, ClassVar

import requests

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.connector_options import ConnectorOptions, EnvName, between, http_url, option
from saasync.http import HeaderKeyAuth, Outcome, RetryPolicy, classify_response
from saasync.kit.api import ApiKey, ApiSpec, api_client
from saasync.models import SourceRecord

from .mapping import dig, stamp
from .streams import (
    CustomersStream,
    GaiiaApi,
    InvoicesStream,
    PlansStream,
    SubscriptionsStream,
)

DEFAULT_BASE_URL = "https://api.gaiia.com/api/v1"
DEFAULT_KEY_ENV = "GAIIA_API_KEY"
KEY_HEADER = "X-Gaiia-Api-Key"
MAX_PAGE_SIZE = 250  # root connections; gaiia's default is 50
NESTED_PAGE_SIZE = 25  # an invoice's debits and credits, a debit's taxes and discounts
_AUTH_CODES = frozenset({"UNAUTHORIZED", "FORBIDDEN"})


class GaiiaSettings(ConnectorOptions):
    """The connector's options; an unknown one is an error, so a typo never goes unnoticed."""

    connector: ClassVar[str] = "gaiia"

    api_key_env: EnvName = option(DEFAULT_KEY_ENV, "variable holding the API key",
                                  example=f'"{DEFAULT_KEY_ENV}"', active=True)
    base_url: Annotated[str, http_url(DEFAULT_BASE_URL)] = option(DEFAULT_BASE_URL, "the GraphQL endpoint",
                                             example=f'"{DEFAULT_BASE_URL}"')
    page_size: Annotated[int, between(1, MAX_PAGE_SIZE)] = option(
        50, "nodes per page, 1-250; lower it when a query is refused as too costly",
        example="50")
    settle_days: Annotated[int, between(0, 3660)] = option(
        90, "how far before the cursor incremental runs re-read invoices, to catch late "
        "payments, voids and write-offs (0-3660)", example="90")


def configure(options: Mapping[str, Any]) -> GaiiaSettings:
    """Checked options; an unknown one is an error, so a typo never goes unnoticed."""
    return GaiiaSettings.parse(options)


def _errors(response: requests.Response) -> list[Any]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) else []


def _throttled(error: Any, response: requests.Response) -> Outcome:
    """Wait until ``retryAt`` (or the ``X-Rate-Limit-Retry-At`` header). A query that costs
    more than the whole bucket can never pass: stop with what to change instead."""
    ext = dig(error, "extensions") or {}
    cost, limit = ext.get("cost"), ext.get("limit")
    if isinstance(cost, int) and isinstance(limit, int) and cost > limit:
        return Outcome.fatal(f"a query costs {cost} points, more than the whole rate-limit "
                             f"bucket ({limit}): lower the connection's page_size")
    at = stamp(ext.get("retryAt")) or stamp(response.headers.get("X-Rate-Limit-Retry-At"))
    message = dig(error, "message") or "gaiia rate limit reached (RATE_LIMITED)"
    return Outcome.rate_limited(at=at, message=str(message))


def classify_gaiia(response: requests.Response) -> Outcome:
    """gaiia answers most failures with HTTP 200 and a GraphQL ``errors`` list: throttling
    (``RATE_LIMITED`` + ``retryAt``) is retried, ``UNAUTHORIZED``/``FORBIDDEN`` refuse the
    key; other errors pass through so the caller can name the failed query."""
    for error in _errors(response):
        code = dig(error, "extensions", "code")
        if code == "RATE_LIMITED":
            return _throttled(error, response)
        if code in _AUTH_CODES:
            return Outcome.auth_error(f"{code}: {dig(error, 'message') or 'API key refused'} "
                                      f"(check the {KEY_HEADER} key)")
    if response.status_code == 429:
        at = stamp(response.headers.get("X-Rate-Limit-Retry-At"))
        return Outcome.rate_limited(at=at) if at else Outcome.rate_limited()
    return classify_response(response)


def api_spec(settings: GaiiaSettings) -> ApiSpec[ApiKey]:
    """gaiia's GraphQL endpoint: the key in ``X-Gaiia-Api-Key``, no client-side pace (the
    server's cost-based throttling answers RATE_LIMITED with a ``retryAt``)."""
    key = ApiKey(settings.api_key_env, partial(HeaderKeyAuth, KEY_HEADER), option="api_key_env")
    return ApiSpec("gaiia", settings.base_url, key, classify_gaiia)


class GaiiaConnector:
    """Options: ``base_url``, ``api_key_env``, ``page_size`` (1..250), ``settle_days``.

    ``retry`` is for tests and embedding (a no-op sleep); ``nested_page_size`` for tests
    that exercise the nested paging with a small data set.
    """

    name: ClassVar[str] = "gaiia"
    options_model: ClassVar[type[ConnectorOptions]] = GaiiaSettings

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 retry: RetryPolicy | None = None, nested_page_size: int = NESTED_PAGE_SIZE) -> None:
        self.settings = configure(options)
        client = api_client(api_spec(self.settings), context, retry=retry)
        self.api = GaiiaApi(client, self.settings.page_size, nested_page_size)

    def __repr__(self) -> str:
        return f"GaiiaConnector({self.settings.base_url!r})"

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        """Plans, customers, subscriptions, then invoices (see ReadWindow for the modes)."""
        yield from PlansStream().read(self.api, window)
        yield from CustomersStream().read(self.api, window)
        yield from SubscriptionsStream().read(self.api, window)
        settle = timedelta(days=self.settings.settle_days)
        yield from InvoicesStream(settle).read(self.api, window)
