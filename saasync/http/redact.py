"""Keep secrets out of logs and error messages: a secret registry and a structlog processor.

Two nets, because either alone leaks. Masking by key name catches a header dict logged
whole (``Authorization``) even when nobody registered the key; masking registered
strings catches a key that turns up where no key name warns of it (a URL, an exception
text, an echoed request body). Put :func:`redact_secrets` *after* ``format_exc_info``
and before the renderer, so rendered tracebacks are masked too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, MutableMapping
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

#: Key names whose values are secrets, compared case-insensitively with ``-`` read as ``_``.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "password",
        "secret",
        "client_secret",
        "x_gaiia_api_key",
        "x_api_key",
        "cookie",
        "set_cookie",
    }
)


def is_sensitive_key(key: object) -> bool:
    """True when a mapping key or query parameter name names a secret."""
    return isinstance(key, str) and key.strip().lower().replace("-", "_") in SENSITIVE_KEYS


class SecretRegistry:
    """The secret strings of one run; every client registers its credentials here.

    Thread-safe because clients of several connectors may share one registry. The
    registry never shows its content: ``repr`` gives only a count.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str) -> None:
        """Remember ``secret``; empty strings are ignored (they would mask everything)."""
        if not secret:
            return
        with self._lock:
            if secret not in self._secrets:
                # Longest first, so a secret that contains another is masked whole.
                self._secrets = tuple(sorted((*self._secrets, secret), key=len, reverse=True))

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"SecretRegistry(<{len(self._secrets)} secrets>)"

    def mask(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    @property
    def processor(self) -> Any:
        """A structlog processor that masks sensitive keys and this registry's secrets."""
        return partial(redact_secrets, registry=self)


def redact_value(value: Any, registry: SecretRegistry | None = None) -> Any:
    """A copy of ``value`` with sensitive keys masked, recursing into dicts, lists and tuples.

    Other objects are rendered with ``str`` only when a registered secret occurs in that
    text, so exceptions and URLs carrying a key come out masked.
    """
    if isinstance(value, Mapping):
        return {
            k: MASK if is_sensitive_key(k) and value[k] is not None else redact_value(value[k], registry)
            for k in value
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, registry) for item in value]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return registry.mask(value) if registry is not None else value
    if registry is not None and value is not None and not isinstance(value, int | float | bool):
        text = str(value)
        masked = registry.mask(text)
        if masked != text:
            return masked
    return value


def redact_secrets(
    logger: Any,
    method_name: str,
    event_dict: MutableMapping[str, Any],
    *,
    registry: SecretRegistry | None = None,
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and registered secrets in every value.

    Used bare it masks by key name only; ``registry.processor`` (or ``functools.partial``
    with ``registry=``) also masks the registered secret strings wherever they appear.
    """
    for key in list(event_dict):
        if is_sensitive_key(key) and event_dict[key] is not None:
            event_dict[key] = MASK
        else:
            event_dict[key] = redact_value(event_dict[key], registry)
    return event_dict


def redact_url(url: str, registry: SecretRegistry | None = None) -> str:
    """``url`` fit for a log: user info dropped, secret-named query values masked."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (name, MASK if is_sensitive_key(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    cleaned = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return registry.mask(cleaned) if registry is not None else cleaned
