"""The HTTP client every connector and destination uses: one session, paced, retried, redacted.

A request goes: rate limiter -> send -> classifier -> (ok | error). The classifier says
what a response *means* (an :class:`Outcome`); :class:`~saasync.http.retry.RetryPolicy`
says how long to wait before the next attempt. Connectors whose APIs signal trouble in
their own way (Stripe's ``Stripe-Should-Retry``, gaiia's HTTP 200 carrying
``RATE_LIMITED``) pass their own classifier, usually one that handles its special case
and defers to :func:`classify_response` for the rest. Connectors never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Self
from urllib.parse import urlsplit

import requests
import requests.adapters
import structlog
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter

from saasync import __version__
from saasync.errors import (
    AuthError,
    BadRecordError,
    FatalError,
    QuotaExhaustedError,
    RateLimitedError,
    RetriableError,
)
from saasync.http.auth import SecretAuth
from saasync.http.ratelimit import RateLimiter, UnlimitedLimiter
from saasync.http.redact import SecretRegistry, redact_url, redact_value
from saasync.http.retry import RetryPolicy

#: Transient statuses worth another attempt. 520-524 are Cloudflare's origin errors,
#: which the official ChartMogul Python client retries too.
RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_MAX_MESSAGE = 500
DEFAULT_POOL = 10  # requests' connections kept per host


class OutcomeKind(StrEnum):
    """What a response means for the caller."""

    OK = "ok"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    AUTH_ERROR = "auth_error"
    BAD_RECORD = "bad_record"
    FATAL = "fatal"
    QUOTA_EXHAUSTED = "quota_exhausted"


@dataclass(frozen=True)
class Outcome:
    """A classifier's verdict. ``after`` (seconds) or ``at`` (an instant) is the server's
    own wait, if it gave one; None lets the policy read the headers or back off."""

    kind: OutcomeKind
    after: float | None = None
    at: datetime | None = None
    message: str | None = None

    @classmethod
    def ok(cls) -> Outcome:
        return cls(OutcomeKind.OK)

    @classmethod
    def retry(cls, after: float | None = None, *, at: datetime | None = None,
              message: str | None = None) -> Outcome:
        return cls(OutcomeKind.RETRY, after, at, message)

    @classmethod
    def rate_limited(cls, after: float | None = None, *, at: datetime | None = None,
                     message: str | None = None) -> Outcome:
        return cls(OutcomeKind.RATE_LIMITED, after, at, message)

    @classmethod
    def auth_error(cls, message: str | None = None) -> Outcome:
        return cls(OutcomeKind.AUTH_ERROR, message=message)

    @classmethod
    def bad_record(cls, message: str | None = None) -> Outcome:
        return cls(OutcomeKind.BAD_RECORD, message=message)

    @classmethod
    def fatal(cls, message: str | None = None) -> Outcome:
        return cls(OutcomeKind.FATAL, message=message)

    @classmethod
    def quota_exhausted(cls, message: str | None = None) -> Outcome:
        return cls(OutcomeKind.QUOTA_EXHAUSTED, message=message)


ResponseClassifier = Callable[[requests.Response], Outcome]


def classify_response(response: requests.Response) -> Outcome:
    """The default meaning of a status code; vendor classifiers defer to it."""
    status = response.status_code
    if 200 <= status < 300:
        return Outcome.ok()
    if status in (401, 403):
        return Outcome.auth_error()
    if status == 429:
        return Outcome.rate_limited()
    if status in RETRY_STATUSES:
        return Outcome.retry()
    if 300 <= status < 400:
        # Redirects are not followed: requests would carry vendor key headers to the new host.
        return Outcome.fatal(f"unexpected redirect to {response.headers.get('Location', '?')}")
    if 400 <= status < 500:
        return Outcome.bad_record()
    return Outcome.fatal()


def _pooled_session(limiter: RateLimiter) -> requests.Session:
    """A session that keeps as many connections to a host as the limiter lets be in
    flight (requests keeps 10; an eleventh parallel request would open and drop one)."""
    session = requests.Session()
    in_flight = getattr(limiter, "max_concurrent", None)
    if isinstance(in_flight, int) and in_flight > DEFAULT_POOLSIZE:
        for prefix in ("https://", "http://"):
            session.mount(prefix, HTTPAdapter(pool_maxsize=in_flight))
    return session


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and to wait for a response byte. Never infinite: a hung
    connection must become a retriable error, not a stuck run."""

    connect: float = 10.0
    read: float = 60.0


class HttpClient:
    """One vendor's API: base URL, auth, session, pacing, retries and safe logging.

    Requests to absolute URLs are allowed only on the base URL's host, so a pagination
    link cannot send the credentials elsewhere.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: SecretAuth | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts = Timeouts(),
        classifier: ResponseClassifier = classify_response,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        secrets: SecretRegistry | None = None,
        extra_secrets: Iterable[str] = (),
        logger: Any = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc.lower())
        self.timeouts = timeouts
        self.classifier = classifier
        self.retry = retry if retry is not None else RetryPolicy()
        self.limiter: RateLimiter = limiter if limiter is not None else UnlimitedLimiter()
        self.secrets = secrets if secrets is not None else SecretRegistry()
        for secret in (*(auth.secrets if auth is not None else ()), *extra_secrets):
            self.secrets.register(secret)
        self._log = logger if logger is not None else structlog.get_logger("saasync.http")
        self._clock = clock
        self._session = session if session is not None else _pooled_session(self.limiter)
        self._session.auth = auth
        self._session.headers.update({"User-Agent": f"saasync/{__version__}",
                                      "Accept": "application/json"})
        self._session.headers.update(headers or {})

    def __repr__(self) -> str:
        return f"HttpClient({self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the session's pooled connections."""
        self._session.close()

    def widen_pool(self, size: int) -> None:
        """Keep up to ``size`` open connections per host (requests keeps 10): one for each
        thread that sends at once, so none is opened and dropped for every request."""
        if size > DEFAULT_POOL:
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=size)
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)

    def url_for(self, path_or_url: str) -> str:
        """Absolute URL for a path under the base URL, or a checked same-host absolute URL."""
        parts = urlsplit(path_or_url)
        if not parts.scheme:
            return f"{self.base_url}/{path_or_url.lstrip('/')}"
        if (parts.scheme, parts.netloc.lower()) != self._origin:
            raise FatalError(
                f"refusing to send credentials to {parts.scheme}://{parts.netloc}: "
                f"not the configured host {self._origin[0]}://{self._origin[1]}"
            )
        return path_or_url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send with pacing and retries; return a response the classifier called ok.

        Raises AuthError, BadRecordError (status and parsed body attached), FatalError,
        QuotaExhaustedError; FatalError also when retries run out (cause: the last error).
        """
        method = method.upper()
        url = self.url_for(path_or_url)
        shown = redact_url(_with_params(url, params), self.secrets)
        what = f"{method} {shown}"
        attempts = 0

        def attempt() -> requests.Response:
            nonlocal attempts
            attempts += 1
            return self._attempt(method, url, params, json, headers, what, shown, attempts)

        def on_retry(number: int, wait: float, error: BaseException) -> None:
            self._log.info("http.retry", method=method, url=shown, attempt=number,
                           wait_s=round(wait, 3), error=self.secrets.mask(str(error)))

        return self.retry.call(attempt, what=what, on_retry=on_retry)

    def request_json(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                     json: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """:meth:`request`, then the decoded body (None for an empty body such as a 204)."""
        response = self.request(method, path_or_url, params=params, json=json, headers=headers)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise FatalError(
                f"{method.upper()} {redact_url(response.url or '', self.secrets)} answered "
                f"{response.status_code} with a body that is not JSON: {self._snippet(response.text)}"
            ) from None

    def get_json(self, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        """GET and decode JSON."""
        return self.request_json("GET", path_or_url, params=params, headers=headers)

    def post_json(self, path_or_url: str, json: Any, *, params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None) -> Any:
        """POST a JSON body and decode the JSON answer."""
        return self.request_json("POST", path_or_url, params=params, json=json, headers=headers)

    # -- one attempt ----------------------------------------------------------------------

    def _attempt(self, method: str, url: str, params: Mapping[str, Any] | None, json: Any,
                 headers: Mapping[str, str] | None, what: str, shown: str,
                 number: int) -> requests.Response:
        start = self._clock()
        response: requests.Response | None = None
        outcome: Outcome | None = None
        label = "error"
        try:
            with self.limiter.acquire():
                try:
                    response = self._session.request(
                        method, url, params=params, json=json, headers=headers,
                        timeout=(self.timeouts.connect, self.timeouts.read),
                        allow_redirects=False,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                    label = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
                    raise RetriableError(
                        f"{what}: {kind}: {self._snippet(str(exc))}"
                    ) from None
            outcome = self.classifier(response)
        finally:
            self._log.debug(
                "http.request", method=method, url=shown,
                status=response.status_code if response is not None else None,
                duration_ms=round((self._clock() - start) * 1000, 1),
                attempt=number, outcome=str(outcome.kind) if outcome else label,
            )
        assert outcome is not None and response is not None
        return self._act(outcome, response, what)

    def _act(self, outcome: Outcome, response: requests.Response, what: str) -> requests.Response:
        """Turn an outcome into the response or the error class of its recovery group."""
        kind = outcome.kind
        if kind is OutcomeKind.OK:
            return response
        status = response.status_code
        detail = self.secrets.mask(outcome.message) if outcome.message else self._snippet(response.text)
        message = f"{what} answered {status}: {detail}" if detail else f"{what} answered {status}"
        if kind in (OutcomeKind.RETRY, OutcomeKind.RATE_LIMITED):
            after = outcome.after
            if after is None and outcome.at is not None:
                after = self.retry.seconds_until(outcome.at)
            if after is None:
                after = self.retry.wait_hint(response.headers)
            error_cls = RateLimitedError if kind is OutcomeKind.RATE_LIMITED else RetriableError
            raise error_cls(message, retry_after=after)
        if kind is OutcomeKind.AUTH_ERROR:
            raise AuthError(f"{message} (credentials refused: check the API key's environment "
                            "variable and its permissions)")
        if kind is OutcomeKind.BAD_RECORD:
            raise BadRecordError(message, status=status, body=self._body(response))
        if kind is OutcomeKind.QUOTA_EXHAUSTED:
            raise QuotaExhaustedError(message)
        raise FatalError(message)

    def _body(self, response: requests.Response) -> Any:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:2000]
        return redact_value(body, self.secrets)

    def _snippet(self, text: str) -> str:
        text = self.secrets.mask(" ".join(text.split()))
        return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _with_params(url: str, params: Mapping[str, Any] | None) -> str:
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, dict(params) if params else None)
    return prepared.url or url
