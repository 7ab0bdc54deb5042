"""Credentials attached to requests, built so that no repr, str or log ever shows them.

The caller reads the secret from an environment variable (configs name the variable,
never the value) and hands it to one of these ``requests`` auth objects. Each lists
every form its secret takes on the wire in :attr:`secrets`, so the client can register
them all for redaction: the raw key *and* the base64 header value.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from requests import PreparedRequest
from requests.auth import AuthBase

from saasync.errors import ConfigError


def read_secret(env: Mapping[str, str], var: str) -> str:
    """The secret held by environment variable ``var``; ConfigError names the variable only."""
    value = env.get(var, "").strip()
    if not value:
        raise ConfigError(f"environment variable {var} is not set or empty; it must hold the API key")
    return value


class SecretAuth(AuthBase):
    """Base: keeps the secret out of ``repr``/``str`` and lists its wire forms."""

    __slots__ = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every string that would betray the credential if it reached a log."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"

    __str__ = __repr__


class BasicAuth(SecretAuth):
    """HTTP Basic. ChartMogul, Chargebee and Recurly take the API key as the username
    with an empty password: use :meth:`api_key`."""

    __slots__ = ("_header", "_password", "_username")

    def __init__(self, username: str, password: str = "") -> None:
        if not username:
            raise ConfigError("basic auth needs a non-empty username (the API key)")
        self._username = username
        self._password = password
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    @classmethod
    def api_key(cls, key: str) -> BasicAuth:
        """Key as username, empty password (``curl -u KEY:``)."""
        return cls(key, "")

    @property
    def secrets(self) -> tuple[str, ...]:
        token = self._header.removeprefix("Basic ")
        return tuple(s for s in (self._username, self._password, token) if s)

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = self._header
        return r


class BearerAuth(SecretAuth):
    """``Authorization: Bearer <token>`` (Stripe secret keys, OAuth access tokens)."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigError("bearer auth needs a non-empty token")
        self._token = token

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._token,)

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._token}"
        return r


class HeaderKeyAuth(SecretAuth):
    """The key in a vendor header, e.g. gaiia's ``X-Gaiia-Api-Key``."""

    __slots__ = ("_key", "header_name")

    def __init__(self, header_name: str, key: str) -> None:
        if not key:
            raise ConfigError(f"{header_name} auth needs a non-empty key")
        self.header_name = header_name
        self._key = key

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._key,)

    def __call__(self, r: PreparedRequest) -> PreparedRequest:
        r.headers[self.header_name] = self._key
        return r

    def __repr__(self) -> str:
        return f"HeaderKeyAuth({self.header_name!r}, <redacted>)"

    __str__ = __repr__
