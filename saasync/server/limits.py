"""ChartMogul's throttling, emulated: a request rate per API key and a cap on requests in
flight; and the limits that keep one request from taking the server down (body size,
JSON nesting).

ChartMogul allows 40 requests per second per account (more is a 429) and 20 parallel
connections (more is a 503) (docs/chartmogul.md). Both are configurable so tests can trigger
them; a limit of 0 or less switches it off (for benchmarks of the client alone).

Only admitted requests count towards the rate: a client that backs off recovers after
one window, which is how a sliding window of 40 per second behaves for a well-paced
client. The clock is injected so the window is tested without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from saasync.http.ratelimit import Clock
from saasync.server.wire import ApiResponse, coded

#: ChartMogul takes JSON payloads of at most 5 MB (docs/chartmogul.md). A larger body is refused
#: with 413 from its Content-Length, before it is read.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: No ChartMogul body nests deeper than about 6 levels (an import's customer attributes);
#: a deeper one is refused with 400 instead of exhausting the parser's recursion.
MAX_JSON_DEPTH = 32
#: After a 413 the rest of the body is read and dropped, up to this much and this long, so
#: a client that sends before it reads still gets the answer; then the connection closes.
DRAIN_BYTES = 32 * 1024 * 1024
DRAIN_SECONDS = 5.0


class SlidingWindow:
    """At most ``rate`` admitted requests per key in any window of ``per`` seconds.

    A fractional rate below 1 (0.5) means one request per ``1 / rate`` seconds.
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        self.enabled = rate > 0
        self.capacity = int(rate) if rate >= 1 else 1
        self.per = 1.0 if rate >= 1 or rate <= 0 else 1.0 / rate
        self._clock = clock
        self._lock = threading.Lock()
        self._starts: dict[str, deque[float]] = {}

    def admit(self, key: str) -> bool:
        if not self.enabled:
            return True
        with self._lock:
            now = self._clock()
            starts = self._starts.setdefault(key, deque())
            while starts and starts[0] <= now - self.per:
                starts.popleft()
            if len(starts) >= self.capacity:
                return False
            starts.append(now)
            return True


class InFlightGate:
    """Counts requests being handled; ``enter`` refuses the one over ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0

    def enter(self) -> bool:
        with self._lock:
            if 0 < self.limit <= self._in_flight:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight


def rate_limited(rate: float) -> ApiResponse:
    """429, with ``Retry-After: 1``: the window frees a slot within a second."""
    message = (
        f"You have exceeded the rate limit of {rate:g} requests per second. "
        "Your request rate has exceeded our rate limit."
    )
    return coded(429, message, {"Retry-After": "1"})


def too_many_connections(limit: int) -> ApiResponse:
    return coded(503, f"Too many parallel connections: at most {limit} requests at a time.")


def too_large(limit: int = MAX_BODY_BYTES) -> ApiResponse:
    mb = limit / (1024 * 1024)
    return coded(413, f"The JSON payload may be at most {mb:g} MB")


def nesting_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Is ``value`` (parsed JSON) nested deeper than ``limit``? Iterative: no recursion."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def too_deep(limit: int = MAX_JSON_DEPTH) -> ApiResponse:
    return coded(400, f"The request body is nested too deeply (at most {limit} levels)")
