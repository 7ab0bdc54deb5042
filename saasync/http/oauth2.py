"""OAuth2 refresh tokens with rotation, shared by the accounting connectors (QuickBooks, Xero).

Why this exists: both vendors hand out short-lived access tokens (QuickBooks about 60 min,
Xero 30 min) and *single-use* refresh tokens. Using a refresh token twice gets
``invalid_grant`` and locks the connection out until a person re-authorizes it. So:

- tokens live in the state store (``context.tokens``), keyed by the connection's name; the
  first run seeds them from the environment variable named by ``refresh_token_env``;
- a new token pair is saved the moment the token endpoint answers, before it is used;
- a stored access token with time left is reused, so most runs never refresh at all;
- a 401 on a data call refreshes once and resends; a second 401 stops the run;
- every token and the client secret are registered with the run's SecretRegistry, so no
  log line or error message can show them.

This module is part of the one HTTP layer: the token call is retried by the shared
:class:`~saasync.http.retry.RetryPolicy` (429, 5xx, connection errors), and data calls go
through the connector's :class:`~saasync.http.client.HttpClient`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog
from requests import PreparedRequest

from saasync.connector import ConnectorContext, TokenStore
from saasync.errors import AuthError, ConfigError, FatalError, RateLimitedError, RetriableError
from saasync.http.auth import SecretAuth
from saasync.http.client import RETRY_STATUSES, HttpClient, Outcome, ResponseClassifier, Timeouts
from saasync.http.ratelimit import RateLimiter
from saasync.http.redact import SecretRegistry
from saasync.http.retry import RetryPolicy, utcnow

OAUTH2_OPTIONS = ("client_id_env", "client_secret_env", "refresh_token_env", "token_url")
#: Refresh this long before the access token's stated expiry (clock skew, slow requests).
EXPIRY_MARGIN = timedelta(minutes=2)
_MAX_MESSAGE = 300


@dataclass(frozen=True)
class OAuth2Settings:
    """Where and how to refresh. Secrets are named by environment variable, never held here."""

    provider: str  # "QuickBooks", "Xero": for messages
    token_url: str
    client_id_env: str
    client_secret_env: str
    refresh_token_env: str
    reauthorize: str  # one sentence: how the user gets a new refresh token


def oauth2_settings(connector: str, options: Mapping[str, Any], *, provider: str,
                    default_token_url: str, env_prefix: str, reauthorize: str) -> OAuth2Settings:
    """The OAuth2 options of a connector, checked; env var names default to ``{PREFIX}_…``."""

    def env_name(option: str, default: str) -> str:
        value = options.get(option, default)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{connector} connector: option {option!r} must name an "
                              f"environment variable, got {value!r}")
        return value.strip()

    token_url = options.get("token_url", default_token_url)
    parts = urlsplit(token_url if isinstance(token_url, str) else "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{connector} connector: option 'token_url' must be an absolute "
                          f"http(s) URL such as {default_token_url}, got {token_url!r}")
    return OAuth2Settings(
        provider=provider,
        token_url=str(token_url).strip(),
        client_id_env=env_name("client_id_env", f"{env_prefix}_CLIENT_ID"),
        client_secret_env=env_name("client_secret_env", f"{env_prefix}_CLIENT_SECRET"),
        refresh_token_env=env_name("refresh_token_env", f"{env_prefix}_REFRESH_TOKEN"),
        reauthorize=reauthorize,
    )


@dataclass(frozen=True)
class TokenSet:
    """What the state store keeps for one connection (``as_doc`` is the stored form)."""

    refresh_token: str
    access_token: str | None = None
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    seed_sha256: str | None = None  # fingerprint of the env seed these tokens descend from
    refreshed_at: datetime | None = None

    def as_doc(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"refresh_token": self.refresh_token, "access_token": self.access_token,
                "expires_at": iso(self.expires_at),
                "refresh_token_expires_at": iso(self.refresh_expires_at),
                "seed_sha256": self.seed_sha256, "refreshed_at": iso(self.refreshed_at)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> TokenSet | None:
        """None for a document without a refresh token (nothing usable was stored)."""
        refresh = doc.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            return None

        def when(name: str) -> datetime | None:
            value = doc.get(name)
            try:
                parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                return None
            return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed

        access = doc.get("access_token")
        return cls(refresh, access if isinstance(access, str) and access else None,
                   when("expires_at"), when("refresh_token_expires_at"),
                   doc.get("seed_sha256") if isinstance(doc.get("seed_sha256"), str) else None,
                   when("refreshed_at"))


def fingerprint(secret: str) -> str:
    """A one-way fingerprint, so the store can tell a new env seed from the one it started with."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _env_secret(env: Mapping[str, str], var: str, what: str) -> str:
    value = env.get(var, "").strip()
    if not value:
        raise ConfigError(f"environment variable {var} is not set or empty; it must hold {what}")
    return value


class TokenManager:
    """Keeps a valid access token for one connection, refreshing and saving with rotation.

    Thread-safe: one refresh at a time, and a caller whose token was rejected after
    another thread already refreshed gets the new token instead of refreshing again.
    """

    def __init__(self, settings: OAuth2Settings, env: Mapping[str, str], *,
                 store: TokenStore | None, connection: str, secrets: SecretRegistry,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 now: Callable[[], datetime] = utcnow, timeouts: Timeouts | None = None,
                 logger: Any = None) -> None:
        self.settings = settings
        self.connection = connection
        self._store = store
        self._secrets = secrets
        self._retry = retry if retry is not None else RetryPolicy()
        self._session = session if session is not None else requests.Session()
        self._now = now
        self._timeouts = timeouts if timeouts is not None else Timeouts()
        self._log = logger if logger is not None else structlog.get_logger("saasync.oauth2")
        self._lock = threading.Lock()
        client_id = _env_secret(env, settings.client_id_env,
                                f"the {settings.provider} app's OAuth2 client id")
        client_secret = _env_secret(env, settings.client_secret_env,
                                    f"the {settings.provider} app's OAuth2 client secret")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._basic = f"Basic {basic}"
        for secret in (client_secret, basic):
            secrets.register(secret)
        self._tokens = self._initial(env.get(settings.refresh_token_env, "").strip() or None)

    def __repr__(self) -> str:
        return f"TokenManager({self.settings.provider!r}, connection={self.connection!r})"

    def _initial(self, seed: str | None) -> TokenSet:
        """Stored tokens, unless the env holds a seed they do not descend from (re-authorized)."""
        stored_doc = self._store.load_tokens(self.connection) if self._store is not None else None
        stored = TokenSet.from_doc(stored_doc) if stored_doc else None
        if seed is not None:
            self._secrets.register(seed)
        if stored is not None and (seed is None or stored.seed_sha256 == fingerprint(seed)):
            self._register(stored)
            return stored
        if seed is None:
            raise ConfigError(
                f"environment variable {self.settings.refresh_token_env} is not set or empty, "
                f"and no {self.settings.provider} tokens are stored for connection "
                f"{self.connection!r}: the first run needs the refresh token from authorizing "
                f"the app. {self.settings.reauthorize}")
        if stored is not None:
            self._log.info("oauth2.new_seed", connection=self.connection,
                           provider=self.settings.provider,
                           detail=f"using the new refresh token from "
                                  f"{self.settings.refresh_token_env}")
        return TokenSet(seed, seed_sha256=fingerprint(seed))

    def _register(self, tokens: TokenSet) -> None:
        for secret in (tokens.refresh_token, tokens.access_token):
            if secret:
                self._secrets.register(secret)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The current tokens (for an auth object's ``secrets``)."""
        return tuple(s for s in (self._tokens.access_token, self._tokens.refresh_token) if s)

    def access_token(self) -> str:
        """A token with time left, refreshing first if there is none."""
        with self._lock:
            tokens = self._tokens
            if tokens.access_token and tokens.expires_at and \
                    tokens.expires_at - EXPIRY_MARGIN > self._now():
                return tokens.access_token
            return self._refresh()

    def refresh(self, rejected: str | None = None) -> str:
        """Refresh now (the API refused ``rejected``); no-op if another caller already did."""
        with self._lock:
            current = self._tokens.access_token
            if rejected is not None and current is not None and current != rejected:
                return current
            return self._refresh()

    # -- the token call -------------------------------------------------------------------

    def _refresh(self) -> str:
        old = self._tokens
        response = self._retry.call(lambda: self._post(old.refresh_token),
                                    what=f"POST {self.settings.token_url} (token refresh)")
        body = self._json(response)
        if response.status_code != 200:
            raise self._refused(response.status_code, body)
        access = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise FatalError(f"{self.settings.provider} token endpoint answered 200 without an "
                             "access_token")
        now = self._now()
        refresh = body.get("refresh_token")
        new = replace(
            old,
            access_token=access,
            # Providers that do not rotate leave the refresh token out: keep the old one.
            refresh_token=refresh if isinstance(refresh, str) and refresh else old.refresh_token,
            expires_at=now + timedelta(seconds=_seconds(body.get("expires_in"), 1800)),
            refresh_expires_at=(now + timedelta(seconds=_seconds(
                body["x_refresh_token_expires_in"], 0))
                if "x_refresh_token_expires_in" in body else old.refresh_expires_at),
            refreshed_at=now,
        )
        self._register(new)
        self._tokens = new
        # Saved before anyone uses it: the old refresh token is now spent.
        if self._store is not None:
            self._store.save_tokens(self.connection, new.as_doc())
        else:
            self._log.warning("oauth2.no_token_store", connection=self.connection,
                              detail="rotated tokens are kept in memory only; the next run "
                                     "needs a fresh refresh token")
        self._log.info("oauth2.refreshed", connection=self.connection,
                       provider=self.settings.provider, expires_at=new.expires_at.isoformat()
                       if new.expires_at else None)
        return access

    def _post(self, refresh_token: str) -> requests.Response:
        """One attempt; transient failures become RetriableError for the policy."""
        what = f"POST {self.settings.token_url}"
        try:
            response = self._session.post(
                self.settings.token_url,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                headers={"Authorization": self._basic, "Accept": "application/json"},
                timeout=(self._timeouts.connect, self._timeouts.read), allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetriableError(f"{what}: {self._mask(str(exc))}") from None
        status = response.status_code
        if status == 429:
            raise RateLimitedError(f"{what} answered 429",
                                   retry_after=self._retry.wait_hint(response.headers))
        if status in RETRY_STATUSES:
            raise RetriableError(f"{what} answered {status}",
                                 retry_after=self._retry.wait_hint(response.headers))
        return response

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            if response.status_code == 200:
                raise FatalError(f"{self.settings.provider} token endpoint answered 200 with a "
                                 f"body that is not JSON: {self._mask(response.text)}") from None
            return None

    def _refused(self, status: int, body: Any) -> Exception:
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        provider, settings = self.settings.provider, self.settings
        if error == "invalid_grant":
            return AuthError(
                f"{provider} refused the refresh token (invalid_grant: expired, revoked, or "
                f"already used) for connection {self.connection!r}. Re-authorize: "
                f"{settings.reauthorize} Put the new refresh token in environment variable "
                f"{settings.refresh_token_env} and run again; it replaces the stored one.")
        if error in ("invalid_client", "unauthorized_client"):
            return AuthError(
                f"{provider} refused the app's client credentials ({error}): check environment "
                f"variables {settings.client_id_env} and {settings.client_secret_env}.")
        shown = ": ".join(str(part) for part in (error, detail) if part) or f"HTTP {status}"
        return AuthError(f"{provider} token refresh refused ({status}): {self._mask(shown)}")

    def _mask(self, text: str) -> str:
        text = self._secrets.mask(" ".join(text.split()))
        return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def _seconds(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


class OAuth2Auth(SecretAuth):
    """``Authorization: Bearer <current access token>``, asked of the manager per request,
    so a retried request after a refresh carries the new token."""

    __slots__ = ("_manager",)

    def __init__(self, manager: TokenManager) -> None:
        self._manager = manager

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._manager.secrets

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._manager.access_token()}"
        return r


def passing_401(classifier: ResponseClassifier) -> ResponseClassifier:
    """``classifier``, except that a 401 is handed back to :class:`OAuth2JsonClient`, which
    refreshes the token once and resends (the retry policy must not resend a dead token)."""

    def classify(response: requests.Response) -> Outcome:
        if response.status_code == 401:
            return Outcome.ok()
        return classifier(response)

    return classify


def decimal_json(text: str) -> Any:
    """JSON with every non-integer number as a Decimal: money in major units stays exact."""
    return json.loads(text, parse_float=Decimal)


class OAuth2JsonClient:
    """The slice of HttpClient that paging needs (``request_json``), with the 401 round trip.

    Build the HttpClient with ``auth=OAuth2Auth(manager)`` and
    ``classifier=passing_401(vendor_classifier)``.
    """

    def __init__(self, client: HttpClient, manager: TokenManager, *,
                 loads: Callable[[str], Any] = decimal_json) -> None:
        self.client = client
        self.manager = manager
        self._loads = loads

    def __repr__(self) -> str:
        return f"OAuth2JsonClient({self.client.base_url!r})"

    def request_json(self, method: str, path_or_url: str, *,
                     params: Mapping[str, Any] | None = None, json: Any = None,
                     headers: Mapping[str, str] | None = None) -> Any:
        """Send; on 401 refresh once and resend; decode the body (None when empty)."""
        response = self.client.request(method, path_or_url, params=params, json=json,
                                       headers=headers)
        if response.status_code == 401:
            used = response.request.headers.get("Authorization", "").removeprefix("Bearer ")
            self.manager.refresh(rejected=used or None)
            response = self.client.request(method, path_or_url, params=params, json=json,
                                           headers=headers)
            if response.status_code == 401:
                settings = self.manager.settings
                raise AuthError(
                    f"{settings.provider} refused a freshly refreshed access token (401) on "
                    f"{method.upper()} {path_or_url}: the authorization was revoked or lacks "
                    f"access to this company. Re-authorize: {settings.reauthorize}")
        if not response.content:
            return None
        try:
            return self._loads(response.text)
        except ValueError:
            snippet = self.client.secrets.mask(" ".join(response.text.split()))[:_MAX_MESSAGE]
            raise FatalError(f"{method.upper()} {path_or_url} answered {response.status_code} "
                             f"with a body that is not JSON: {snippet}") from None

    def close(self) -> None:
        self.client.close()


def oauth2_json_client(settings: OAuth2Settings, context: ConnectorContext, base_url: str, *,
                       classifier: ResponseClassifier, retry: RetryPolicy,
                       limiter: RateLimiter | None,
                       headers: Mapping[str, str] | None = None,
                       timeouts: Timeouts | None = None,
                       session: requests.Session | None = None) -> OAuth2JsonClient:
    """The whole OAuth2 client of a connector, assembled once: a :class:`TokenManager` on the
    connection's stored tokens (seeded from ``context.env``), an :class:`HttpClient` with
    :class:`OAuth2Auth` and ``passing_401(classifier)``, one SecretRegistry for both, and the
    same retry policy for the token call and the data calls. The manager is ``.manager``.
    ``session`` (tests) carries the data calls; the token call keeps its own."""
    secrets = SecretRegistry()
    tokens = TokenManager(settings, context.env, store=context.tokens,
                          connection=context.connection, secrets=secrets, retry=retry)
    client = HttpClient(base_url, auth=OAuth2Auth(tokens), headers=headers,
                        timeouts=timeouts if timeouts is not None else Timeouts(),
                        classifier=passing_401(classifier), retry=retry, secrets=secrets,
                        limiter=limiter, session=session)
    return OAuth2JsonClient(client, tokens)
