"""Through the CLI into `saasync serve`, read back over HTTP: a subscription cancelled and
then reactivated at the source keeps its cancellation in ``cancellation_dates``, and the
account's metrics show the churn, then the reactivation, month by month."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from saasync.server.app import ServerHandle, make_server
from saasync_connectors.files.columns import COLUMNS
from tests.e2e.conftest import RunCli, run_json

KEY = "cm-history-key"


def _write(folder: Path, subscription: dict[str, str], invoices: list[tuple[str, str, str]]) -> None:
    """A files export of one customer; ``invoices`` are (id, period start, period end)."""
    folder.mkdir(exist_ok=True)
    rows: dict[str, list[dict[str, str]]] = {
        "plans": [{"external_id": "pro", "name": "Pro", "interval_unit": "month",
                   "interval_count": "1"}],
        "customers": [{"external_id": "cus_1", "name": "Ada", "created_at": "2026-01-01T00:00:00Z"}],
        "subscriptions": [{"external_id": "sub_1", "customer_external_id": "cus_1",
                           "plan_external_id": "pro", "started_at": "2026-01-01T00:00:00Z",
                           **subscription}],
        "invoices": [], "invoice_lines": [], "transactions": [],
    }
    for iid, start, end in invoices:
        rows["invoices"].append({"external_id": iid, "customer_external_id": "cus_1",
                                 "issued_at": start, "currency": "USD", "status": "paid"})
        rows["invoice_lines"].append({
            "invoice_external_id": iid, "external_id": f"{iid}_l", "kind": "subscription",
            "subscription_external_id": "sub_1", "plan_external_id": "pro",
            "service_period_start": start, "service_period_end": end, "amount": "50.00"})
        rows["transactions"].append({"invoice_external_id": iid, "external_id": f"{iid}_t",
                                     "type": "payment", "result": "successful", "date": start,
                                     "amount": "50.00"})
    for name, table in rows.items():
        columns = list(COLUMNS[name])
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(table)


FIRST = [("in_1", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
         ("in_2", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")]
LATER = [("in_3", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"),
         ("in_4", "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z")]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerHandle]:
    with make_server(tmp_path / "account.db", api_key=KEY, rate_limit=0, max_concurrency=0) as handle:
        yield handle


def test_reactivation_keeps_effective_cancellation_through_the_cli(
    tmp_path: Path, server: ServerHandle, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CM_HISTORY_KEY", KEY)
    data = tmp_path / "export"
    config = tmp_path / "cm.toml"
    config.write_text(f"""
state = "state.db"
[connections.billing]
connector = "files"
[connections.billing.options]
path = "{data.as_posix()}"
[connections.billing.destination]
type = "chartmogul"
base_url = "{server.url}"
api_key_env = "CM_HISTORY_KEY"
data_source = "billing"
requests_per_second = 2000
""", encoding="utf-8")
    http = requests.Session()
    http.auth = (KEY, "")

    def cancellation_dates() -> list[str]:
        ds = http.get(f"{server.url}/data_sources", timeout=10).json()["data_sources"][0]["uuid"]
        found = http.get(f"{server.url}/customers", timeout=10,
                         params={"data_source_uuid": ds, "external_id": "cus_1"}).json()
        uuid = found["entries"][0]["uuid"]
        subs = http.get(f"{server.url}/import/customers/{uuid}/subscriptions", timeout=10).json()
        return [d[:10] for d in subs["subscriptions"][0]["cancellation_dates"]]

    # 1. cancelled at the end of February
    _write(data, {"status": "cancelled", "cancelled_at": "2026-03-01T00:00:00Z",
                 "updated_at": "2026-03-01T00:00:00Z"}, FIRST)
    first = run_json(run_cli, "sync", "--config", str(config))
    assert first["changes"]["cancelled"] == 1
    assert cancellation_dates() == ["2026-03-01"]

    # 2. reactivated in June: the source says active and has forgotten the cancellation
    _write(data, {"status": "active", "updated_at": "2026-06-01T00:00:00Z"}, FIRST + LATER)
    planned = run_json(run_cli, "sync", "--config", str(config), "--dry-run")
    done = run_json(run_cli, "sync", "--config", str(config))
    assert planned["changes"] == done["changes"] and done["changes"]["reactivated"] == 0
    assert cancellation_dates() == ["2026-03-01"]  # the churn that happened is kept
    again = run_json(run_cli, "sync", "--config", str(config))
    assert sum(again["changes"].values()) == 0

    # 3. month by month: churned from March, back in June
    mrr = http.get(f"{server.url}/metrics/mrr", timeout=10, params={
        "start-date": "2026-01-01", "end-date": "2026-07-31", "interval": "month"}).json()
    by_month = {e["date"][:7]: e for e in mrr["entries"]}
    assert [by_month[m]["mrr"] for m in sorted(by_month)] == [5000, 5000, 0, 0, 0, 5000, 5000]
    assert by_month["2026-03"]["mrr-churn"] == -5000
    assert by_month["2026-06"]["mrr-reactivation"] == 5000
