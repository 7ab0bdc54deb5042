"""End to end: real redis-server, real workers in subprocesses, several connections at once.

- three connections (two into one `saasync serve` account, one into a local store) run on
  one worker at the same time end in exactly the state of clean in-process runs; the
  account's rate is shared (no 429 although each run alone would pace at the full rate);
  a second task for a busy connection is skipped, not queued; re-sending changes nothing;
- a worker killed with SIGKILL mid-run: its task is redelivered to a new worker, which
  finishes it, and the destination ends in the clean state again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from saasync.destinations.local import LocalStore
from saasync.distributed.app import create_app
from saasync.distributed.options import DistributedOptions
from saasync.distributed.tasks import TASK_NAME, lock_key
from saasync.logs import configure_logging
from saasync.runner import run_connection
from saasync.server.app import ServerHandle, make_server
from saasync.server.limits import SlidingWindow
from saasync.settings import load_settings
from saasync.state import StateStore

pytestmark = pytest.mark.slow
KEY = "cm-distributed-key"
ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, data: Path, url: str, *, rate: float,
                 connections: tuple[str, ...] = ("alpha", "beta", "gamma")) -> Path:
    text = 'state = "state.db"\n'
    for name in connections:
        text += f'[connections.{name}]\nconnector = "files"\n[connections.{name}.options]\npath = "{data.as_posix()}"\n'
        if name == "gamma":
            text += f'[connections.{name}.destination]\ntype = "local"\npath = "gamma.db"\ndata_source = "gamma"\n'
        else:  # one account: same base_url, same key variable -> one shared budget; per
            # customer, so a first sync makes hundreds of requests (auto would send it in bulk)
            text += (f'[connections.{name}.destination]\ntype = "chartmogul"\nbase_url = "{url}"\n'
                     f'api_key_env = "CM_DIST_KEY"\ndata_source = "{name}"\nrequests_per_second = {rate}\n'
                     'import_mode = "per_customer"\n')
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "saasync.toml").write_text(text, encoding="utf-8")
    return folder / "saasync.toml"


class CountingWindow(SlidingWindow):
    """The server's rate window, recording what it admits and refuses."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self.admitted: list[float] = []
        self.refused = 0
        self._count = threading.Lock()

    def admit(self, key: str) -> bool:
        ok = super().admit(key)
        with self._count:
            if ok:
                self.admitted.append(time.monotonic())
            else:
                self.refused += 1
        return ok


@contextmanager
def account(path: Path, rate: float = 0) -> Iterator[tuple[ServerHandle, CountingWindow]]:
    with make_server(path, api_key=KEY, rate_limit=rate, max_concurrency=0) as server:
        window = CountingWindow(rate)
        server.app.window = window
        server.start()
        yield server, window


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fingerprints of clean in-process runs (alpha alone, alpha + beta, gamma) and the
    number of records alpha creates."""
    from tests.e2e.conftest import SAMPLE

    folder = tmp_path_factory.mktemp("clean")
    prints: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp, account(folder / "account.db") as (server, _):
        mp.setenv("CM_DIST_KEY", KEY)
        configure_logging(json_logs=True, verbose=False)
        settings = load_settings(write_config(folder, SAMPLE, server.url, rate=5000))
        for name in ("alpha", "beta", "gamma"):
            report = run_connection(settings, name, settings.connections[name], mode="sync", dry_run=False)
            assert report.status == "ok"
            prints[f"{name} created"] = report.changes()["created"]
            prints[name] = server.store.fingerprint()
    with LocalStore(folder / "gamma.db") as store:
        prints["gamma"] = store.fingerprint()
    prints["alpha+beta"] = prints.pop("beta")
    return prints


@contextmanager
def worker(config: Path, redis_url: str, logs: Path, *, pool: str, concurrency: int = 1,
           env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`saasync celery worker` in its own process group; stopped (or killed) at the end."""
    cmd = [sys.executable, "-m", "saasync", "--log-json", "celery", "worker", "--config", str(config),
           f"--pool={pool}", f"--concurrency={concurrency}", "--without-mingle", "--without-gossip"]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "SAASYNC_BROKER_URL": redis_url,
                "CM_DIST_KEY": KEY, **env}
    with logs.open("ab") as out:
        proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{logs.read_text()[-4000:]}")
        time.sleep(0.05)


def max_in_window(stamps: list[float], per: float = 1.0) -> int:
    first, best = 0, 0
    for last, stamp in enumerate(stamps):
        while stamps[first] <= stamp - per:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_several_connections_on_workers_end_in_the_clean_state(tmp_path: Path, sample_dir: Path,
                                                               redis_url: str, clean: dict[str, Any]) -> None:
    rate, server_limit = 150, 200  # each run paces at 150/s; two at once would be 300/s
    logs = tmp_path / "worker.log"
    with account(tmp_path / "account.db", server_limit) as (server, window):
        config = write_config(tmp_path / "run", sample_dir, server.url, rate=rate)
        options = DistributedOptions(config_path=str(config), broker_url=redis_url,
                                     lock_ttl=5, visibility_timeout=120)
        app = create_app(options)
        env = {"SAASYNC_LOCK_TTL": "5", "SAASYNC_VISIBILITY_TIMEOUT": "120"}
        with worker(config, redis_url, logs, pool="threads", concurrency=4, env=env):
            sent = {name: app.send_task(TASK_NAME, args=[name]) for name in ("alpha", "beta", "gamma")}
            wait_for(lambda: sent["alpha"].state == "STARTED", 30, "alpha to start", logs)
            again = app.send_task(TASK_NAME, args=["alpha"])
            busy = again.get(timeout=30)
            results = {name: r.get(timeout=90) for name, r in sent.items()}
            # re-sending every connection is a no-op: nothing changed at the source
            reruns = [app.send_task(TASK_NAME, args=[name]).get(timeout=60) for name in sent]
        end_state = server.store.fingerprint()

    assert busy["status"] == "skipped" and busy["reason"] == "locked"
    assert busy["holder"]["task_id"] == sent["alpha"].id
    for name, result in results.items():
        assert result["status"] == "ok", (name, result)
        assert result["changes"]["created"] == clean[f"{name} created"]
    assert all(sum(r["changes"].values()) == 0 and r["status"] == "ok" for r in reruns), reruns
    assert end_state == clean["alpha+beta"]
    with LocalStore(tmp_path / "run" / "gamma.db") as store:
        assert store.fingerprint() == clean["gamma"]
    # alpha and beta ran at the same time and drew from one budget
    with StateStore(tmp_path / "run" / "state.db", read_only=True) as state:
        alpha, beta = (state.runs(name, limit=10)[-1] for name in ("alpha", "beta"))
    assert alpha.started_at < beta.finished_at and beta.started_at < alpha.finished_at  # type: ignore[operator]
    assert window.refused == 0
    assert max_in_window(sorted(window.admitted)) <= server_limit
    assert len(window.admitted) / (window.admitted[-1] - window.admitted[0]) <= rate * 1.1
    client = redis.Redis.from_url(redis_url)
    assert client.keys("saasync:lock:*") == []
    client.close()


def test_a_worker_killed_mid_run_is_replaced_and_the_run_ends_clean(tmp_path: Path, sample_dir: Path,
                                                                    redis_url: str, clean: dict[str, Any]) -> None:
    logs = tmp_path / "worker.log"
    env = {"SAASYNC_LOCK_TTL": "2", "SAASYNC_VISIBILITY_TIMEOUT": "6"}
    with account(tmp_path / "account.db") as (server, window):
        config = write_config(tmp_path / "run", sample_dir, server.url, rate=200, connections=("alpha",))
        app = create_app(DistributedOptions(config_path=str(config), broker_url=redis_url,
                                            lock_ttl=2, visibility_timeout=6))
        with worker(config, redis_url, logs, pool="solo", env=env) as first:
            task = app.send_task(TASK_NAME, args=["alpha"])
            wait_for(lambda: len(window.admitted) > 150, 30, "the run to be well under way", logs)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        halfway = len(window.admitted)
        assert task.state == "STARTED"  # not acknowledged: still the broker's
        client = redis.Redis.from_url(redis_url)
        assert client.get(lock_key("alpha")) is not None  # the dead worker's lock, expiring
        with worker(config, redis_url, logs, pool="solo", env=env):
            result = task.get(timeout=60)
        end_state = server.store.fingerprint()

    assert result["status"] == "ok", result
    # the rest of the run, not all of it again
    assert 0 < result["changes"]["created"] < clean["alpha created"]
    assert len(window.admitted) > halfway
    assert end_state == clean["alpha"]
    assert client.get(lock_key("alpha")) is None
    client.close()
    with StateStore(tmp_path / "run" / "state.db", read_only=True) as state:
        assert [r.status for r in state.runs("alpha")] == ["ok", "running"]  # the killed run never finished
