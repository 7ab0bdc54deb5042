"""Reading one list as several time windows at once, handed on in the order of one read.

An API list that can be filtered on a timestamp (Stripe's ``created``, Chargebee's
``updated_at`` or ``date``, Recurly's ``begin_time``/``end_time``) can be read as several
half-open windows ``[start, end)`` at once; each window is a list of its own, paged as
usual. :func:`split` plans the windows (pure: whole seconds, meeting exactly, so a record
falls in exactly one); :func:`read_in_order` reads up to ``concurrency`` of them at a
time on threads and yields their items window by window, in the order given. A list
sorted ascending on the field, read as ascending windows (or a descending list as
descending windows), is then handed on in exactly the order of one unsplit read.

The first window may be open at the start (``None``) and the last open at the end, so
nothing older than a probe's guess nor created during the read is left out: a probe
only balances the windows, it never decides what is read. Pacing stays with the one
HTTP client the windows share (its limiter is thread-safe); connectors never sleep.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

W = TypeVar("W")
T = TypeVar("T")
Window = tuple[datetime | None, datetime | None]  # [start, end); None: unbounded


def whole_second(moment: datetime, *, up: bool = False) -> datetime:
    """``moment`` on a whole UTC second, rounded down (or up)."""
    stamp = moment.timestamp()
    return datetime.fromtimestamp(math.ceil(stamp) if up else math.floor(stamp), tz=UTC)


def split(since: datetime, until: datetime, parts: int, *, open_start: bool = False,
          open_end: bool = False) -> list[Window]:
    """``[since, until)`` as at most ``parts`` ascending windows of whole seconds that meet
    exactly; fewer when the span has fewer seconds than ``parts``. ``open_start`` makes the
    first window start at None (everything before too), ``open_end`` the last end at None
    (everything after too, such as records created during the read)."""
    if parts < 1:
        raise ValueError("parts must be >= 1")
    low = int(whole_second(since).timestamp())
    high = int(whole_second(until, up=True).timestamp())
    if high <= low:
        return [(None if open_start else since, None if open_end else until)]
    edges = sorted({low + (high - low) * k // parts for k in range(parts + 1)})
    moments: list[datetime | None] = [datetime.fromtimestamp(e, tz=UTC) for e in edges]
    if open_start:
        moments[0] = None
    if open_end:
        moments[-1] = None
    return list(itertools.pairwise(moments))


def parts_for(concurrency: int) -> int:
    """How many windows to plan for ``concurrency`` readers: four each, so a window that
    holds more records than the others does not leave the rest idle for long."""
    return max(1, concurrency) * 4


#: A page's round trip that the default concurrency plans for (Stripe, Chargebee and
#: Recurly answer a full list page in about 0.2-0.5 s).
PAGE_SECONDS = 0.4


def default_concurrency(rate_per_second: float, cap: int = 32) -> int:
    """Enough list calls in flight to keep up ``rate_per_second`` at ``PAGE_SECONDS`` a
    page, at most ``cap``: 25 a second makes 10, 150 a minute makes 1."""
    return max(1, min(cap, math.ceil(rate_per_second * PAGE_SECONDS)))


def plan(since: datetime | None, until: datetime | None, now: datetime,
         oldest: Callable[[], datetime | None], concurrency: int) -> list[Window]:
    """The ascending windows of one list over ``[since, until)`` for ``concurrency``
    readers: ``[(since, until)]`` alone for one reader; else ``parts_for(concurrency)``
    pieces from ``since`` (or ``oldest()``, a probe, when there is none) to ``until`` (or
    ``now``), the first open at the start when ``since`` is None and the last open at the
    end when ``until`` is None, so the pieces cover exactly what the one window did."""
    if concurrency <= 1:
        return [(since, until)]
    low = since if since is not None else oldest()
    high = until if until is not None else max(now, low or now)
    if low is None or low >= high:
        return [(since, until)]
    return split(low, high, parts_for(concurrency), open_start=since is None,
                 open_end=until is None)


def contains(window: Window, moment: datetime) -> bool:
    """Whether ``moment`` lies in the half-open window."""
    start, end = window
    return (start is None or moment >= start) and (end is None or moment < end)


def read_in_order(windows: Sequence[W], read: Callable[[W], Iterable[T]],
                  concurrency: int) -> Iterator[T]:
    """``read(window)`` for every window, up to ``concurrency`` at once, yielded window by
    window in the order of ``windows`` (a deterministic order, whatever finishes first).

    With ``concurrency`` 1 (or one window) the windows are read one after the other on the
    caller's thread, streaming. Otherwise each window is collected on a worker thread; at
    most twice ``concurrency`` windows are held at a time. An error in a window is raised
    when its turn comes; stopping early (an error, or a consumer that stops iterating)
    tells the workers to stop and waits for them.
    """
    if concurrency <= 1 or len(windows) <= 1:
        for window in windows:
            yield from read(window)
        return
    stop = threading.Event()

    def collect(window: W) -> list[T]:
        out: list[T] = []
        for item in read(window):
            if stop.is_set():
                break
            out.append(item)
        return out

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="saasync-window")
    pending: deque[Future[list[T]]] = deque()
    queued = iter(windows)

    def submit(window: W) -> None:  # in the caller's context (log fields bound to the run)
        pending.append(pool.submit(contextvars.copy_context().run, collect, window))

    try:
        for window in queued:
            submit(window)
            if len(pending) >= 2 * concurrency:
                break
        while pending:
            done = pending.popleft().result()
            for window in queued:
                submit(window)
                break
            yield from done
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def probe_start(has_before: Callable[[datetime], bool], low: datetime, high: datetime, *,
                probes: int, parts: int,
                resolution: timedelta = timedelta(hours=1)) -> datetime | None:
    """A start for the windows: a moment at or a little before the oldest record, found by
    asking ``has_before(t)`` ("is any record older than t?") at ``probes`` moments at once,
    round after round, narrowing ``[low, high)``. It stops when what is left to narrow is
    smaller than one of ``parts`` windows over the rest (or than ``resolution``), so a
    young account costs a few rounds. None when nothing is older than ``high``. The result only balances windows:
    a first window open at the start still reads anything older.
    """
    lo, hi = whole_second(low), whole_second(high, up=True)
    if not has_before(hi):
        return None
    count = max(1, probes)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="saasync-probe") as pool:
        top = whole_second(high, up=True)
        while (hi - lo) * parts > top - hi and hi - lo > resolution:
            step = (hi - lo) / (count + 1)
            points = [whole_second(lo + step * (k + 1)) for k in range(count)]
            answers = [f.result() for f in [
                pool.submit(contextvars.copy_context().run, has_before, p) for p in points]]
            previous = lo
            for point, older in zip(points, answers, strict=True):
                if older:
                    lo, hi = previous, point
                    break
                previous = point
            else:
                lo = previous
    return lo


def concurrency_in(maximum: int) -> Callable[[Any], int | None]:
    """A connector option's validator: ``concurrency`` is unset (None: the connector's
    default) or an integer from 1 to ``maximum``; a bool is not an integer here."""

    def check(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
            raise ValueError(f"must be an integer from 1 to {maximum}, got {value!r}")
        return value

    return check
