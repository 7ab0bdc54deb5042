"""What the local fake billing APIs share to behave like a real one under load: a page
latency and a request limit answered with 429 above it, as the vendors document them.

A fake calls :meth:`SourceLimits.admit` before answering: it counts the request against a
sliding window of ``per`` seconds (the vendor's) and says whether it is over the limit,
then :meth:`SourceLimits.delay` sleeps the page latency outside every lock, so concurrent
requests overlap as they do against the real API. The counters are what a benchmark
reports: requests answered, requests throttled, most in flight at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from saasync.server.closing import ClosingHTTPServer


class FakeServer(ClosingHTTPServer):
    """A threaded local server whose listen queue takes a burst of concurrent connections
    (the standard five would drop connections and make clients wait a second to retry)."""

    request_queue_size = 128


class SourceLimits:
    """``limit`` requests per ``per`` seconds (None: no limit), ``latency`` seconds a page."""

    def __init__(self, *, latency: float = 0.0, limit: int | None = None,
                 per: float = 1.0) -> None:
        self.latency = latency
        self.limit = limit
        self.per = per
        self.answered = 0
        self.throttled = 0
        self.most_in_flight = 0
        self.first: float | None = None
        self.last: float | None = None
        self._in_flight = 0
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        """Count one request; False when it is over the limit (answer 429)."""
        with self._lock:
            now = time.monotonic()
            while self._starts and self._starts[0] + self.per <= now:
                self._starts.popleft()
            if self.limit is not None and len(self._starts) >= self.limit:
                self.throttled += 1
                return False
            self._starts.append(now)
            self.answered += 1
            self.first = now if self.first is None else self.first
            self.last = now
            return True

    def retry_in(self) -> float:
        """Seconds until the oldest counted request leaves the window."""
        with self._lock:
            if not self._starts:
                return 0.0
            return max(0.0, self._starts[0] + self.per - time.monotonic())

    def delay(self) -> None:
        """The page latency, with the in-flight count held while it lasts."""
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            if self.latency > 0:
                time.sleep(self.latency)
        finally:
            with self._lock:
                self._in_flight -= 1

    def rate(self) -> float:
        """Answered requests a second, first to last."""
        if self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return (self.answered - 1) / (self.last - self.first)
