"""Deterministic stand-ins for time and pacing, shared by the HTTP layer's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from saasync.http import BasicAuth, HttpClient, RetryPolicy, SecretRegistry

KEY = "sk_live_TESTKEY0123456789abcdef"
BASE = "https://api.example.test/v1"
WALL_START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic and wall clocks that move only when ``sleep`` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def wall(self) -> datetime:
        with self._lock:
            return WALL_START + timedelta(seconds=self.now - self.start)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def fixed_random(value: float = 0.5) -> Any:
    return lambda: value


def make_policy(clock: FakeClock, **kwargs: Any) -> RetryPolicy:
    kwargs.setdefault("random", fixed_random())
    return RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, wall_clock=clock.wall, **kwargs)


def make_client(clock: FakeClock, *, base: str = BASE, policy: dict[str, Any] | None = None,
                **kwargs: Any) -> HttpClient:
    kwargs.setdefault("auth", BasicAuth.api_key(KEY))
    kwargs.setdefault("secrets", SecretRegistry())
    return HttpClient(base, retry=make_policy(clock, **(policy or {})), clock=clock.monotonic,
                      **kwargs)


class CountingLimiter:
    """Counts acquisitions, so tests can see that every attempt is paced."""

    def __init__(self) -> None:
        self.acquired = 0

    @contextmanager
    def acquire(self) -> Iterator[None]:
        self.acquired += 1
        yield
