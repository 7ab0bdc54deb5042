"""Retry policy: exact waits, server-given waits, and every way of giving up."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from http_fakes import WALL_START, FakeClock, make_policy
from hypothesis import given
from hypothesis import strategies as st

from saasync.errors import AuthError, FatalError, QuotaExhaustedError, RetriableError
from saasync.http import RetryPolicy, parse_rate_limit_reset, parse_retry_after


def failing(times: int, error: Exception, result: str = "done", clock: FakeClock | None = None,
            cost: float = 0.0) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if clock is not None:
            clock.advance(cost)
        if len(calls) <= times:
            raise error
        return result

    return calls, fn


def test_waits_follow_capped_exponential_with_injected_jitter() -> None:
    clock = FakeClock()
    calls, fn = failing(5, RetriableError("503"))
    assert make_policy(clock).call(fn) == "done"
    # random() = 0.5 -> half of min(30, 0.5 * 2**(n-1))
    assert clock.sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]
    assert len(calls) == 6


def test_cap_bounds_the_wait() -> None:
    clock = FakeClock()
    _, fn = failing(5, RetriableError("503"))
    make_policy(clock, base=1.0, cap=3.0, random=lambda: 1.0).call(fn)
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_seeded_jitter_is_reproducible() -> None:
    clock = FakeClock()
    _, fn = failing(3, RetriableError("500"))
    make_policy(clock, random=random.Random(42).random).call(fn)
    rng = random.Random(42)
    assert clock.sleeps == [rng.random() * 0.5, rng.random() * 1.0, rng.random() * 2.0]


def test_attempts_run_out_with_fatal_error_caused_by_last_error() -> None:
    clock = FakeClock()
    last = RetriableError("GET /x answered 503")
    calls, fn = failing(99, last)
    with pytest.raises(FatalError, match="gave up after 6 attempts") as info:
        make_policy(clock).call(fn, what="GET /x")
    assert info.value.__cause__ is last
    assert len(calls) == 6 and len(clock.sleeps) == 5


def test_server_wait_is_honoured_exactly() -> None:
    clock = FakeClock()
    _, fn = failing(2, RetriableError("429", retry_after=7.0))
    make_policy(clock).call(fn)
    assert clock.sleeps == [7.0, 7.0]


def test_server_wait_above_max_retry_after_stops_with_quota_exhausted() -> None:
    clock = FakeClock()
    calls, fn = failing(1, RetriableError("429 day limit", retry_after=66_975))
    with pytest.raises(QuotaExhaustedError, match="66975s"):
        make_policy(clock).call(fn)
    assert clock.sleeps == [] and len(calls) == 1


def test_server_wait_beyond_the_deadline_stops_with_quota_exhausted() -> None:
    clock = FakeClock()
    _, fn = failing(1, RetriableError("429", retry_after=60), clock=clock, cost=250.0)
    with pytest.raises(QuotaExhaustedError, match="deadline"):
        make_policy(clock).call(fn)
    assert clock.sleeps == []


def test_backoff_that_would_pass_the_deadline_stops() -> None:
    clock = FakeClock()
    calls, fn = failing(99, RetriableError("500"), clock=clock, cost=1.0)
    policy = make_policy(clock, base=4.0, cap=100.0, deadline=10.0, random=lambda: 1.0)
    with pytest.raises(FatalError, match="deadline"):
        policy.call(fn)
    # attempt 1 at 0-1s, wait 4; attempt 2 at 5-6s, a wait of 8 would end at 14 > 10
    assert clock.sleeps == [4.0] and len(calls) == 2


def test_non_retriable_errors_pass_straight_through() -> None:
    clock = FakeClock()
    calls, fn = failing(1, AuthError("401"))
    with pytest.raises(AuthError):
        make_policy(clock).call(fn)
    assert len(calls) == 1 and clock.sleeps == []


def test_on_retry_sees_attempt_wait_and_error() -> None:
    clock = FakeClock()
    error = RetriableError("500")
    _, fn = failing(2, error)
    seen: list[tuple[int, float, BaseException]] = []
    make_policy(clock).call(fn, on_retry=lambda n, w, e: seen.append((n, w, e)))
    assert seen == [(1, 0.25, error), (2, 0.5, error)]


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("120", WALL_START) == 120.0
    assert parse_retry_after(" 1.5 ", WALL_START) == 1.5
    assert parse_retry_after("Wed, 01 May 2024 12:01:30 GMT", WALL_START) == 90.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", WALL_START) == 0.0
    assert parse_retry_after("soon", WALL_START) is None
    assert parse_retry_after(None, WALL_START) is None


def test_x_ratelimit_reset_epoch_seconds() -> None:
    epoch = int(WALL_START.timestamp()) + 42
    assert parse_rate_limit_reset(str(epoch), WALL_START) == 42.0
    assert parse_rate_limit_reset(str(epoch - 100), WALL_START) == 0.0
    assert parse_rate_limit_reset("30", WALL_START) == 30.0  # a delay, not an epoch
    assert parse_rate_limit_reset("x", WALL_START) is None


def test_wait_hint_prefers_retry_after_then_reset() -> None:
    clock = FakeClock()
    policy = make_policy(clock)
    reset = str(int(WALL_START.timestamp()) + 20)
    assert policy.wait_hint({"Retry-After": "5", "X-RateLimit-Reset": reset}) == 5.0
    assert policy.wait_hint({"X-RateLimit-Reset": reset}) == 20.0
    assert policy.wait_hint({}) is None
    assert policy.seconds_until(datetime(2024, 5, 1, 12, 0, 9, tzinfo=UTC)) == 9.0


@given(attempt=st.integers(1, 200), base=st.floats(0.01, 10), cap=st.floats(0.1, 100),
       r=st.floats(0, 1, exclude_max=True))
def test_backoff_stays_within_full_jitter_bounds(attempt: int, base: float, cap: float,
                                                 r: float) -> None:
    policy = RetryPolicy(base=base, cap=cap, random=lambda: r, sleep=lambda s: None)
    wait = policy.backoff(attempt)
    assert 0.0 <= wait <= min(cap, base * 2.0 ** min(attempt - 1, 62))
