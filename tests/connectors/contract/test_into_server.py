"""End to end for every connector: its fake source → the rules → ChartMogul (saasync serve).

One test, run against each connector's contract harness: what the connector reads ends
at the ChartMogul-compatible server exactly as it ends in the local store, and a second
run sends nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.destinations.local import LocalStore
from saasync.engine import Engine
from saasync.rules.builder import RuleSettings
from saasync.server.app import make_server
from saasync.settings import DestinationSettings
from saasync.state import StateStore
from tests.connectors.contract.harness import ContractHarness
from tests.connectors.contract.registry import HARNESSES


@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
def test_connector_into_the_chartmogul_server(harness: ContractHarness, tmp_path: Path) -> None:
    settings = DestinationSettings(type="chartmogul", api_key_env="K", requests_per_second=5000)
    with harness.source(tmp_path) as src, make_server(
        tmp_path / "account.db", api_key="k", rate_limit=0, max_concurrency=0
    ) as server:
        settings = settings.model_copy(update={"base_url": server.url})
        with StateStore(tmp_path / "s1.db") as state, ChartMogulDestination(
            settings, {"K": "k"}, sleep=lambda _: None
        ) as destination:
            engine = Engine("c", src.connector, state, destination, rules=RuleSettings(), data_source="c")
            report = engine.run("sync")
            assert report.status == "ok" and report.counts()["balanced"]
            assert report.changes()["created"] > 0
            assert sum(engine.run("backfill").changes().values()) == 0
        with StateStore(tmp_path / "s2.db") as state, LocalStore(tmp_path / "local.db") as local:
            Engine("c", src.connector, state, local, rules=RuleSettings(), data_source="c").run("sync")
            assert comparable(server.store.content_dump()) == comparable(local.content_dump())


def comparable(dump: Any) -> Any:
    """The stores' content, less what ChartMogul's API does not carry: a subscription
    line's description (not a field of subscription line items), and weeks (ChartMogul
    plans count days, so a 2-week plan travels as 14 days)."""
    if isinstance(dump, dict):
        if dump.get("interval_unit") == "week":
            dump = {**dump, "interval_unit": "day", "interval_count": 7 * dump["interval_count"]}
        if dump.get("kind") == "subscription" and "description" in dump:
            dump = {k: v for k, v in dump.items() if k != "description"}
        return {k: comparable(v) for k, v in dump.items()}
    if isinstance(dump, (list, tuple)):
        return [comparable(v) for v in dump]
    return dump
