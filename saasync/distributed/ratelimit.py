"""A rate limiter shared by every worker through Redis: one request budget per destination account.

ChartMogul's 40 requests/s (and 20 parallel connections) are per *account*, not per
process: ten workers each pacing at 38/s would send 380/s. This limiter keeps the
budget in Redis, so every process syncing into one account draws from the same window.

It implements the ``RateLimiter`` protocol of :mod:`saasync.http.ratelimit` with the
same guarantee as :class:`~saasync.http.ratelimit.SlidingWindowLimiter`: never more than
``rate`` request starts in any window of ``per`` seconds, and at most ``max_concurrent``
requests in flight. Each decision is one Lua script, so it is atomic across processes,
and timed by Redis's own clock (``TIME``), so hosts whose clocks disagree still share one
window. In-flight slots are leases that expire: a worker killed mid-request gives its
slot back after ``lease`` seconds.

The account is named by the destination's ``base_url`` and the *name* of the environment
variable holding its key, never by the key itself: connections on one account should
use the same variable name to share a budget.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import structlog

from saasync.errors import RetriableError
from saasync.http.ratelimit import Sleep
from saasync.settings import DestinationSettings

log = structlog.get_logger("saasync.distributed")

#: KEYS[1] the window (a sorted set of start times, in microseconds of Redis's clock);
#: ARGV rate, window length (µs), a unique member. Returns {1, start} when admitted,
#: {0, µs until the oldest start leaves the window} when not.
_WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local per = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - per))
if redis.call('ZCARD', KEYS[1]) < rate then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(per / 1000) + 1000)
  return {1, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + per - now}
"""

#: KEYS[1] the in-flight leases (member -> expiry in µs); ARGV limit, lease (µs), member.
_SLOT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now + lease), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(lease / 1000) + 1000)
  return 1
end
return 0
"""


def account_key(settings: DestinationSettings) -> str:
    """The account a destination pushes into: its base URL and its key's variable name."""
    return f"{settings.base_url.rstrip('/')}|{settings.api_key_env}"


def window_for(requests_per_second: float) -> tuple[int, float]:
    """Whole requests per window: 38/s stays 38 per 1 s, 0.5/s becomes 1 per 2 s."""
    if requests_per_second >= 1:
        return math.floor(requests_per_second), 1.0
    return 1, 1.0 / requests_per_second


class RedisRateLimiter:
    """At most ``rate`` request starts per ``per`` seconds and ``max_concurrent`` in flight,
    counted across every process that uses the same Redis and ``account``."""

    def __init__(self, client: redis.Redis, account: str, rate: int, per: float = 1.0,
                 max_concurrent: int | None = 20, *, lease: float = 120.0,
                 poll: float = 0.02, sleep: Sleep = time.sleep,
                 prefix: str = "saasync") -> None:
        if rate < 1 or per <= 0:
            raise ValueError("rate must be >= 1 and per > 0")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1 or None")
        self.account = account
        self.rate = rate
        self.per = per
        self.max_concurrent = max_concurrent
        self.lease = lease
        self._poll = poll
        self._sleep = sleep
        self._client = client
        self._window_key = f"{prefix}:rate:{account}"
        self._slots_key = f"{prefix}:inflight:{account}"
        self._window = client.register_script(_WINDOW_SCRIPT)
        self._slots = client.register_script(_SLOT_SCRIPT)

    @classmethod
    def for_destination(cls, client: redis.Redis, settings: DestinationSettings,
                        **kwargs: Any) -> RedisRateLimiter:
        """The limiter of the account ``settings`` pushes into, at its configured pace."""
        rate, per = window_for(settings.requests_per_second)
        return cls(client, account_key(settings), rate, per, settings.max_concurrency, **kwargs)

    def __repr__(self) -> str:
        return (f"RedisRateLimiter({self.account!r}, rate={self.rate}, per={self.per}, "
                f"max_concurrent={self.max_concurrent})")

    @contextmanager
    def acquire(self) -> Iterator[None]:
        """Block until a request may start; hold an in-flight slot until the block ends."""
        member = self._take_slot() if self.max_concurrent is not None else None
        try:
            self.admit()
            yield
        finally:
            if member is not None:
                self._give_back(member)

    def admit(self) -> float:
        """Block until the window admits one more start; return its time (Redis clock, s)."""
        member = uuid.uuid4().hex
        per_us = round(self.per * 1_000_000)
        while True:
            admitted, value = self._call(self._window, self._window_key, self.rate, per_us, member)
            if admitted:
                return int(value) / 1_000_000
            self._sleep(max(int(value), 1_000) / 1_000_000)

    def _take_slot(self) -> str:
        member = uuid.uuid4().hex
        lease_us = round(self.lease * 1_000_000)
        while not self._call(self._slots, self._slots_key, self.max_concurrent, lease_us, member):
            self._sleep(self._poll)  # nobody says when a slot frees: poll
        return member

    def _give_back(self, member: str) -> None:
        try:
            self._client.zrem(self._slots_key, member)
        except redis.RedisError as exc:  # the lease expires on its own
            log.warning("could not release an in-flight slot", account=self.account, error=str(exc))

    def _call(self, script: Any, key: str, *args: Any) -> Any:
        try:
            return script(keys=[key], args=list(args))
        except redis.RedisError as exc:
            # retriable: the HTTP layer backs off and tries the request again
            raise RetriableError(f"shared rate limiter: Redis failed: {type(exc).__name__}: {exc}") from None
