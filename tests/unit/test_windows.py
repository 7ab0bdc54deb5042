"""Window planning and the ordered concurrent reader (saasync/kit/windows.py)."""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saasync.kit.windows import contains, probe_start, read_in_order, split

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_split_meets_exactly_on_whole_seconds() -> None:
    got = split(T0, T0 + timedelta(days=10), 4)
    assert len(got) == 4
    assert got[0][0] == T0 and got[-1][1] == T0 + timedelta(days=10)
    for (_, end), (start, _) in itertools.pairwise(got):
        assert end == start and end is not None and end.microsecond == 0


def test_split_open_ends_and_short_spans() -> None:
    got = split(T0, T0 + timedelta(seconds=2), 10, open_start=True, open_end=True)
    assert got == [(None, T0 + timedelta(seconds=1)), (T0 + timedelta(seconds=1), None)]
    assert split(T0, T0, 3) == [(T0, T0)]
    with pytest.raises(ValueError):
        split(T0, T0, 0)


@given(st.integers(0, 10**7), st.integers(1, 10**7), st.integers(1, 50),
       st.lists(st.integers(-10, 2 * 10**7), max_size=40), st.booleans(), st.booleans())
def test_every_moment_falls_in_exactly_one_window(offset: int, span: int, parts: int,
                                                   moments: list[int], open_start: bool,
                                                   open_end: bool) -> None:
    since = T0 + timedelta(seconds=offset, microseconds=250_000)
    until = since + timedelta(seconds=span)
    windows = split(since, until, parts, open_start=open_start, open_end=open_end)
    assert len(windows) <= parts
    for second in moments:
        moment = since + timedelta(seconds=second)
        inside = open_start or moment >= since.replace(microsecond=0)
        inside = inside and (open_end or moment < until)
        hits = sum(contains(w, moment) for w in windows)
        assert hits == (1 if inside else 0) or (not inside and hits <= 1)


def test_read_in_order_keeps_window_order_whatever_finishes_first() -> None:
    running = 0
    most = 0
    lock = threading.Lock()

    def read(window: int) -> list[int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02 * (10 - window) / 10)  # later windows finish first
        with lock:
            running -= 1
        return [window * 10 + i for i in range(3)]

    got = list(read_in_order(list(range(10)), read, 4))
    assert got == [w * 10 + i for w in range(10) for i in range(3)]
    assert 1 < most <= 4


def test_read_in_order_sequential_streams_on_the_callers_thread() -> None:
    threads: set[int] = set()

    def read(window: int) -> list[int]:
        threads.add(threading.get_ident())
        return [window]

    assert list(read_in_order([3, 1, 2], read, 1)) == [3, 1, 2]
    assert threads == {threading.get_ident()}


def test_an_error_is_raised_at_its_windows_turn_and_workers_stop() -> None:
    def read(window: int) -> list[int]:
        if window == 2:
            raise RuntimeError("window 2 failed")
        return [window]

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="window 2"):
        seen.extend(read_in_order(list(range(8)), read, 3))
    assert seen == [0, 1]


def test_probe_start_finds_the_oldest_within_a_window() -> None:
    oldest = T0 + timedelta(days=900, hours=5)
    asked: list[datetime] = []

    def has_before(moment: datetime) -> bool:
        asked.append(moment)
        return oldest < moment

    high = T0 + timedelta(days=1000)
    start = probe_start(has_before, T0, high, probes=8, parts=32)
    assert start is not None and start <= oldest
    assert (oldest - start) * 32 <= high - oldest + timedelta(days=1)
    assert len(asked) < 60
    assert probe_start(lambda _m: False, T0, high, probes=8, parts=32) is None


def test_readers_see_the_callers_context_variables() -> None:
    run = contextvars.ContextVar("run", default="none")
    run.set("sync-42")

    def read(window: int) -> list[str]:
        return [run.get()]

    assert list(read_in_order([1, 2, 3, 4], read, 2)) == ["sync-42"] * 4
    seen: list[str] = []

    def has_before(moment: datetime) -> bool:
        seen.append(run.get())
        return moment > T0 + timedelta(days=5)

    probe_start(has_before, T0, T0 + timedelta(days=10), probes=3, parts=4)
    assert seen and set(seen) == {"sync-42"}
