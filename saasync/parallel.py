"""A dry run split over the machine's cores: one process per partition of the customers.

A dry run is CPU-bound (decoding, validating, the rules, the diff) and one Python process
uses one core. A dry run writes nothing, so its partitions share nothing but the state
store, which each opens read-only: each child runs the ordinary engine over the customers
with ``partition_of(customer, count) == index`` (the connector reads only theirs), and the
parent adds the reports up. Real runs stay in one process (they write the state and the
destination in order, and wait on the destination's rate limit, not on the CPU), except a
first sync of an export into the local store, whose parts write apart and are merged
after (``saasync.split``).

Children are forked, so they start with everything already imported (no start-up cost)
and with the parent's baseline snapshot, if any, in memory.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import structlog

from saasync.errors import SaasyncError
from saasync.run_report import RunReport
from saasync.sending import ProgressFn

log = structlog.get_logger("saasync.parallel")

STAGES = ("reading", "building", "pushing", "settling")
PartRun = Callable[[int, int, ProgressFn, Callable[[], bool]], RunReport]
MAX_AUTO_WORKERS = 4  # beyond this, the shared decoding of every row outweighs the split
POLL_S = 0.2
PR_SET_PDEATHSIG = 1  # prctl(2)


def can_fork() -> bool:
    """Forking is available, and safe: a daemonic process (a Celery or multiprocessing pool
    worker) may not have children of its own, and a process running other threads (a
    Celery worker's thread pool, a lock's heartbeat) may not fork at all: a child copies
    only the forking thread, so a lock another thread held at that moment (a stream's, a
    logger's) stays held in the child for ever, and the child hangs on its first write."""
    return fork_refusal() is None


def fork_refusal() -> str | None:
    """Why this process may not fork its run into parts, or None when it may."""
    if sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods():
        return "forking is not available on this platform"
    if multiprocessing.current_process().daemon:
        return "this process is a pool worker, which may not have children"
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        return f"other threads are running in this process ({', '.join(sorted(others))})"
    return None


def auto_workers() -> int:
    """One process per core this process may use, up to ``MAX_AUTO_WORKERS``."""
    if not can_fork():
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_AUTO_WORKERS))


def run_partitioned(count: int, part_run: PartRun, *, progress: ProgressFn | None = None,
                    should_stop: Callable[[], bool] = lambda: False) -> RunReport:
    """Run ``part_run(index, count, progress, should_stop)`` in ``count`` forked processes
    and return their reports added up. A child that fails fails the run with its error."""
    started = time.monotonic()
    context = multiprocessing.get_context("fork")
    counters = context.Array("q", 3 * count, lock=False)  # (stage, done, total) per child
    counters[2::3] = [-1] * count  # no total known yet
    stop = context.Event()
    children: list[Any] = []
    pending: dict[Connection, int] = {}
    for index in range(count):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_child, name=f"saasync-partition-{index}",
                                args=(part_run, index, count, send, counters, stop))
        child.start()
        send.close()
        children.append(child)
        pending[receive] = index
    reports: list[RunReport | None] = [None] * count
    try:
        while pending:
            ready = wait(list(pending), timeout=POLL_S)
            if should_stop():
                stop.set()
            if progress is not None:
                progress(*_overall(counters, count))
            for ready_one in ready:
                assert isinstance(ready_one, Connection)
                index = pending.pop(ready_one)
                reports[index] = _result(ready_one, index, children[index])
    finally:
        for child in children:
            if child.is_alive() and pending:
                child.terminate()
            child.join()
    merged = reports[0]
    assert merged is not None
    for report in reports[1:]:
        assert report is not None
        merged.merge(report)
    merged.duration_s = time.monotonic() - started
    log.info("run finished", connection=merged.connection, mode=merged.mode,
             dry_run=merged.dry_run,
             status=merged.status, partitions=count, **merged.counts())
    return merged


def _overall(counters: Any, count: int) -> tuple[str, int, int | None]:
    """All partitions as one bar: the stage of the one furthest behind, with the counts of
    the partitions in that stage (a total only when every partition is there and knows it)."""
    rows = [tuple(counters[3 * i: 3 * i + 3]) for i in range(count)]
    stage = min(row[0] for row in rows)
    behind = [row for row in rows if row[0] == stage]
    done = sum(row[1] for row in behind)
    known = len(behind) == count and all(row[2] >= 0 for row in behind)
    return STAGES[stage], done, sum(row[2] for row in behind) if known else None


def _result(receive: Connection, index: int, child: Any) -> RunReport:
    try:
        kind, payload = receive.recv()
    except EOFError:
        child.join()
        raise SaasyncError(f"dry-run partition {index} ended without a report "
                           f"(exit code {child.exitcode})") from None
    if kind == "error":
        raise payload
    assert isinstance(payload, RunReport)
    return payload


def _die_with_parent() -> None:
    """Linux: this process is killed when the run's process dies (SIGKILL included), so a
    killed run leaves no part working on alone."""
    if not sys.platform.startswith("linux"):
        return
    parent = multiprocessing.parent_process()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent.pid:  # it died before we asked
        os._exit(1)


def _child(part_run: PartRun, index: int, count: int, send: Connection, counters: Any,
           stop: Any) -> None:
    _die_with_parent()
    def progress(stage: str, done: int, total: int | None) -> None:
        counters[3 * index: 3 * index + 3] = [STAGES.index(stage), done,
                                              -1 if total is None else total]

    try:
        send.send(("ok", part_run(index, count, progress, stop.is_set)))
    except BaseException as exc:  # noqa: BLE001  (handed to the parent, which raises it)
        send.send(("error", _portable(exc)))
    finally:
        send.close()


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a SaasyncError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001  (whatever stops it travelling)
        return SaasyncError(f"{type(exc).__name__}: {exc}")
    return exc
