"""The long-running scheduler and the status check: safe to leave alone for months.

One process, a cron expression per connection (croniter), a random start jitter so many
connections do not hit an API at the same second, never two runs of one connection at
once (the state store's lock, shared with manual runs), and a graceful stop: on SIGTERM
or SIGINT the run in hand finishes its current customer, commits, and the process exits 0.
"""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from croniter import croniter

from saasync.errors import ConfigError, LockedError, SaasyncError
from saasync.settings import ConnectionSettings, Settings
from saasync.state import RunRow, StateStore

log = structlog.get_logger("saasync.scheduler")

RunFn = Callable[[str, ConnectionSettings, Callable[[], bool]], Any]


def _now() -> datetime:
    return datetime.now(UTC)


def next_fire(expression: str, after: datetime) -> datetime:
    try:
        itr = croniter(expression, after)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"schedule {expression!r} is not a cron expression: {exc}") from None
    fire: datetime = itr.get_next(datetime)
    return fire if fire.tzinfo else fire.replace(tzinfo=UTC)


def cron_interval(expression: str, at: datetime) -> timedelta:
    """The gap between two consecutive fires, to judge whether a connection is late."""
    first = next_fire(expression, at)
    return next_fire(expression, first) - first


class StopFlag:
    """Set by SIGTERM/SIGINT; runs check it between customers."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def __call__(self) -> bool:
        return self._event.is_set()

    def set(self, *_: object) -> None:
        self._event.set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(max(seconds, 0))

    def install(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.warning("stop requested: finishing the page in hand", signal=signum)
            self.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


@dataclass
class Scheduler:
    """``announce(name, when)`` hears of each connection's next run as it is planned: at the
    start, and after every run. The jitter is drawn once per run and in whole seconds, so
    the time announced is the time the run starts."""

    settings: Settings
    run: RunFn
    stop: StopFlag
    clock: Callable[[], datetime] = _now
    rng: random.Random = field(default_factory=random.Random)
    announce: Callable[[str, datetime], None] | None = None
    _due: dict[str, datetime] | None = field(default=None, init=False, repr=False)

    def _next(self, conn: ConnectionSettings, after: datetime) -> datetime:
        assert conn.schedule is not None
        jitter = self.rng.randint(0, int(conn.jitter_seconds))
        return next_fire(conn.schedule, after) + timedelta(seconds=jitter)

    def plan(self) -> dict[str, datetime]:
        """The next run of each connection with a schedule: the times ``loop`` will keep."""
        if self._due is None:
            now = self.clock()
            due = {name: self._next(conn, now)
                   for name, conn in self.settings.connections.items() if conn.schedule}
            if not due:
                raise ConfigError("no connection has a `schedule` (a cron expression) to run on")
            self._due = due
            if self.announce is not None:
                for name, when in sorted(due.items()):
                    self.announce(name, when)
        return dict(self._due)

    def loop(self, *, max_runs: int | None = None) -> int:
        """Run connections when they are due until stopped; returns the number of runs made."""
        self.plan()
        due = self._due
        assert due is not None
        runs = 0
        while not self.stop():
            name = min(due, key=due.__getitem__)
            wait = (due[name] - self.clock()).total_seconds()
            if wait > 0 and self.stop.wait(wait):
                break
            conn = self.settings.connections[name]
            try:
                self.run(name, conn, self.stop)
            except LockedError as exc:
                log.warning("skipped: connection busy", connection=name, error=str(exc))
            except SaasyncError as exc:
                log.error("run failed", connection=name, error=str(exc))
            except Exception as exc:  # a scheduler must outlive any one bad run
                log.exception("run crashed", connection=name, error=str(exc))
            runs += 1
            due[name] = self._next(conn, self.clock())
            if max_runs is not None and runs >= max_runs:
                break
            if self.announce is not None:
                self.announce(name, due[name])
        return runs


@dataclass(frozen=True)
class ConnectionStatus:
    connection: str
    last_success: str | None
    last_error: str | None
    last_error_message: str | None
    lag_seconds: float | None
    max_lag_seconds: float | None
    late: bool

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _finished(row: RunRow) -> datetime | None:
    stamp = row.finished_at or row.started_at
    return datetime.fromisoformat(stamp) if stamp else None


def connection_status(state: StateStore, name: str, conn: ConnectionSettings,
                      now: datetime) -> ConnectionStatus:
    rows = [r for r in state.runs(name, limit=200) if not r.dry_run]
    success = next((r for r in rows if r.status in ("ok", "partial") and r.mode == "sync"), None)
    error = next((r for r in rows if r.status == "failed"), None)
    last_ok = _finished(success) if success else None
    lag = (now - last_ok).total_seconds() if last_ok else None
    max_lag: float | None = None
    if conn.max_lag_minutes is not None:
        max_lag = conn.max_lag_minutes * 60
    elif conn.schedule:
        max_lag = 2 * cron_interval(conn.schedule, now).total_seconds() + conn.jitter_seconds + 300
    late = max_lag is not None and (lag is None or lag > max_lag)
    return ConnectionStatus(
        connection=name,
        last_success=success.finished_at if success else None,
        last_error=error.finished_at if error else None,
        last_error_message=(error.report or {}).get("error") if error else None,
        lag_seconds=round(lag, 1) if lag is not None else None,
        max_lag_seconds=max_lag,
        late=late,
    )
