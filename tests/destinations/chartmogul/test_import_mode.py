"""``import_mode = "auto"``: the composition root sends a backfill or a first sync in bulk
when it has more than ``bulk_threshold`` objects, everything else per customer; the run
report says which and why. Real HTTP against `saasync serve`, through ``run_connection``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saasync.destinations.chartmogul.client import ChartMogulClient
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.errors import FatalError
from saasync.run_report import RunReport
from saasync.runner import run_connection
from saasync.server.app import ServerHandle, make_server
from saasync.settings import ConnectionSettings, Settings
from saasync.state import StateStore
from tests.e2e.conftest import SAMPLE

KEY = "cm-import-mode-key"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerHandle]:
    with make_server(tmp_path / "account.db", api_key=KEY, rate_limit=0, max_concurrency=0) as handle:
        yield handle


@pytest.fixture
def imports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the json_imports the client creates."""
    made: list[str] = []
    create = ChartMogulClient.create_json_import

    def counted(self: ChartMogulClient, ds: str, body: Any) -> Any:
        created = create(self, ds, body)
        made.append(str(created.get("id")))
        return created

    monkeypatch.setattr(ChartMogulClient, "create_json_import", counted)
    monkeypatch.setenv("CM_KEY", KEY)
    return made


def settings(tmp_path: Path, url: str, **destination: Any) -> Settings:
    conn = ConnectionSettings(connector="files", options={"path": str(SAMPLE)}, destination={
        "type": "chartmogul", "base_url": url, "api_key_env": "CM_KEY", "data_source": "sample",
        "requests_per_second": 5000, **destination})
    return Settings(state=str(tmp_path / "state.db"), connections={"sample": conn},
                    base_dir=tmp_path)


def run(config: Settings, mode: str = "sync", *, dry_run: bool = False) -> RunReport:
    def build(settings: Settings, conn: ConnectionSettings) -> ChartMogulDestination:
        import os

        return ChartMogulDestination(conn.destination, os.environ, sleep=lambda _: None)

    name, conn = config.connection("sample")
    return run_connection(config, name, conn, mode=mode, dry_run=dry_run, workers=1,
                          destination_factory=build)


def test_auto_is_the_default_with_a_threshold_of_100() -> None:
    conn = ConnectionSettings(connector="files", destination={"type": "chartmogul"})
    assert conn.destination.import_mode == "auto" and conn.destination.bulk_threshold == 100


def test_a_first_sync_above_the_threshold_goes_in_bulk_then_increments_per_customer(
        tmp_path: Path, server: ServerHandle, imports: list[str]) -> None:
    config = settings(tmp_path, server.url)
    planned = run(config, dry_run=True)
    assert planned.import_mode == "bulk"
    assert planned.import_mode_reason is not None
    assert planned.import_mode_reason.startswith("first sync (no cursor yet) sending more than")
    assert not imports  # a dry run sends nothing

    first = run(config)
    assert first.status == "ok" and first.counts()["balanced"]
    assert (first.import_mode, first.import_mode_reason) == (planned.import_mode,
                                                             planned.import_mode_reason)
    assert first.as_dict()["import_mode"] == "bulk" and imports
    assert first.changes() == planned.changes()
    with StateStore(tmp_path / "state.db") as state:
        assert state.get_cursor("sample") is not None
        assert state.pushed_count("sample")["invoice"] == first.changes()["created"] - sum(
            1 for op in first.ops if op.kind != "invoice" and op.action == "create")

    count = len(imports)
    again = run(config)
    assert again.import_mode == "per_customer"
    assert again.import_mode_reason == "incremental sync (the connection has a cursor)"
    assert sum(again.changes().values()) == 0 and len(imports) == count
    dry = run(config, dry_run=True)  # a dry run with a cursor says what the real run would do
    assert (dry.import_mode, dry.import_mode_reason) == (again.import_mode,
                                                         again.import_mode_reason)


def test_a_first_sync_below_the_threshold_goes_per_customer_and_ends_the_same(
        tmp_path: Path, imports: list[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with make_server(tmp_path / "a.db", api_key=KEY, rate_limit=0, max_concurrency=0) as forced:
        report = run(settings(tmp_path / "a", forced.url, import_mode="per_customer"))
        assert (report.import_mode, report.import_mode_reason) == (
            "per_customer", 'import_mode = "per_customer"')
        expected = forced.store.fingerprint()
    with make_server(tmp_path / "b.db", api_key=KEY, rate_limit=0, max_concurrency=0) as auto:
        config = settings(tmp_path / "b", auto.url, bulk_threshold=1_000_000)
        planned = run(config, dry_run=True)
        done = run(config)
        assert done.status == "ok" and done.counts()["balanced"]
        assert done.import_mode == planned.import_mode == "per_customer"
        assert done.import_mode_reason == planned.import_mode_reason
        assert "not more than bulk_threshold = 1000000" in (done.import_mode_reason or "")
        assert not imports
        assert auto.store.fingerprint() == expected
        assert done.counts() == report.counts() and done.changes() == report.changes()
        assert sum(run(config).changes().values()) == 0


def test_a_backfill_above_the_threshold_goes_in_bulk(tmp_path: Path, server: ServerHandle,
                                                     imports: list[str]) -> None:
    report = run(settings(tmp_path, server.url), "backfill")
    assert report.status == "ok" and report.import_mode == "bulk" and imports
    assert (report.import_mode_reason or "").startswith("backfill sending more than "
                                                        "bulk_threshold = 100")


def test_an_interrupted_bulk_import_then_a_rerun_ends_like_one_clean_run(
        tmp_path: Path, imports: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "crashy").mkdir()
    with make_server(tmp_path / "clean.db", api_key=KEY, rate_limit=0, max_concurrency=0) as clean:
        clean_report = run(settings(tmp_path / "clean", clean.url))
        assert clean_report.import_mode == "bulk"
        expected = clean.store.fingerprint()
    with make_server(tmp_path / "crashy.db", api_key=KEY, rate_limit=0,
                     max_concurrency=0) as crashy:
        config = settings(tmp_path / "crashy", crashy.url)
        polls = 0
        poll = ChartMogulClient.get_json_import

        def dies_on_the_first_poll(self: ChartMogulClient, ds: str, import_id: str) -> Any:
            nonlocal polls
            polls += 1
            if polls == 1:  # the import was sent and ran; the process died waiting for it
                raise FatalError("injected failure: connection lost")
            return poll(self, ds, import_id)

        with monkeypatch.context() as patch:
            patch.setattr(ChartMogulClient, "get_json_import", dies_on_the_first_poll)
            with pytest.raises(FatalError):
                run(config)
        with StateStore(tmp_path / "crashy" / "state.db") as state:
            assert state.get_cursor("sample") is None  # the cursor moves last
            [(left, _, _)] = state.imports_in_flight("sample")
        sent = len(imports)
        again = run(config)
        assert again.status == "ok", again.failed_ops[:3]
        # the import is settled first (saasync.inflight): its records are not sent again,
        # so what is left (cancellations) stays under the threshold and goes per customer
        [settled] = again.settled_imports
        assert settled["import_id"] == left == imports[-1] and settled["accepted"] > 100
        assert len(imports) == sent and again.import_mode == "per_customer"
        assert crashy.store.fingerprint() == expected
        assert sum(run(config).changes().values()) == 0
