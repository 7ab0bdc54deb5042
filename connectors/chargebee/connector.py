"""The Chargebee connector (API v2): plans, customers, subscriptions and invoices, read-only.

Options are checked up front (a typo is a ConfigError naming it), the API key comes from
the environment variable named by ``api_key_env``, and every request goes through the one
HTTP layer with a Chargebee classifier: 429 ``api_request_limit_exceeded`` honours
``Retry-After``; other 4xx stop the run with Chargebee's own message. See BEHAVIOR.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

import requests
from pydantic import BeforeValidator, model_validator

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.connector_options import ConnectorOptions, EnvName, between, option
from saasync.http import RETRY_STATUSES, BasicAuth, Outcome, RateLimiter, RetryPolicy, Timeouts
from saasync.kit.api import ApiKey, ApiSpec, Pacing, api_client
from saasync.kit.windows import concurrency_in, default_concurrency
from saasync.models import SourceRecord

from .streams import (
    MAX_PAGE,
    ChargebeeApi,
    CustomersStream,
    InvoicesStream,
    PlansStream,
    SubscriptionsStream,
)
from .windowed import Windowed

DEFAULT_API_KEY_ENV = "CHARGEBEE_API_KEY"
#: Test sites and the Starter plan allow 150 requests a minute: the safe default.
DEFAULT_REQUESTS_PER_MINUTE = 150
#: "Going over either limit returns 429 until the limit resets, after about a minute."
RATE_LIMIT_RESET_S = 60.0
#: Older plans allowed at most 50 concurrent GETs ("Launch: 150 at once, 50 of them GETs").
MAX_CONCURRENCY = 50
PACE_MARGIN = 1.05  # the limit's minute, stretched: 5 % under it
CATALOGS = {"1": "1.0", "1.0": "1.0", "2": "2.0", "2.0": "2.0"}
_SITE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CATALOG_ERRORS = frozenset({"api_restricted", "configuration_incompatible"})
_SITE_HELP = "your site name: 'acme' for acme.chargebee.com, 'acme-test' for the test site"


def _site(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SITE.match(value.strip().lower()):
        raise ValueError(f"must be {_SITE_HELP}; got {value!r}")
    return value.strip().lower()


def _base_url(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"expected an http(s) URL such as https://acme.chargebee.com/api/v2, "
                         f"got {value!r}")
    return value.rstrip("/")


def _catalog(value: Any) -> str:
    catalog = CATALOGS.get(str(value).strip())
    if catalog is None:
        raise ValueError(f"expected \"2.0\" (item prices) or \"1.0\" (plans and addons), "
                         f"got {value!r}")
    return catalog



class ChargebeeOptions(ConnectorOptions):
    """The connector's options (BEHAVIOR.md); anything else is a ConfigError."""

    connector: ClassVar[str] = "chargebee"

    site: Annotated[str | None, BeforeValidator(_site)] = option(
        None, 'required unless base_url is given: the site name ("acme" for acme.chargebee.com, '
        '"acme-test" for its test site)', example='"your-site"', active=True)
    base_url: Annotated[str | None, BeforeValidator(_base_url)] = option(
        None, "the API root instead of site (a proxy or a local test server); not both",
        example='"https://your-site.chargebee.com/api/v2"')
    api_key_env: EnvName = option(DEFAULT_API_KEY_ENV, "variable holding a read-only API key",
                                  example=f'"{DEFAULT_API_KEY_ENV}"', active=True)
    page_size: Annotated[int, between(1, MAX_PAGE)] = option(
        MAX_PAGE, "records per list call, 1-100", example="100")
    product_catalog: Annotated[str, BeforeValidator(_catalog)] = option(
        "2.0", '"2.0": plans are item prices; "1.0": v1 plans and addons', example='"2.0"')
    requests_per_minute: Annotated[int, between(1, 100_000)] = option(
        DEFAULT_REQUESTS_PER_MINUTE, "the site's limit, paced 5 % under it (150 for test "
        "sites and the Starter plan; Performance allows 1000, Enterprise 3500)", example="150")
    concurrency: Annotated[int | None, BeforeValidator(concurrency_in(MAX_CONCURRENCY))] = option(
        None, "list calls in flight at once, 1-50 (Chargebee once capped concurrent GETs at "
        "50), each over its own time window; default: enough for requests_per_minute at "
        "0.4 s a page (1 at 150 a minute: one list at a time)", example="1")

    @model_validator(mode="after")
    def _site_or_base_url(self) -> Self:
        if self.site is not None and self.base_url is not None:
            raise self.invalid("site", "give either 'site' or 'base_url', not both")
        if self.site is None and self.base_url is None:
            raise self.invalid("site", f"required ({_SITE_HELP}), or give 'base_url'")
        return self

    @property
    def api_root(self) -> str:
        """``site`` → ``https://{site}.chargebee.com/api/v2``; ``base_url`` as given."""
        return self.base_url or f"https://{self.site}.chargebee.com/api/v2"


def base_url_from(options: Mapping[str, Any]) -> str:
    """``site`` → ``https://{site}.chargebee.com/api/v2``; ``base_url`` as given (proxies,
    local fakes). Exactly one of them."""
    return ChargebeeOptions.parse(options).api_root


def _error_detail(response: requests.Response) -> tuple[str | None, str | None]:
    """Chargebee's error body ``{message, type, api_error_code, param}``."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, Mapping):
        return None, None
    code, message = body.get("api_error_code"), body.get("message")
    return (str(code) if code else None), (str(message) if message else None)


def classify(response: requests.Response) -> Outcome:
    """What a Chargebee answer means. Waiting is the retry policy's job, not ours."""
    status = response.status_code
    if 200 <= status < 300:
        return Outcome.ok()
    code, message = _error_detail(response)
    detail = f"{code}: {message}" if code or message else None
    if status == 429:
        # Retry-After (seconds or a date) is read by the client; without it, wait out the minute.
        after = None if response.headers.get("Retry-After") else RATE_LIMIT_RESET_S
        return Outcome.rate_limited(after, message=detail)
    if status in (401, 403):
        return Outcome.auth_error(detail)
    if status in RETRY_STATUSES:
        return Outcome.retry(message=detail)  # 503 internal_temporary_error, 504 gateway_timeout
    if 400 <= status < 500:
        hint = ""
        if code in _CATALOG_ERRORS:
            hint = " (is option 'product_catalog' right for this site: \"1.0\" or \"2.0\"?)"
        elif status == 404:
            hint = " (check option 'site' / 'base_url': it should end in /api/v2)"
        # A read-only list call that Chargebee refuses will be refused again: stop clearly.
        return Outcome.fatal(f"{detail or 'request refused'}{hint}")
    return Outcome.fatal(detail)


def api_spec(options: ChargebeeOptions) -> ApiSpec[ApiKey]:
    """Chargebee's API as this site is reached: the key as Basic username, the official
    SDK's timeouts, ``requests_per_minute`` spread over 63 s (5 % under the limit, as our
    window and Chargebee's never line up exactly: at the limit itself some requests were
    answered 429 in bench/source_reads.py)."""
    return ApiSpec("chargebee", options.api_root, ApiKey(options.api_key_env, BasicAuth.api_key),
                   classify, timeouts=Timeouts(connect=30.0, read=80.0),
                   pacing=Pacing(options.requests_per_minute, 60.0 * PACE_MARGIN))


class ChargebeeConnector:
    """Reads a Chargebee site. ``retry``, ``limiter`` and ``session`` are for tests."""

    name: ClassVar[str] = "chargebee"
    options_model: ClassVar[type[ConnectorOptions]] = ChargebeeOptions

    def __init__(
        self,
        options: Mapping[str, Any],
        context: ConnectorContext,
        *,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.options = ChargebeeOptions.parse(options)
        self.base_url = self.options.api_root
        self.page_size = self.options.page_size
        self.catalog = self.options.product_catalog
        self.client = api_client(api_spec(self.options), context, retry=retry, limiter=limiter,
                                 session=session)
        self.concurrency = self.options.concurrency or default_concurrency(
            self.options.requests_per_minute / 60 / PACE_MARGIN, cap=MAX_CONCURRENCY)
        self.client.widen_pool(self.concurrency)

    def __repr__(self) -> str:
        return f"ChargebeeConnector({self.base_url!r}, product_catalog={self.catalog!r})"

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        """Plans, customers, subscriptions, then invoices (the order the engine relies on)."""
        api = ChargebeeApi(self.client, self.page_size)
        windowed = Windowed(api, self.concurrency, datetime.now(UTC))
        plans = PlansStream(api, self.catalog)
        yield from plans.read(window)
        yield from CustomersStream(api, windowed).read(window)
        yield from SubscriptionsStream(api, windowed).read(window)
        yield from InvoicesStream(api, plans.periods, plans.one_time, windowed).read(window)

    def close(self) -> None:
        self.client.close()
