"""The one HTTP layer: session, timeouts, classification, retries, pacing, auth, paging, redaction.

Connectors and destinations import from here, not from the submodules, so the internals
can move without touching them. Names are loaded on first use (PEP 562), so what
needs only redaction (logging) does not pay for importing requests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saasync.http.auth import BasicAuth, BearerAuth, HeaderKeyAuth, SecretAuth, read_secret
    from saasync.http.client import (
        RETRY_STATUSES,
        HttpClient,
        Outcome,
        OutcomeKind,
        ResponseClassifier,
        Timeouts,
        classify_response,
    )
    from saasync.http.pagination import (
        CursorPaginator,
        NextLinkPaginator,
        OffsetTokenPaginator,
        PageNumberPaginator,
        Paginator,
        RelayPaginator,
        StartPositionPaginator,
        dig,
        key_path,
        paginate,
    )
    from saasync.http.ratelimit import Paced, RateLimiter, SlidingWindowLimiter, UnlimitedLimiter
    from saasync.http.redact import (
        SENSITIVE_KEYS,
        SecretRegistry,
        redact_secrets,
        redact_url,
        redact_value,
    )
    from saasync.http.retry import (
        EPOCH_THRESHOLD,
        RetryPolicy,
        parse_rate_limit_reset,
        parse_retry_after,
        seconds_until,
    )

_WHERE: dict[str, str] = {
    "BasicAuth": "auth",
    "EPOCH_THRESHOLD": "retry",
    "BearerAuth": "auth",
    "CursorPaginator": "pagination",
    "HeaderKeyAuth": "auth",
    "HttpClient": "client",
    "NextLinkPaginator": "pagination",
    "OffsetTokenPaginator": "pagination",
    "Outcome": "client",
    "OutcomeKind": "client",
    "Paced": "ratelimit",
    "PageNumberPaginator": "pagination",
    "Paginator": "pagination",
    "RETRY_STATUSES": "client",
    "RateLimiter": "ratelimit",
    "RelayPaginator": "pagination",
    "ResponseClassifier": "client",
    "RetryPolicy": "retry",
    "SENSITIVE_KEYS": "redact",
    "SecretAuth": "auth",
    "SecretRegistry": "redact",
    "SlidingWindowLimiter": "ratelimit",
    "StartPositionPaginator": "pagination",
    "Timeouts": "client",
    "UnlimitedLimiter": "ratelimit",
    "classify_response": "client",
    "dig": "pagination",
    "key_path": "pagination",
    "paginate": "pagination",
    "parse_rate_limit_reset": "retry",
    "parse_retry_after": "retry",
    "read_secret": "auth",
    "redact_secrets": "redact",
    "redact_url": "redact",
    "redact_value": "redact",
    "seconds_until": "retry",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "EPOCH_THRESHOLD",
    "RETRY_STATUSES",
    "SENSITIVE_KEYS",
    "BasicAuth",
    "BearerAuth",
    "CursorPaginator",
    "HeaderKeyAuth",
    "HttpClient",
    "NextLinkPaginator",
    "OffsetTokenPaginator",
    "Outcome",
    "OutcomeKind",
    "Paced",
    "PageNumberPaginator",
    "Paginator",
    "RateLimiter",
    "RelayPaginator",
    "ResponseClassifier",
    "RetryPolicy",
    "SecretAuth",
    "SecretRegistry",
    "SlidingWindowLimiter",
    "StartPositionPaginator",
    "Timeouts",
    "UnlimitedLimiter",
    "classify_response",
    "dig",
    "key_path",
    "paginate",
    "parse_rate_limit_reset",
    "parse_retry_after",
    "read_secret",
    "redact_secrets",
    "redact_url",
    "redact_value",
    "seconds_until",
]
