"""The ChartMogul destination against `saasync serve` over real HTTP, on the whole sample.

- a full sync through the CLI; a re-run sends nothing; the dry-run diff (read back from
  the server) matches what the real sync then does; the API key never reaches the logs;
- with faults on (20 % 429, 5 % 5xx, 2 % dropped connections), the server ends in exactly
  the state it reaches without faults: nothing missing, nothing twice;
- bulk mode ends in the same state as per-customer mode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from saasync.connector import ConnectorContext
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.engine import Engine
from saasync.rules.builder import RuleSettings
from saasync.server.app import ServerHandle, make_server
from saasync.server.faults import FaultConfig
from saasync.settings import DestinationSettings
from saasync.state import StateStore
from saasync_connectors.files.connector import FilesConnector
from tests.e2e.conftest import SAMPLE, RunCli, run_json

KEY = "cm-secret-key-4f9a"


def chartmogul_config(folder: Path, url: str, *, mode: str = "per_customer") -> Path:
    config = folder / "cm.toml"
    config.write_text(f"""
state = "state.db"
[connections.sample]
connector = "files"
[connections.sample.options]
path = "{SAMPLE.as_posix()}"
[connections.sample.destination]
type = "chartmogul"
base_url = "{url}"
api_key_env = "CM_TEST_KEY"
data_source = "sample"
import_mode = "{mode}"
requests_per_second = 2000
max_concurrency = 20
""", encoding="utf-8")
    return config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerHandle]:
    with make_server(tmp_path / "account.db", api_key=KEY, rate_limit=0, max_concurrency=0) as handle:
        yield handle


def test_sync_rerun_and_dry_run_against_the_server(tmp_path: Path, server: ServerHandle, run_cli: RunCli,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CM_TEST_KEY", KEY)
    config = chartmogul_config(tmp_path, server.url)
    planned = run_json(run_cli, "sync", "--config", str(config), "--dry-run")
    done = run_json(run_cli, "--log-json", "-v", "sync", "--config", str(config))
    assert done["status"] == "ok" and done["counts"]["balanced"]
    assert planned["changes"] == done["changes"]
    assert sorted(map(str, planned["ops"])) == sorted(map(str, done["ops"]))
    assert done["changes"]["created"] > 1000 and done["changes"]["cancelled"] > 0
    # the server now holds what the local-store run would hold
    with StateStore(tmp_path / "state.db") as state:
        assert state.pushed_count("sample")["invoice"] == sum(
            1 for op in done["ops"] if op["kind"] == "invoice" and op["action"] == "create")
    again = run_json(run_cli, "sync", "--config", str(config))
    assert sum(again["changes"].values()) == 0
    # a dry run now reads the server back and finds nothing to do
    diff = run_json(run_cli, "backfill", "--config", str(config), "--since", "2020-01-01", "--dry-run")
    assert sum(diff["changes"].values()) == 0, diff["ops"][:5]


def test_the_api_key_never_appears_in_logs_or_output(tmp_path: Path, server: ServerHandle,
                                                      run_cli: RunCli, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    import base64

    monkeypatch.setenv("CM_TEST_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    config = chartmogul_config(tmp_path, server.url)
    result = run_cli("--log-json", "-v", "sync", "--config", str(config), "--json")
    assert result.code == 0
    everything = result.out + result.err + caplog.text
    assert "http.request" in everything  # the requests were logged...
    assert KEY not in everything  # ...and the key was not
    assert base64.b64encode(f"{KEY}:".encode()).decode() not in everything
    monkeypatch.setenv("CM_TEST_KEY", "wrong-key")
    refused = run_cli("sync", "--config", str(config))
    assert refused.code == 3 and "CM_TEST_KEY" in refused.err and "wrong-key" not in refused.err


def push_sample(tmp_path: Path, server: ServerHandle, name: str, *, bulk: bool = False) -> str:
    settings = DestinationSettings(type="chartmogul", base_url=server.url, api_key_env="K",
                                   requests_per_second=5000, import_mode="bulk" if bulk else "per_customer")
    connector = FilesConnector({"path": str(SAMPLE)}, ConnectorContext(base_dir=tmp_path))
    with StateStore(tmp_path / f"state-{name}.db") as state, ChartMogulDestination(
        settings, {"K": KEY}, sleep=lambda _: None
    ) as destination:
        importer = None
        if bulk:
            destination.ensure_data_source("sample")
            importer = destination.bulk_importer()
        engine = Engine(name, connector, state, destination, rules=RuleSettings(), data_source="sample",
                        bulk=importer)
        report = engine.run("sync")
        assert report.status == "ok", (report.failed_ops[:3], report.conflicts[:3])
        assert sum(engine.run("sync").changes().values()) == 0
    structlog.reset_defaults()
    return server.store.fingerprint()


def test_faults_leave_exactly_the_state_of_a_clean_sync(tmp_path: Path) -> None:
    with make_server(tmp_path / "clean.db", api_key=KEY, rate_limit=0, max_concurrency=0) as clean:
        expected = push_sample(tmp_path, clean, "clean")
    faults = FaultConfig(p_429=0.20, retry_after_share=0.5, p_5xx=0.05, p_drop=0.02, seed=11)
    with make_server(tmp_path / "faulty.db", api_key=KEY, rate_limit=0, max_concurrency=0,
                     faults=faults) as faulty:
        assert push_sample(tmp_path, faulty, "faulty") == expected


def test_bulk_mode_ends_like_per_customer_mode(tmp_path: Path) -> None:
    with make_server(tmp_path / "a.db", api_key=KEY, rate_limit=0, max_concurrency=0) as per_customer:
        expected = push_sample(tmp_path, per_customer, "per_customer")
    with make_server(tmp_path / "b.db", api_key=KEY, rate_limit=0, max_concurrency=0) as bulk:
        assert push_sample(tmp_path, bulk, "bulk", bulk=True) == expected
