"""Crash safety, proven: SIGKILL a sync at random points, many times, then let it finish.

The store must end exactly as after one clean run: nothing missing, nothing twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from saasync.destinations.local import LocalStore
from tests.e2e.conftest import SAMPLE, write_config


def sync(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "saasync", "sync", "--config", str(config), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fingerprint(folder: Path) -> str:
    with LocalStore(folder / "store" / "analytics.db") as store:
        return store.fingerprint()


def test_sigkill_at_random_points_then_finish_equals_one_clean_run(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    started = time.monotonic()
    assert sync(write_config(clean, SAMPLE)).wait(timeout=120) == 0
    duration = time.monotonic() - started  # kill points are cut inside a run this long

    crashy = tmp_path / "crashy"
    crashy.mkdir()
    config = write_config(crashy, SAMPLE)
    rng = random.Random(20261121)
    kills = 0
    for _ in range(8):
        proc = sync(config)
        time.sleep(rng.uniform(0.15, 0.7) * duration)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    assert kills >= 3, "the kill points should mostly land inside a run"
    assert sync(config).wait(timeout=120) == 0
    assert fingerprint(crashy) == fingerprint(clean)
    again = subprocess.run([sys.executable, "-m", "saasync", "sync", "--config", str(config), "--json"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and '"created": 0' in again.stdout


def test_sigkill_against_the_chartmogul_server_then_finish_equals_one_clean_run(tmp_path: Path) -> None:
    """The same, with the destination the ChartMogul-compatible server over real HTTP."""
    from saasync.server import make_server
    from tests.e2e.test_chartmogul_server import KEY, chartmogul_config

    env = {**os.environ, "CM_TEST_KEY": KEY}

    def cm_sync(config: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "saasync", "sync", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    with make_server(tmp_path / "clean.db", api_key=KEY, rate_limit=0, max_concurrency=0) as clean:
        (tmp_path / "c").mkdir()
        started = time.monotonic()
        assert cm_sync(chartmogul_config(tmp_path / "c", clean.url)).wait(timeout=180) == 0
        duration = time.monotonic() - started
        expected = clean.store.fingerprint()
    with make_server(tmp_path / "crashy.db", api_key=KEY, rate_limit=0, max_concurrency=0) as server:
        (tmp_path / "k").mkdir()
        config = chartmogul_config(tmp_path / "k", server.url)
        rng = random.Random(7)
        kills = 0
        for _ in range(6):
            proc = cm_sync(config)
            time.sleep(rng.uniform(0.15, 0.7) * duration)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(timeout=60)
        assert kills >= 3
        assert cm_sync(config).wait(timeout=180) == 0
        assert server.store.fingerprint() == expected
