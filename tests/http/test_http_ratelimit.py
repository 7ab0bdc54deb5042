"""Rate limiter: never more than N starts per window, never more than M in flight."""

from __future__ import annotations

import threading
import time

import pytest
from http_fakes import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from saasync.http import SlidingWindowLimiter


def starts_under(limiter: SlidingWindowLimiter, clock: FakeClock, n: int,
                 gaps: list[float] | None = None) -> list[float]:
    starts: list[float] = []
    for i in range(n):
        if gaps:
            clock.advance(gaps[i % len(gaps)])
        with limiter.acquire():
            starts.append(clock.monotonic())
    return starts


def test_chartmogul_defaults() -> None:
    limiter = SlidingWindowLimiter()
    assert (limiter.rate, limiter.per, limiter.max_concurrent) == (40, 1.0, 20)


def test_never_more_than_rate_per_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(40, 1.0, clock=clock.monotonic, sleep=clock.sleep)
    starts = starts_under(limiter, clock, 200)
    assert starts[:40] == [clock.start] * 40  # the first 40 go out at once
    for i in range(len(starts) - 40):
        assert starts[i + 40] - starts[i] >= 1.0
    assert starts[-1] - clock.start == pytest.approx(4.0)  # 200 requests in 5 windows


def test_no_sleep_while_under_the_rate() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 1.0, clock=clock.monotonic, sleep=clock.sleep)
    starts_under(limiter, clock, 50, gaps=[0.1])
    assert clock.sleeps == []


@settings(max_examples=60, deadline=None)
@given(rate=st.integers(1, 12), per=st.sampled_from([0.5, 1.0, 60.0]),
       gaps=st.lists(st.floats(0, 2), min_size=1, max_size=20))
def test_sliding_window_property(rate: int, per: float, gaps: list[float]) -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(rate, per, None, clock=clock.monotonic, sleep=clock.sleep)
    starts = starts_under(limiter, clock, 60, gaps=gaps)
    for i in range(len(starts) - rate):
        assert starts[i + rate] - starts[i] >= per - 1e-9


def test_never_more_than_max_concurrent_in_flight() -> None:
    limiter = SlidingWindowLimiter(10_000, 1.0, max_concurrent=3)
    lock = threading.Condition()
    gate = threading.Event()
    in_flight = 0
    peak = 0
    done = 0

    def worker() -> None:
        nonlocal in_flight, peak, done
        with limiter.acquire():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
                lock.notify_all()
            gate.wait(timeout=5)
            with lock:
                in_flight -= 1
                done += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    with lock:
        assert lock.wait_for(lambda: in_flight == 3, timeout=5)
    time.sleep(0.02)  # give a fourth thread the chance to get in, if the limiter let it
    with lock:
        assert in_flight == 3
    gate.set()
    for t in threads:
        t.join(timeout=5)
    assert peak == 3 and done == 8


def test_slot_is_released_when_the_request_fails() -> None:
    limiter = SlidingWindowLimiter(100, 1.0, max_concurrent=1)
    with pytest.raises(RuntimeError), limiter.acquire():
        raise RuntimeError("boom")
    with limiter.acquire():  # would block forever if the slot leaked
        pass


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(5, max_concurrent=0)
