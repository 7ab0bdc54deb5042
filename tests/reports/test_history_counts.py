"""Counts over time: a customer exists from its creation time, and ``metrics --at T`` is
the sum of ``explain ID --at T`` over every customer, at every month end of the sample."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from saasync.destinations.local import LocalStore
from saasync.reports.commands import _load, _read
from saasync.reports.explain import explain
from saasync.reports.metrics import CUSTOMER_STATUSES, month_ends, monthly_series
from saasync.runner import rule_settings
from tests.reports.conftest import RunCli, cli_json


def test_metrics_before_the_sample_counts_no_customer(run_cli: RunCli, synced: Path) -> None:
    doc = cli_json(run_cli, "metrics", "--config", str(synced), "--at", "2024-01-01",
                   "--months", "1")
    assert doc["customers"] == {"Lead": 0, "Active": 0, "Past-Due": 0, "Cancelled": 0}
    assert doc["mrr"] == {}


def test_metrics_at_each_month_end_is_the_sum_of_explain_over_every_customer(
    synced: Path,
) -> None:
    settings, name, conn = _load(str(synced), None)
    source, quarantined = _read(settings, name, conn)
    rules = rule_settings(conn)
    with LocalStore(settings.resolve(conn.destination.path)) as store:
        store.select_data_source(conn.destination.data_source)
        series = monthly_series(store, date(2025, 4, 1), date(2026, 11, 15))
        ids = store.customer_external_ids()
        # explain at the last T tells each customer's status at every earlier month end
        stories = {cid: explain(source, store, cid, series[-1].metrics.at, rules, quarantined)
                   for cid in ids}
        ends = [day.isoformat() for day, _ in month_ends(date(2025, 4, 1), date(2026, 11, 15))]
        for point, day in zip(series, ends, strict=True):
            summed: Counter[str] = Counter()
            for cid, story in stories.items():
                assert story is not None, cid
                months = dict(story.customer_months)
                summed[months.get(day, "")] += 1
            counts = {s.value: point.metrics.customers[s] for s in CUSTOMER_STATUSES}
            assert counts == {s.value: summed[s.value] for s in CUSTOMER_STATUSES}, day
        assert sum(series[0].metrics.customers.values()) == 0  # April 2025: before the sample
        # and explain --at a month end itself says the same as its month-by-month line
        for point in series[::6]:
            summed = Counter()
            for cid in ids:
                story = explain(source, store, cid, point.metrics.at, rules, quarantined)
                assert story is not None
                summed[story.customer_actual] += 1
                assert story.customer_expected == story.customer_actual, (cid, point.date)
            counts = {s.value: point.metrics.customers[s] for s in CUSTOMER_STATUSES}
            assert counts == {s.value: summed[s.value] for s in CUSTOMER_STATUSES}, point.date
