"""Proactive rate limiting: a request budget acquired before every request is sent.

Retrying after a 429 is the fallback; pacing below the vendor's limit is the plan
(ChartMogul: 40 requests/s per account and at most 20 parallel connections, a 21st
connection gets a 503). A sliding window is used rather than a token bucket because it
gives the guarantee vendors state: never more than N requests in any window of
``per`` seconds, with no burst allowance to overshoot by.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RateLimiter(Protocol):
    """What the client needs: a context manager held while one request is in flight."""

    def acquire(self) -> AbstractContextManager[None]: ...


@runtime_checkable
class Paced(Protocol):
    """A limiter with a known pace: at most ``rate`` request starts per ``per`` seconds
    (``SlidingWindowLimiter``, the Redis one); ``UnlimitedLimiter`` has none."""

    rate: int
    per: float


class SlidingWindowLimiter:
    """At most ``rate`` request starts per ``per`` seconds and ``max_concurrent`` in flight.

    Thread-safe. The concurrency slot is taken first and the rate slot second, so the
    start time recorded is the moment the request really goes out. Sleeping happens
    outside the lock, through the injected ``sleep``, so tests drive a fake clock.
    """

    def __init__(
        self,
        rate: int = 40,
        per: float = 1.0,
        max_concurrent: int | None = 20,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("rate must be >= 1 and per > 0")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1 or None")
        self.rate = rate
        self.per = per
        self.max_concurrent = max_concurrent
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None

    def __repr__(self) -> str:
        return (
            f"SlidingWindowLimiter(rate={self.rate}, per={self.per}, "
            f"max_concurrent={self.max_concurrent})"
        )

    @contextmanager
    def acquire(self) -> Iterator[None]:
        """Block until a request may start; hold the concurrency slot until the block ends."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            self._take_rate_slot()
            yield
        finally:
            if self._slots is not None:
                self._slots.release()

    def _take_rate_slot(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                # Window is (now - per, now]: a start exactly ``per`` ago no longer counts.
                while self._starts and self._starts[0] + self.per <= now:
                    self._starts.popleft()
                if len(self._starts) < self.rate:
                    self._starts.append(now)
                    return
                wait = self._starts[0] + self.per - now
            self._sleep(max(wait, 0.0))


class UnlimitedLimiter:
    """No pacing at all: local fakes, files, and tests that do not care."""

    def __repr__(self) -> str:
        return "UnlimitedLimiter()"

    @contextmanager
    def acquire(self) -> Iterator[None]:
        """Return at once."""
        yield
