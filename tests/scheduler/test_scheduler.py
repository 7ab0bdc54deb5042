"""Scheduled runs: cron timing with jitter, one bad run never stops the loop, graceful stop, status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import ConnectorContext
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.errors import LockedError
from saasync.rules.builder import RuleSettings
from saasync.scheduler import Scheduler, StopFlag, cron_interval, next_fire
from saasync.settings import load_settings
from saasync.state import StateStore
from saasync_connectors.files.connector import FilesConnector
from tests.e2e.conftest import SAMPLE, RunCli, run_json, write_config
from tests.factories import dt


def test_next_fire_and_interval_follow_the_cron_expression() -> None:
    assert next_fire("*/15 * * * *", dt("2026-11-21T10:07:00")) == dt("2026-11-21T10:15:00")
    assert cron_interval("0 3 * * *", dt("2026-11-21T10:00:00")) == timedelta(days=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = dt("2026-11-21T10:00:00")

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def test_loop_runs_connections_when_due_and_survives_a_busy_one(tmp_path: Path) -> None:
    config = write_config(tmp_path, SAMPLE, extra='schedule = "*/10 * * * *"\njitter_seconds = 5')
    settings = load_settings(config)
    clock = FakeClock()
    stop = StopFlag()
    calls: list[Any] = []

    def run(name: str, conn: Any, should_stop: Any) -> None:
        calls.append((name, clock.now))
        if len(calls) == 1:
            raise LockedError("busy")

    stop.wait = lambda seconds: (setattr(clock, "now", clock.now + timedelta(seconds=seconds)), False)[1]  # type: ignore[method-assign]
    import random

    Scheduler(settings, run, stop, clock=clock, rng=random.Random(1)).loop(max_runs=3)
    times = [t for _, t in calls]
    assert len(times) == 3
    for t in times:
        assert t.minute % 10 == 0 and t.second <= 5  # on the cron tick, plus jitter
    assert times[1] - times[0] >= timedelta(minutes=9)


def test_stop_mid_run_finishes_the_customer_in_hand_and_keeps_the_cursor(tmp_path: Path) -> None:
    connector = FilesConnector({"path": str(SAMPLE)}, ConnectorContext(base_dir=tmp_path))
    seen = {"n": 0}

    def stop_after_ten() -> bool:
        seen["n"] += 1
        return seen["n"] > 10

    with StateStore(tmp_path / "s.db") as state, LocalStore(tmp_path / "a.db") as store:
        engine = Engine("c", connector, state, store, rules=RuleSettings(), data_source="c", should_stop=stop_after_ten)
        report = engine.run("sync")
        assert report.status == "stopped" and state.get_cursor("c") is None
        engine.should_stop = lambda: False
        assert engine.run("sync").status == "ok" and state.get_cursor("c") is not None
        partial_then_full = store.fingerprint()
    with StateStore(tmp_path / "s2.db") as state, LocalStore(tmp_path / "b.db") as store:
        Engine("c", connector, state, store, rules=RuleSettings(), data_source="c").run("sync")
        assert store.fingerprint() == partial_then_full


def test_sigterm_stops_the_scheduler_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path, SAMPLE, extra='schedule = "0 0 1 1 *"')
    proc = subprocess.Popen([sys.executable, "-m", "saasync", "schedule", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    line = ""
    while time.monotonic() < deadline and "next run" not in line:
        line = proc.stderr.readline()  # type: ignore[union-attr]
    assert "next run" in line
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_status_check_flags_a_connection_that_has_not_succeeded(tmp_path: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, SAMPLE, extra='schedule = "*/15 * * * *"')
    code, out, _ = run_cli("status", "--config", str(config), "--check")
    assert code == 6 and "LATE" in out
    run_json(run_cli, "sync", "--config", str(config))
    rows = run_json(run_cli, "status", "--config", str(config))
    assert rows[0]["late"] is False and rows[0]["last_success"]
    assert run_cli("status", "--config", str(config), "--check").code == 0


def test_a_schedule_that_is_not_cron_is_a_config_error(tmp_path: Path, run_cli: RunCli) -> None:
    config = write_config(tmp_path, SAMPLE, extra='schedule = "every monday"')
    code, _, err = run_cli("status", "--config", str(config))
    assert code == 2 and "connections.sample.schedule" in err


@pytest.mark.parametrize("unused", [None])
def test_scheduler_needs_at_least_one_schedule(tmp_path: Path, run_cli: RunCli, unused: None) -> None:
    config = write_config(tmp_path, SAMPLE)
    code, _, err = run_cli("schedule", "--config", str(config), "--max-runs", "1")
    assert code == 2 and "schedule" in err


def test_the_announced_next_run_is_the_run_taken(tmp_path: Path) -> None:
    """The jitter is drawn once: the time printed at start (and after each run) is the time
    the run really starts, to the second."""
    config = write_config(tmp_path, SAMPLE, extra='schedule = "*/10 * * * *"\njitter_seconds = 300')
    settings = load_settings(config)
    clock = FakeClock()
    stop = StopFlag()
    started: list[Any] = []
    announced: list[Any] = []
    stop.wait = lambda seconds: (setattr(clock, "now", clock.now + timedelta(seconds=seconds)), False)[1]  # type: ignore[method-assign]
    import random

    scheduler = Scheduler(settings, lambda name, conn, should_stop: started.append(clock.now), stop,
                          clock=clock, rng=random.Random(7),
                          announce=lambda name, when: announced.append(when))
    first = scheduler.plan()["sample"]
    assert first.microsecond == 0  # whole seconds: printed exactly as taken
    scheduler.loop(max_runs=3)
    assert started[0] == first
    assert announced[0] == first and announced[1:3] == started[1:3]
    assert len(set(announced)) == len(announced)
