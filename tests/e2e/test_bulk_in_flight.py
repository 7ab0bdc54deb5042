"""A run SIGKILLed while ChartMogul still holds its bulk import: the next run settles it.

Real processes and real HTTP against ``saasync serve``: the run is killed as soon as its
import id is in the state file (by progress, not by clock: the run then waits 2 s before
its first status poll). The next run polls that import, records what it accepted, sends
nothing of it again, and says so in its report; the account ends as after one clean run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from saasync.server.app import make_server
from tests.e2e.test_chartmogul_server import KEY, chartmogul_config

ENV = {**os.environ, "CM_TEST_KEY": KEY}


def sync(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "saasync", "sync", "--config", str(config),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=ENV, text=True)


def recorded(state: Path) -> list[str]:
    """The imports the state file holds as in flight (none while it has no such table)."""
    if not state.exists():
        return []
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return [row[0] for row in db.execute("SELECT import_id FROM bulk_imports")]
    except sqlite3.OperationalError:  # not created yet
        return []


def imports_at(server_db: Path) -> int:
    with sqlite3.connect(server_db) as db:
        return int(db.execute("SELECT count(*) FROM api_json_imports").fetchone()[0])


def test_a_run_killed_with_its_bulk_import_in_flight_is_settled_by_the_next(
        tmp_path: Path) -> None:
    with make_server(tmp_path / "clean.db", api_key=KEY, rate_limit=0, max_concurrency=0) as clean:
        (tmp_path / "c").mkdir()
        config = chartmogul_config(tmp_path / "c", clean.url, mode="bulk")
        assert sync(config).wait(timeout=180) in (0, 5)  # 5: the sample quarantines a few
        expected = clean.store.fingerprint()
    account = tmp_path / "account.db"
    with make_server(account, api_key=KEY, rate_limit=0, max_concurrency=0) as server:
        folder = tmp_path / "k"
        folder.mkdir()
        config = chartmogul_config(folder, server.url, mode="bulk")
        state = folder / "state.db"
        proc = sync(config)
        deadline = time.monotonic() + 180
        while not (in_flight := recorded(state)):
            assert proc.poll() is None, "the run ended before its import was recorded"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert imports_at(account) == 1 and len(in_flight) == 1

        again = sync(config, "--json")
        out, _ = again.communicate(timeout=180)
        assert again.returncode in (0, 5)
        report = json.loads(out)
        [settled] = report["settled_imports"]
        assert settled["import_id"] == in_flight[0] and settled["known"]
        assert settled["accepted"] > 250 and settled["refused"] == 0  # plans, customers, invoices
        assert imports_at(account) == 1  # nothing of it was sent again
        assert report["changes"]["created"] == 0
        assert recorded(state) == []
        assert server.store.fingerprint() == expected
        assert "settled_imports" not in json.loads(sync(config, "--json").communicate(
            timeout=180)[0])
