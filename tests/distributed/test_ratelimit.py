"""The Redis rate limiter: one budget per account, shared by every process, atomic."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from saasync.distributed.ratelimit import RedisRateLimiter, account_key, window_for
from saasync.errors import RetriableError
from saasync.settings import DestinationSettings

ACCOUNT = "http://127.0.0.1:1/v1|CM_KEY"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def max_in_window(stamps: list[float], per: float) -> int:
    """The most starts in any half-open window [t, t + per)."""
    stamps = sorted(stamps)
    best, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamps[first] <= stamp - per:
            first += 1
        best = max(best, last - first + 1)
    return best


def _admit_until(url: str, rate: int, start: float, seconds: float,
                 out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    client = redis.Redis.from_url(url)
    limiter = RedisRateLimiter(client, ACCOUNT, rate, 1.0, max_concurrent=None)
    time.sleep(max(start - time.time(), 0))
    stamps = []
    while time.time() < start + seconds:
        stamps.append(limiter.admit())
    out.put(stamps)


def test_three_processes_never_exceed_the_shared_rate(redis_url: str) -> None:
    rate = 20
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 2.0  # spawned interpreters take a moment to import
    procs = [ctx.Process(target=_admit_until, args=(redis_url, rate, start, 2.0, out)) for _ in range(3)]
    for proc in procs:
        proc.start()
    try:
        per_process = [out.get(timeout=30) for _ in procs]
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    stamps = [s for run in per_process for s in run]
    assert max_in_window(stamps, 1.0) <= rate  # the guarantee, across processes
    assert len(stamps) >= 2 * rate  # and the budget is used, not starved
    assert all(run for run in per_process)  # every process got through


def test_a_full_window_sleeps_until_the_oldest_start_leaves_it(client: redis.Redis) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    limiter = RedisRateLimiter(client, ACCOUNT, 5, 0.5, max_concurrent=None, sleep=sleep)
    first = [limiter.admit() for _ in range(5)]
    assert slept == []
    sixth = limiter.admit()
    assert 1 <= len(slept) <= 3  # told how long to wait, not polling
    assert 0.3 < sum(slept) <= 0.55
    assert sixth - first[0] >= 0.5


def test_in_flight_requests_are_capped_across_holders(client: redis.Redis) -> None:
    limiter = RedisRateLimiter(client, ACCOUNT, 1000, 1.0, max_concurrent=2, poll=0.01)
    in_flight, most = 0, 0
    guard = threading.Lock()

    def request() -> None:
        nonlocal in_flight, most
        with limiter.acquire():
            with guard:
                in_flight += 1
                most = max(most, in_flight)
            time.sleep(0.15)
            with guard:
                in_flight -= 1

    threads = [threading.Thread(target=request) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 2
    assert client.zcard(f"saasync:inflight:{ACCOUNT}") == 0  # every slot given back


def test_the_slot_of_a_dead_holder_expires_with_its_lease(client: redis.Redis) -> None:
    limiter = RedisRateLimiter(client, ACCOUNT, 1000, 1.0, max_concurrent=1, lease=0.3, poll=0.01)
    held = limiter.acquire()
    held.__enter__()  # a worker killed mid-request never gives its slot back
    started = time.monotonic()
    with limiter.acquire():
        waited = time.monotonic() - started
    assert 0.2 < waited < 2.0
    del held


def test_accounts_are_keyed_by_url_and_variable_name_never_the_key(client: redis.Redis,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CM_KEY", "sekret-value")
    settings = DestinationSettings(type="chartmogul", base_url="http://127.0.0.1:1/v1/",
                                   api_key_env="CM_KEY", requests_per_second=38, max_concurrency=20)
    limiter = RedisRateLimiter.for_destination(client, settings)
    assert account_key(settings) == ACCOUNT
    assert (limiter.rate, limiter.per, limiter.max_concurrent) == (38, 1.0, 20)
    with limiter.acquire():
        keys = [k.decode() for k in client.keys("*")]
    assert keys and all("sekret" not in k for k in keys)
    assert window_for(0.5) == (1, 2.0)


def test_redis_down_is_a_retriable_error() -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from tests.distributed.conftest import free_port

    dead = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(dead, ACCOUNT, 10, max_concurrent=None)
    with pytest.raises(RetriableError, match="shared rate limiter"):
        limiter.admit()
