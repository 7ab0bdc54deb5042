"""One base for API sources: a connector declares its API, the kit assembles the client.

A connector states what it knows about its vendor in an :class:`ApiSpec` (built from its
checked options): the base URL, the auth (:class:`ApiKey` read from the environment, or
OAuth2 settings), the classifier, fixed headers, timeouts, the default pace and the
default retry policy. :func:`api_client` turns that into the one client: an
:class:`~saasync.http.client.HttpClient`, or for OAuth2 an
:class:`~saasync.http.oauth2.OAuth2JsonClient` (token manager, 401 round trip).

What a test or an embedding injects wins over the declared default: ``retry`` (a policy
with a no-op sleep), ``limiter`` (a shared budget, or none), ``session`` (a mock).
Paginators stay with each connector's streams: they take per-call arguments (a query
statement, the list's key), so there is no one factory to declare.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, overload

import requests

from saasync.connector import ConnectorContext
from saasync.errors import ConfigError
from saasync.http.auth import SecretAuth, read_secret
from saasync.http.client import HttpClient, ResponseClassifier, Timeouts, classify_response
from saasync.http.oauth2 import OAuth2JsonClient, OAuth2Settings, oauth2_json_client
from saasync.http.ratelimit import RateLimiter, SlidingWindowLimiter
from saasync.http.retry import RetryPolicy


@dataclass(frozen=True)
class Pacing:
    """The client-side pace: at most ``rate`` request starts in any ``per`` seconds, and at
    most ``max_concurrent`` in flight (None: no cap)."""

    rate: int
    per: float = 1.0
    max_concurrent: int | None = None

    @classmethod
    def per_minute(cls, rate: int, *, max_concurrent: int | None = None) -> Pacing:
        return cls(rate, 60.0, max_concurrent)

    @classmethod
    def per_second(cls, rate: float) -> Pacing:
        """``rate`` requests a second, fractions too: 0.5 is one request every 2 s; above
        one a second the rate is rounded down (7.9 is 7 a second)."""
        return cls(max(int(rate), 1), max(1.0, 1.0 / rate))

    def limiter(self) -> SlidingWindowLimiter:
        return SlidingWindowLimiter(self.rate, self.per, max_concurrent=self.max_concurrent)


@dataclass(frozen=True)
class ApiKey:
    """A key held by the environment variable ``env_var``, sent by ``scheme``
    (``BearerAuth``, ``BasicAuth.api_key``, a header). With ``option`` set, a missing
    variable's ConfigError also names the option that named the variable."""

    env_var: str
    scheme: Callable[[str], SecretAuth]
    option: str | None = None

    def auth(self, connector: str, env: Mapping[str, str]) -> SecretAuth:
        try:
            key = read_secret(env, self.env_var)
        except ConfigError as exc:
            if self.option is None:
                raise
            raise ConfigError(f"{connector} connector: option {self.option!r}: {exc}") from None
        return self.scheme(key)


A = TypeVar("A", ApiKey, OAuth2Settings)


@dataclass(frozen=True)
class ApiSpec(Generic[A]):
    """Everything a connector states about its vendor's API; :func:`api_client` builds it.

    ``pacing`` None sends unpaced; ``retry`` makes the default policy (the vendor's limits
    decide how long a wait may be); ``connector`` names it in error messages.
    """

    connector: str
    base_url: str
    auth: A
    classifier: ResponseClassifier = classify_response
    headers: Mapping[str, str] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    pacing: Pacing | None = None
    retry: Callable[[], RetryPolicy] = RetryPolicy


@overload
def api_client(spec: ApiSpec[ApiKey], context: ConnectorContext, *,
               retry: RetryPolicy | None = None, limiter: RateLimiter | None = None,
               session: requests.Session | None = None) -> HttpClient: ...


@overload
def api_client(spec: ApiSpec[OAuth2Settings], context: ConnectorContext, *,
               retry: RetryPolicy | None = None, limiter: RateLimiter | None = None,
               session: requests.Session | None = None) -> OAuth2JsonClient: ...


def api_client(spec: ApiSpec[ApiKey] | ApiSpec[OAuth2Settings], context: ConnectorContext, *,
               retry: RetryPolicy | None = None, limiter: RateLimiter | None = None,
               session: requests.Session | None = None) -> HttpClient | OAuth2JsonClient:
    """The connector's client, from its spec and the run's context (env, token store).

    ``retry``, ``limiter`` and ``session`` replace the declared defaults (tests, a shared
    budget). A base URL the client cannot use is a ConfigError naming option 'base_url'.
    """
    policy = retry if retry is not None else spec.retry()
    pace = limiter if limiter is not None else (
        spec.pacing.limiter() if spec.pacing is not None else None)
    if isinstance(spec.auth, OAuth2Settings):
        return oauth2_json_client(spec.auth, context, spec.base_url, classifier=spec.classifier,
                                  retry=policy, limiter=pace, headers=spec.headers or None,
                                  timeouts=spec.timeouts, session=session)
    auth = spec.auth.auth(spec.connector, context.env)
    try:
        return HttpClient(spec.base_url, auth=auth, headers=spec.headers or None,
                          timeouts=spec.timeouts, classifier=spec.classifier, retry=policy,
                          limiter=pace, session=session)
    except ValueError as exc:
        raise ConfigError(f"{spec.connector} connector: option 'base_url': {exc}") from exc
