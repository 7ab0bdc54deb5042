"""What each API connector's client is assembled with when nothing is injected: the base URL,
fixed headers, timeouts, classifier, pace and retry policy. Pinned so that moving the
assembly into the kit (``saasync.kit.api``) changes nothing a vendor would see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from saasync.connector import ConnectorContext
from saasync.http import (
    BearerAuth,
    HttpClient,
    RetryPolicy,
    SlidingWindowLimiter,
    Timeouts,
    UnlimitedLimiter,
)
from saasync.http.oauth2 import OAuth2JsonClient
from saasync.kit.api import ApiKey, ApiSpec, Pacing, api_client
from saasync_connectors.chargebee.connector import ChargebeeConnector, classify
from saasync_connectors.gaiia.connector import GaiiaConnector, classify_gaiia
from saasync_connectors.quickbooks.connector import QuickBooksConnector
from saasync_connectors.recurly.connector import ACCEPT, RecurlyConnector, classify_recurly
from saasync_connectors.stripe.connector import StripeConnector, classify_stripe
from saasync_connectors.xero.connector import XeroConnector
from tests.connectors.accounting.fake_server import MemoryTokenStore

KEY = "k_do_not_show_0123456789"
OAUTH_ENV = {f"{p}_{n}": f"{p.lower()}-{n.lower()}-secret" for p in ("QUICKBOOKS", "XERO")
             for n in ("CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN")}


def pace(client: HttpClient) -> tuple[int, float, int | None] | None:
    limiter = client.limiter
    if isinstance(limiter, UnlimitedLimiter):
        return None
    assert isinstance(limiter, SlidingWindowLimiter)
    return limiter.rate, limiter.per, limiter.max_concurrent


def retry(client: HttpClient) -> tuple[int, float, float, float, float]:
    policy = client.retry
    return (policy.max_attempts, policy.base, policy.cap, policy.deadline,
            policy.max_retry_after)


def header(client: HttpClient, name: str) -> str | None:
    value = client._session.headers.get(name)  # what goes out on every request
    return value if value is None else str(value)


def stripe(key: str = KEY, **options: Any) -> HttpClient:
    made = StripeConnector(options, ConnectorContext(env={"STRIPE_API_KEY": key}))
    return made.client


def stripe_live(**options: Any) -> HttpClient:
    return stripe("sk_live_" + KEY, **options)


def stripe_restricted_test(**options: Any) -> HttpClient:
    return stripe("rk_test_" + KEY, **options)


def chargebee(**options: Any) -> HttpClient:
    return ChargebeeConnector({"site": "acme", **options},
                              ConnectorContext(env={"CHARGEBEE_API_KEY": KEY})).client


def recurly(**options: Any) -> HttpClient:
    return RecurlyConnector(options, ConnectorContext(env={"RECURLY_API_KEY": KEY})).api.client


def gaiia(**options: Any) -> HttpClient:
    return GaiiaConnector(options, ConnectorContext(env={"GAIIA_API_KEY": KEY})).api.client


def oauth(made: QuickBooksConnector | XeroConnector) -> HttpClient:
    requester = made.api.requester
    assert isinstance(requester, OAuth2JsonClient)
    assert requester.manager is made.tokens
    return requester.client


def quickbooks(**options: Any) -> HttpClient:
    context = ConnectorContext(env=OAUTH_ENV, tokens=MemoryTokenStore())
    return oauth(QuickBooksConnector({"realm_id": "123", **options}, context))


def xero(**options: Any) -> HttpClient:
    context = ConnectorContext(env=OAUTH_ENV, tokens=MemoryTokenStore())
    return oauth(XeroConnector({"tenant_id": "t-1", **options}, context))


DEFAULT_RETRY = (6, 0.5, 30.0, 300.0, 120.0)
CASES: list[tuple[str, Callable[..., HttpClient], dict[str, Any], str,
                  tuple[int, float, int | None] | None, tuple[int, float, float, float, float],
                  Timeouts]] = [
    # Stripe paces at the key mode's limit spread over 1.05 s: a key of no known mode is
    # taken for a test key (25 a second), a live one (sk_live_, rk_live_) gets 100.
    ("stripe", stripe, {}, "https://api.stripe.com", (25, 1.05, None), DEFAULT_RETRY, Timeouts()),
    ("stripe live", stripe_live, {}, "https://api.stripe.com", (100, 1.05, None), DEFAULT_RETRY,
     Timeouts()),
    ("stripe restricted test", stripe_restricted_test, {}, "https://api.stripe.com",
     (25, 1.05, None), DEFAULT_RETRY, Timeouts()),
    ("stripe slow", stripe, {"requests_per_second": 0.5}, "https://api.stripe.com",
     (1, 2.0, None), DEFAULT_RETRY, Timeouts()),
    ("stripe fractional", stripe, {"requests_per_second": 7.9, "base_url": "http://h/v1/"},
     "http://h", (7, 1.0, None), DEFAULT_RETRY, Timeouts()),
    # Chargebee: requests_per_minute is the site's limit, spread over 63 s (5 % under it).
    ("chargebee", chargebee, {}, "https://acme.chargebee.com/api/v2", (150, 63.0, None),
     DEFAULT_RETRY, Timeouts(30.0, 80.0)),
    ("chargebee fast", chargebee, {"requests_per_minute": 3500},
     "https://acme.chargebee.com/api/v2", (3500, 63.0, None), DEFAULT_RETRY, Timeouts(30.0, 80.0)),
    ("recurly", recurly, {}, "https://v3.recurly.com", (900, 60.0, None),
     (6, 0.5, 30.0, 900.0, 330.0), Timeouts()),
    ("recurly sandbox", recurly, {"requests_per_minute": 350}, "https://v3.recurly.com",
     (350, 60.0, None), (6, 0.5, 30.0, 900.0, 330.0), Timeouts()),
    ("gaiia", gaiia, {}, "https://api.gaiia.com/api/v1", None, DEFAULT_RETRY, Timeouts()),
    ("quickbooks", quickbooks, {}, "https://quickbooks.api.intuit.com/v3/company/123",
     (8, 1.0, None), (6, 0.5, 30.0, 600.0, 120.0), Timeouts()),
    ("quickbooks sandbox", quickbooks, {"sandbox": True},
     "https://sandbox-quickbooks.api.intuit.com/v3/company/123", (8, 1.0, None),
     (6, 0.5, 30.0, 600.0, 120.0), Timeouts()),
    ("xero", xero, {}, "https://api.xero.com/api.xro/2.0", (55, 60.0, 5),
     (6, 0.5, 30.0, 600.0, 90.0), Timeouts()),
]


@pytest.mark.parametrize(("build", "options", "base_url", "paced", "retried", "timeouts"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_assembled_client(build: Callable[..., HttpClient], options: dict[str, Any],
                              base_url: str, paced: tuple[int, float, int | None] | None,
                              retried: tuple[int, float, float, float, float],
                              timeouts: Timeouts) -> None:
    client = build(**options)
    assert client.base_url == base_url
    assert pace(client) == paced
    assert retry(client) == retried
    assert client.timeouts == timeouts
    assert KEY not in repr(client)
    assert (header(client, "User-Agent") or "").startswith("saasync/")


def test_headers_and_classifiers() -> None:
    made = stripe(api_version="2024-06-20")
    assert header(made, "Stripe-Version") == "2024-06-20"
    assert made.classifier is classify_stripe
    assert chargebee().classifier is classify
    assert header(chargebee(), "Accept") == "application/json"
    assert header(recurly(), "Accept") == ACCEPT and recurly().classifier is classify_recurly
    assert gaiia().classifier is classify_gaiia
    assert header(gaiia(), "Accept") == "application/json"
    assert header(xero(), "xero-tenant-id") == "t-1"
    assert header(quickbooks(), "xero-tenant-id") is None


def test_secrets_are_registered() -> None:
    for client in (stripe(), chargebee(), recurly(), gaiia()):
        assert KEY not in client.secrets.mask(f"sent {KEY}")
    for oauth_client, prefix in ((quickbooks(), "QUICKBOOKS"), (xero(), "XERO")):
        secret = OAUTH_ENV[f"{prefix}_CLIENT_SECRET"]
        assert secret not in oauth_client.secrets.mask(f"sent {secret}")


def test_what_a_test_injects_wins_over_the_declared_defaults() -> None:
    policy, budget = RetryPolicy(max_attempts=1), UnlimitedLimiter()
    spec = ApiSpec("demo", "https://api.example", ApiKey("DEMO_KEY", BearerAuth),
                   pacing=Pacing.per_minute(10), retry=lambda: RetryPolicy(deadline=1.0))
    context = ConnectorContext(env={"DEMO_KEY": KEY})
    injected = api_client(spec, context, retry=policy, limiter=budget)
    assert injected.retry is policy and injected.limiter is budget
    declared = api_client(spec, context)
    assert declared.retry.deadline == 1.0 and pace(declared) == (10, 60.0, None)
