"""The one HTTP layer: session, timeouts, classification, retries, pacing, auth, paging, redaction.

Connectors and destinations import from here, not from the submodules, so the internals
can move without touching them.
"""

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
from saasync.http.ratelimit import RateLimiter, SlidingWindowLimiter, UnlimitedLimiter
from saasync.http.redact import (
    SENSITIVE_KEYS,
    SecretRegistry,
    redact_secrets,
    redact_url,
    redact_value,
)
from saasync.http.retry import (
    RetryPolicy,
    parse_rate_limit_reset,
    parse_retry_after,
    seconds_until,
)

__all__ = [
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
