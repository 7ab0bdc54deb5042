"""The emulated data source's auto_churn_subscription_setting: stored on create, read back
with its flag, and applied to the statuses the account derives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from saasync.connector import ReadWindow
from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.engine import Engine
from saasync.rules.builder import RuleSettings
from saasync.server.app import ServerHandle
from saasync.settings import DestinationSettings
from saasync.state import StateStore
from tests.factories import customer, dt, invoice, plan, sub_line
from tests.server.conftest import Api, monthly_invoice

FLAG = {"with_auto_churn_subscription_setting": "true"}


def _source(api: Api, name: str, setting: dict[str, Any] | None) -> str:
    body: dict[str, Any] = {"name": name}
    if setting is not None:
        body["auto_churn_subscription_setting"] = setting
    return str(api.ok("POST", "/data_sources", body, 201)["uuid"])


def test_auto_churn_setting_is_stored_on_create_and_read_with_its_flag(api: Api) -> None:
    on = _source(api, "on", {"enabled": True, "interval": 30})
    off = _source(api, "off", None)
    assert api.ok("GET", f"/data_sources/{on}", params=FLAG)["auto_churn_subscription_setting"] == {
        "enabled": True, "interval": 30}
    assert api.ok("GET", f"/data_sources/{off}", params=FLAG)["auto_churn_subscription_setting"] == {
        "enabled": False, "interval": None}
    assert "auto_churn_subscription_setting" not in api.ok("GET", f"/data_sources/{on}")
    listed = api.ok("GET", "/data_sources", params=FLAG)["data_sources"]
    assert [d["auto_churn_subscription_setting"]["enabled"] for d in listed] == [True, False]
    bad = api.ok("POST", "/data_sources", {"name": "bad", "auto_churn_subscription_setting": {
        "enabled": True, "interval": 0}}, 422)
    assert "auto_churn_subscription_setting" in bad["errors"]


def test_auto_churn_setting_cancels_a_subscription_without_a_renewal(api: Api) -> None:
    """The server's clock is 2024-06-15: the last period ended 2024-04-01, 75 days before."""
    statuses = {}
    for name, setting in (("on", {"enabled": True, "interval": 30}), ("off", None),
                          ("long", {"enabled": True, "interval": 90})):
        ds = _source(api, name, setting)
        pl = api.plan(ds)
        cus = api.customer(ds)
        api.invoice(cus, monthly_invoice("i1", pl, "2024-02-01", "2024-03-01"),
                    monthly_invoice("i2", pl, "2024-03-01", "2024-04-01"))
        subs = api.ok("GET", f"/customers/{cus}/subscriptions")["entries"]
        statuses[name] = (api.ok("GET", f"/customers/{cus}")["status"], subs[0]["status"],
                          subs[0]["end-date"][:10])
    assert statuses["on"] == ("Cancelled", "inactive", "2024-04-01")
    # without the setting (or with a longer interval) it stays past due, still counted
    assert statuses["off"] == statuses["long"] == ("Past Due", "active", "2024-04-01")


def test_engine_warns_when_the_data_source_churns_automatically_too(
    server: ServerHandle, api: Api, tmp_path: Path
) -> None:
    _source(api, "billing", {"enabled": True, "interval": 30})

    class Source:
        name = "memory"

        def read(self, window: ReadWindow) -> Any:
            yield plan()
            yield customer()
            yield invoice("in_1", "2024-05-01", [sub_line(5000, "2024-05-01")])

    settings = DestinationSettings(type="chartmogul", base_url=server.url, api_key_env="CM_KEY",
                                   requests_per_second=1000, data_source="billing")
    with StateStore(tmp_path / "s.db") as state, ChartMogulDestination(
            settings, {"CM_KEY": "test-key"}, sleep=lambda _: None) as destination, \
            structlog.testing.capture_logs() as logs:
        for days in (None, 45):
            Engine("c", Source(), state, destination, rules=RuleSettings(auto_churn_days=days),  # type: ignore[arg-type]
                   data_source="billing", clock=lambda: dt("2024-06-15")).run("sync")
    warnings = [e for e in logs if e["log_level"] == "warning" and "automatic churn" in e["event"]]
    assert len(warnings) == 1 and warnings[0]["destination_interval"] == 30
