"""The one retry policy: how long to wait after a retriable failure, and when to give up.

What a response *means* is decided elsewhere (``client.classify_response``); this module
only turns a :class:`~saasync.errors.RetriableError` into a wait. A server-given wait
(``Retry-After`` as seconds or an HTTP date, ``X-RateLimit-Reset`` epoch seconds, a
vendor's ``retryAt``) is honoured exactly; otherwise exponential backoff with full
jitter spreads out clients that failed together. A server that asks for more than
``max_retry_after`` or more than the time left (Xero's daily cap answers 66,975 s)
stops the run with :class:`~saasync.errors.QuotaExhaustedError` instead of sleeping
for hours. Sleep, clocks and randomness are injected, so tests never really wait.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from saasync.errors import FatalError, QuotaExhaustedError, RetriableError
from saasync.http.ratelimit import Clock, Sleep

T = TypeVar("T")
WallClock = Callable[[], datetime]
OnRetry = Callable[[int, float, BaseException], None]

# Below this an X-RateLimit-Reset value cannot be an epoch (it would be 1970 + 31 years):
# some APIs send "seconds until reset" under the same name, so read it as a delay.
EPOCH_THRESHOLD = 1_000_000_000


def utcnow() -> datetime:
    """The wall clock used for HTTP dates and epoch resets: timezone-aware UTC."""
    return datetime.now(UTC)


def seconds_until(when: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``when`` (naive times are read as UTC), never negative."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP date; None when absent or garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return seconds_until(when, now)


def parse_rate_limit_reset(value: str | None, now: datetime) -> float | None:
    """``X-RateLimit-Reset`` (Recurly: epoch seconds) as seconds to wait; None if unusable."""
    if value is None:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset < EPOCH_THRESHOLD:
        return max(reset, 0.0)
    return max(reset - now.timestamp(), 0.0)


class RetryPolicy:
    """Bounded attempts, capped full-jitter backoff, a total deadline, honoured server waits.

    Defaults: 6 attempts, backoff ``uniform(0, min(30, 0.5 * 2**(n-1)))`` seconds after
    attempt ``n``, 300 s in all, server waits up to 120 s. One policy object is immutable
    in use and may be shared by threads (each :meth:`call` keeps its own state).
    """

    def __init__(
        self,
        *,
        max_attempts: int = 6,
        base: float = 0.5,
        cap: float = 30.0,
        deadline: float = 300.0,
        max_retry_after: float = 120.0,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        wall_clock: WallClock = utcnow,
        random: Callable[[], float] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.max_attempts = max_attempts
        self.base = base
        self.cap = cap
        self.deadline = deadline
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.random = random if random is not None else _random.Random().random

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, base={self.base}, cap={self.cap}, "
            f"deadline={self.deadline}, max_retry_after={self.max_retry_after})"
        )

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt - 1, 62))
        return self.random() * ceiling

    def wait_hint(self, headers: Mapping[str, str]) -> float | None:
        """The server's own wait from response headers: ``Retry-After``, else ``X-RateLimit-Reset``."""
        now = self.wall_clock()
        after = parse_retry_after(headers.get("Retry-After"), now)
        if after is None:
            after = parse_rate_limit_reset(headers.get("X-RateLimit-Reset"), now)
        return after

    def seconds_until(self, when: datetime) -> float:
        """Seconds from the injected wall clock's now to ``when`` (gaiia's ``retryAt``)."""
        return seconds_until(when, self.wall_clock())

    def call(self, fn: Callable[[], T], *, what: str = "request", on_retry: OnRetry | None = None) -> T:
        """Run ``fn``, retrying on RetriableError; other errors pass straight through.

        Gives up with FatalError (cause: the last error) when attempts or the deadline run
        out, or QuotaExhaustedError when the server asks for too long a wait.
        """
        start = self.clock()
        verdicts: list[Exception] = []

        def wait(rs: RetryCallState) -> float:
            server = _server_wait(rs)
            return server if server is not None else self.backoff(rs.attempt_number)

        def stop(rs: RetryCallState) -> bool:
            verdict = self._verdict(rs, what, self.clock() - start)
            if verdict is not None:
                verdicts.append(verdict)
            return verdict is not None

        def give_up(rs: RetryCallState) -> T:
            last = rs.outcome.exception() if rs.outcome is not None else None
            raise verdicts[-1] from last

        def before_sleep(rs: RetryCallState) -> None:
            if on_retry is not None and rs.outcome is not None:
                error = rs.outcome.exception()
                assert error is not None
                on_retry(rs.attempt_number, rs.upcoming_sleep, error)

        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=wait,
            stop=stop,
            sleep=self.sleep,
            before_sleep=before_sleep,
            retry_error_callback=give_up,
        )
        return retrying(fn)

    def _verdict(self, rs: RetryCallState, what: str, elapsed: float) -> Exception | None:
        """Why to stop now, as the error to raise; None to go on retrying."""
        error = rs.outcome.exception() if rs.outcome is not None else None
        remaining = self.deadline - elapsed
        server = _server_wait(rs)
        if server is not None and server > min(self.max_retry_after, remaining):
            limit = "the retry deadline" if remaining < self.max_retry_after else "max_retry_after"
            return QuotaExhaustedError(
                f"{what}: the server asked to wait {server:.0f}s, more than {limit} allows "
                f"({min(self.max_retry_after, remaining):.0f}s left); stopping rather than "
                f"sleeping. Try again later. Last error: {error}"
            )
        if rs.attempt_number >= self.max_attempts:
            return FatalError(
                f"{what}: gave up after {rs.attempt_number} attempts in {elapsed:.1f}s; "
                f"last error: {error}"
            )
        if rs.upcoming_sleep > remaining:
            return FatalError(
                f"{what}: gave up after {rs.attempt_number} attempts; the {self.deadline:.0f}s "
                f"retry deadline would pass before the next one; last error: {error}"
            )
        return None


def _server_wait(rs: RetryCallState) -> float | None:
    error = rs.outcome.exception() if rs.outcome is not None else None
    if isinstance(error, RetriableError) and error.retry_after is not None:
        return max(error.retry_after, 0.0)
    return None
