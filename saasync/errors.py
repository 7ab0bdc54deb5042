"""Error classes, grouped by how a caller recovers from them."""

from __future__ import annotations


class SaasyncError(Exception):
    """Base of every error saasync raises on purpose."""


# Fatal: the run cannot start or must stop; the user fixes something and runs again.
class ConfigError(SaasyncError):
    """The configuration is wrong: the message names the key and what is expected."""


class AuthError(SaasyncError):
    """Credentials were refused (401/403). Stops the run at once; never retried."""


class LockedError(SaasyncError):
    """Another run of the same connection holds the lock."""


class FatalError(SaasyncError):
    """Anything else that stops a run (the destination is unreachable after every retry...)."""


class SourceChangedError(FatalError):
    """The source changed while it was read (an export file rewritten during the run): what
    was read is not one consistent snapshot. Nothing is sent and the cursor stays, so the
    next run reads the source again."""


# Retriable: the HTTP layer retries these with backoff before giving up.
class RetriableError(SaasyncError):
    """A transient failure: connection error, timeout, 429, 5xx."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(RetriableError):
    """The server said slow down (429, or a vendor's own throttling signal)."""


class QuotaExhaustedError(FatalError):
    """A long quota (a daily limit) is used up: waiting hours is not an option; stop clearly."""


# Bad record: quarantine this record and go on with the run.
class BadRecordError(SaasyncError):
    """The destination rejected one record (4xx other than auth/throttling)."""

    def __init__(self, message: str, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ConflictError(SaasyncError):
    """A create answered "already exists" and the stored record differs from ours."""
