"""The Stripe connector: plans, customers, subscriptions and invoices read from Stripe's REST API.

Stripe objects carry no update time and invoices can only be filtered on ``created``, so
an incremental read is two passes: what was *created* since the cursor (listed in
ascending ``created`` windows), and what *changed* since it, found through
``GET /v1/events`` and re-read by id with the pinned API version. Stripe keeps events for
30 days: a cursor older than that cannot be served from events, and the read becomes a
full re-scan. Records the events name carry the newest event's time as ``updated_at``,
in every mode, so a record reads the same however it was found. Quirks: ``BEHAVIOR.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

import requests
import structlog
from pydantic import BeforeValidator

from saasync.connector import ConnectorContext, Quarantined, ReadWindow
from saasync.connector_options import ConnectorOptions, option
from saasync.http import BearerAuth, Outcome, RateLimiter, RetryPolicy, classify_response
from saasync.kit.api import ApiKey, ApiSpec, Pacing, api_client
from saasync.kit.windows import default_concurrency, parts_for, probe_start
from saasync.kit.windows import plan as plan_windows
from saasync.models import SourceRecord, to_utc

from .streams import (
    Changes,
    Created,
    CustomersStream,
    EventsStream,
    InvoicesStream,
    PlansStream,
    StripeApi,
    SubscriptionsStream,
)

log = structlog.get_logger("saasync.connectors.stripe")

DEFAULT_API_VERSION = "2025-03-31.basil"
EVENT_RETENTION = timedelta(days=30)
LIVE_LIMIT, TEST_LIMIT = 100, 25  # read requests a second (docs.stripe.com/rate-limits)
PACE_MARGIN = 1.05  # seconds the limit is spread over: 5 % under it
#: Stripe's launch: no object is older; where a full read's windows start at the latest.
STRIPE_EPOCH = datetime(2011, 1, 1, tzinfo=UTC)
# Events near the 30-day edge may expire while a run pages through them: keep clear of it.
RETENTION_MARGIN = timedelta(hours=1)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _base_url(value: Any) -> str:
    return _text(value).rstrip("/").removesuffix("/v1")  # the calls name /v1/… themselves


def _number(kind: type, low: float, high: float) -> BeforeValidator:
    def check(value: Any) -> Any:
        if value is None:
            return None  # only the options whose default is None (the key decides)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not isinstance(value, int)
        ) or not low <= value <= high:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"must be {what} from {low:g} to {high:g}, got {value!r}")
        return kind(value)
    return BeforeValidator(check)


class StripeOptions(ConnectorOptions):
    """The connector's options (BEHAVIOR.md); anything else is a ConfigError."""

    connector: ClassVar[str] = "stripe"

    api_key_env: Annotated[str, BeforeValidator(_text)] = option(
        "STRIPE_API_KEY", "variable holding a restricted read-only key (or a secret key)",
        example='"STRIPE_API_KEY"', active=True)
    base_url: Annotated[str, BeforeValidator(_base_url)] = option(
        "https://api.stripe.com", "where /v1/... is served (a proxy or a local test server)",
        example='"https://api.stripe.com"')
    api_version: Annotated[str, BeforeValidator(_text)] = option(
        DEFAULT_API_VERSION, "the Stripe-Version every request is pinned to",
        example=f'"{DEFAULT_API_VERSION}"')
    page_size: Annotated[int, _number(int, 1, 100)] = option(
        100, "objects per list call, 1-100", example="100")
    window_days: Annotated[int, _number(int, 1, 3650)] = option(
        30, "width of the created-date windows new invoices are listed in", example="30")
    requests_per_second: Annotated[float | None, _number(float, 0.1, 100)] = option(
        None, "client-side pace, 0.1-100; default from the key's mode: 100 a second for a live "
        "key (sk_live_, rk_live_), 25 for a test key, each paced 5 % under", example="25.0")
    concurrency: Annotated[int | None, _number(int, 1, 64)] = option(
        None, "list calls in flight at once, 1-64, each over its own created-date window "
        "(1 reads one list at a time); default: enough for the pace at 0.4 s a page, at most "
        "32", example="10")


def _error_text(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    if not isinstance(error, dict):
        return None
    parts = [str(error[k]) for k in ("type", "code", "message") if error.get(k)]
    return ": ".join(parts) or None


def classify_stripe(response: requests.Response) -> Outcome:
    """What a Stripe answer means. ``Stripe-Should-Retry`` wins when present (``false``:
    never retry, even a 429 or 5xx; ``true``: retry); otherwise 429 (rate limits and
    ``lock_timeout``) waits, 5xx retries, 409 never retries, as Stripe's SDKs do."""
    status = response.status_code
    if 200 <= status < 300:
        return Outcome.ok()
    text = _error_text(response)
    if status in (401, 403):
        return Outcome.auth_error(text)
    should = response.headers.get("Stripe-Should-Retry", "").strip().lower()
    if should == "false":
        if status == 429 or status >= 500:
            return Outcome.fatal(f"Stripe-Should-Retry: false; {text or 'no detail'}")
        return Outcome.bad_record(text)
    if should == "true" or status >= 500:
        return Outcome.rate_limited(message=text) if status == 429 else Outcome.retry(message=text)
    if status == 429:
        return Outcome.rate_limited(message=text)
    if 400 <= status < 500:
        return Outcome.bad_record(text)
    return classify_response(response)


def key_limit(key: str) -> int:
    """Stripe's documented read limit for the key's mode: 100 requests a second for a live
    key (``sk_live_``, ``rk_live_``), 25 in test mode (``sk_test_``, ``rk_test_``, and any
    key whose mode cannot be told, the safe side)."""
    return LIVE_LIMIT if key.startswith(("sk_live_", "rk_live_")) else TEST_LIMIT


def pacing(options: StripeOptions, key: str = "") -> Pacing:
    """``requests_per_second`` when given; else the key's limit per 1.05 s (5 % under, as
    our window and Stripe's never line up exactly)."""
    if options.requests_per_second is not None:
        return Pacing.per_second(options.requests_per_second)
    return Pacing(key_limit(key), PACE_MARGIN)


def api_spec(options: StripeOptions, key: str = "") -> ApiSpec[ApiKey]:
    """Stripe's API as this connection reaches it: a bearer key, every request pinned to
    ``api_version``, paced at ``requests_per_second`` or the key's limit."""
    return ApiSpec("stripe", options.base_url, ApiKey(options.api_key_env, BearerAuth),
                   classify_stripe, headers={"Stripe-Version": options.api_version},
                   pacing=pacing(options, key))


@dataclass(frozen=True)
class ReadPlan:
    """Which calls one read makes."""

    events_since: datetime | None  # None: every event Stripe still holds
    listed: list[Created]  # customers and subscriptions
    invoice_windows: list[Created]
    refetch: bool  # re-read by id what the events name and the lists did not return


CHECKPOINT_MARGIN = timedelta(minutes=5)


def windows(start: datetime | None, end: datetime | None, step: timedelta,
            now: datetime) -> list[Created]:
    """Ascending ``created`` windows over ``[start, end)``; the last is open-ended when
    ``end`` is None, so an invoice stamped after our clock's now is still found."""
    if start is None:
        return [(None, end)]
    out: list[Created] = []
    low = start
    while end is None or low < end:
        high = low + step
        if end is not None and high >= end:
            out.append((low, end))
            break
        if end is None and high > now:
            out.append((low, None))
            break
        out.append((low, high))
        low = high
    return out


def pieces(parents: list[Created], now: datetime, oldest: Callable[[], datetime | None],
           concurrency: int) -> list[Created]:
    """Each window cut into pieces (``plan``), newest piece first, as Stripe lists newest
    first: read in that order, the pieces hand on the objects in the order one list of the
    window would. A window open at the start is cut from ``oldest()`` on."""
    share = max(1, -(-concurrency // max(1, len(parents))))
    out: list[Created] = []
    for start, end in parents:
        out.extend(reversed(plan_windows(start, end, now, oldest, share)))
    return out


class StripeConnector:
    """Reads a Stripe account with a secret (or restricted read-only) key."""

    name: ClassVar[str] = "stripe"
    options_model: ClassVar[type[ConnectorOptions]] = StripeOptions

    def __init__(self, options: Mapping[str, Any], context: ConnectorContext, *,
                 clock: Callable[[], datetime] | None = None, retry: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None,
                 session: requests.Session | None = None) -> None:
        self.options: StripeOptions = StripeOptions.parse(options)
        spec = api_spec(self.options, context.env.get(self.options.api_key_env, ""))
        self.client = api_client(spec, context, retry=retry, limiter=limiter, session=session)
        self.concurrency = self.options.concurrency or default_concurrency(
            spec.pacing.rate / spec.pacing.per if spec.pacing else TEST_LIMIT)
        self.client.widen_pool(self.concurrency)
        self.api = StripeApi(self.client, self.options.page_size)
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))
        self._checkpoint_at: datetime | None = None

    def close(self) -> None:
        self.client.close()

    def plan(self, window: ReadWindow, now: datetime) -> ReadPlan:
        since = to_utc(window.since) if window.since is not None else None
        step = timedelta(days=self.options.window_days)
        everything: list[Created] = [(None, None)]
        if window.mode == "backfill":
            until = to_utc(window.until) if window.until is not None else None
            return ReadPlan(None, everything, windows(since, until, step, now), False)
        if since is None or since < now - EVENT_RETENTION + RETENTION_MARGIN:
            if since is not None:
                log.warning("stripe.full_rescan", since=since.isoformat(),
                            reason="the cursor is older than Stripe's 30-day event retention")
            return ReadPlan(None, everything, everything, False)
        return ReadPlan(since, [(since, None)], windows(since, None, step, now), True)

    def split(self, plan: ReadPlan, now: datetime) -> tuple[list[Created], list[Created]]:
        """The plan's windows, each cut into newer-first pieces read at once (concurrency
        above 1); a window open at the start is cut from the oldest customer on."""
        if self.concurrency <= 1:
            return plan.listed, plan.invoice_windows
        oldest: list[datetime | None] = []

        def start() -> datetime | None:
            if not oldest:
                oldest.append(probe_start(self.api.has_before, STRIPE_EPOCH, now,
                                          probes=self.concurrency,
                                          parts=parts_for(self.concurrency)))
            return oldest[0]

        return (pieces(plan.listed, now, start, self.concurrency),
                pieces(plan.invoice_windows, now, start, self.concurrency))

    def checkpoint(self) -> datetime | None:
        """After a complete incremental read: everything up to the read's start (less a margin
        for events still being written) has been seen, even on an account where nothing
        changed, so the engine's cursor moves and the next run does not re-scan in full."""
        return self._checkpoint_at

    def read(self, window: ReadWindow) -> Iterator[SourceRecord | Quarantined]:
        started = self._clock()
        self._checkpoint_at = None
        plan = self.plan(window, started)
        changes: Changes = EventsStream(self.api).changes(plan.events_since)
        plans = PlansStream(self.api)
        yield from plans.read([(None, None)], changes)
        listed, invoiced = self.split(plan, started)
        many = self.concurrency
        yield from CustomersStream(self.api).read(listed, changes, refetch=plan.refetch,
                                                  concurrency=many)
        yield from SubscriptionsStream(self.api).read(listed, changes, refetch=plan.refetch,
                                                      concurrency=many)
        invoices = InvoicesStream(self.api, lambda: plans.recurring_ids)
        yield from invoices.read(invoiced, changes, refetch=plan.refetch, concurrency=many)
        if window.mode == "incremental":
            self._checkpoint_at = started - CHECKPOINT_MARGIN

