"""Crash safety, proven: SIGKILL a sync at random points, many times, then let it finish.

The store must end exactly as after one clean run: nothing missing, nothing twice.
A kill point is an amount of progress, not a moment: the test watches the destination's
invoices grow (read-only, the store is in WAL mode) and kills the sync once a randomly
chosen share of the invoices still missing has arrived, however fast the machine is.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saasync.destinations.local import LocalStore
from tests.e2e.conftest import SAMPLE, write_config


def sync(config: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    """One sync process; in one process (the writer whose kill points are tested here)
    unless ``workers`` says otherwise (a first sync then splits, ``saasync.split``)."""
    return subprocess.Popen([sys.executable, "-m", "saasync", "sync", "--config", str(config),
                             "--json", "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def invoices_in(db: Path) -> int:
    """How many invoices the store file holds now; 0 before the sync has created it."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:  # not created yet
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM invoices").fetchone()[0])
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        conn.close()


def kill_at_progress(proc: subprocess.Popen[bytes], db: Path, share: float, total: int) -> bool:
    """SIGKILL ``proc`` once ``share`` of the invoices ``db`` still misses (at least one) have
    arrived; False when the sync finished first."""
    target = (before := invoices_in(db)) + max(1, int(share * (total - before)))
    deadline = time.monotonic() + 120
    while proc.poll() is None:
        if invoices_in(db) >= target:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            return True
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.005)
    return False


def fingerprint(folder: Path) -> str:
    with LocalStore(folder / "store" / "analytics.db") as store:
        return store.fingerprint()


def test_sigkill_at_random_points_then_finish_equals_one_clean_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local store shows a sync's writes once per commit (once a second by default; the
    # sample syncs in about one): commit every 20 ms so that progress can be watched.
    monkeypatch.setenv("SAASYNC_COMMIT_SECONDS", "0.02")
    clean = tmp_path / "clean"
    clean.mkdir()
    assert sync(write_config(clean, SAMPLE)).wait(timeout=120) == 0
    total = invoices_in(clean / "store" / "analytics.db")

    crashy = tmp_path / "crashy"
    crashy.mkdir()
    config = write_config(crashy, SAMPLE)
    rng = random.Random(20261121)
    kills = 0
    for _ in range(8):
        kills += kill_at_progress(sync(config), crashy / "store" / "analytics.db",
                                  rng.uniform(0.15, 0.7), total)
    assert kills >= 3, "the kill points should mostly land inside a run"
    assert sync(config).wait(timeout=120) == 0
    assert fingerprint(crashy) == fingerprint(clean)
    again = subprocess.run([sys.executable, "-m", "saasync", "sync", "--config", str(config), "--json"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and '"created": 0' in again.stdout


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_split_first_sync_kills_its_parts_and_the_next_run_finishes(
        tmp_path: Path) -> None:
    """Killed while its parts work: they die with it, nothing reached the store or the
    state, and the next run (split again, its predecessor's scratch folder cleared)
    leaves exactly what one clean run does."""
    from tests.e2e.test_lean_dry_run import generated

    data = generated(tmp_path / "data", customers=600, seed=3)
    clean = tmp_path / "clean"
    clean.mkdir()
    assert sync(write_config(clean, data)).wait(timeout=120) == 0
    crashy = tmp_path / "crashy"
    crashy.mkdir()
    config = write_config(crashy, data)
    proc = sync(config, workers=2)
    deadline = time.monotonic() + 60
    while len(parts := _children(proc.pid)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "no parts started"
        time.sleep(0.01)
    time.sleep(0.3)  # the parts are at work
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in parts):
        assert time.monotonic() < deadline, "the parts outlived the run"
        time.sleep(0.02)
    assert invoices_in(crashy / "store" / "analytics.db") == 0
    assert list((crashy / "state").glob(".saasync-split-*"))  # left by the kill
    assert sync(config, workers=2).wait(timeout=120) == 0
    assert not list((crashy / "state").glob(".saasync-split-*"))
    assert fingerprint(crashy) == fingerprint(clean)


def test_sigkill_against_the_chartmogul_server_then_finish_equals_one_clean_run(tmp_path: Path) -> None:
    """The same, with the destination the ChartMogul-compatible server over real HTTP."""
    from saasync.server.app import make_server
    from tests.e2e.test_chartmogul_server import KEY, chartmogul_config

    env = {**os.environ, "CM_TEST_KEY": KEY}

    def cm_sync(config: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "saasync", "sync", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

    with make_server(tmp_path / "clean.db", api_key=KEY, rate_limit=0, max_concurrency=0) as clean:
        (tmp_path / "c").mkdir()
        assert cm_sync(chartmogul_config(tmp_path / "c", clean.url)).wait(timeout=180) == 0
        expected = clean.store.fingerprint()
    total = invoices_in(tmp_path / "clean.db")
    with make_server(tmp_path / "crashy.db", api_key=KEY, rate_limit=0, max_concurrency=0) as server:
        (tmp_path / "k").mkdir()
        config = chartmogul_config(tmp_path / "k", server.url)
        rng = random.Random(7)
        kills = 0
        for _ in range(6):
            kills += kill_at_progress(cm_sync(config), tmp_path / "crashy.db",
                                      rng.uniform(0.15, 0.7), total)
        assert kills >= 3
        assert cm_sync(config).wait(timeout=180) == 0
        assert server.store.fingerprint() == expected
