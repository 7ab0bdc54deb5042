"""The connector contract: every registered connector passes these, on its own fake source.

- every record read is either normalized or quarantined with a reason, once;
- an incremental re-run returns nothing new;
- changes made after a read are found by the next incremental read;
- backfill windows that meet at a boundary lose and duplicate nothing;
- a connector that reads time windows at once (a harness with ``with_concurrency``) hands
  on what one list at a time does, in the same order, in every mode.
"""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from saasync.connector import ENTRY_POINT_GROUP, Quarantined, ReadWindow, record_timestamp
from saasync.engine import KIND_OF
from saasync.models import Invoice
from saasync.reasons import Reason
from tests.connectors.contract.harness import ContractHarness
from tests.connectors.contract.registry import HARNESSES


def key(item: object) -> tuple[str, str]:
    if isinstance(item, Quarantined):
        return (item.kind, item.external_id or item.location or "?")
    return (KIND_OF[type(item)], item.external_id)  # type: ignore[attr-defined]


def read(connector: object, window: ReadWindow) -> list[object]:
    return list(connector.read(window))  # type: ignore[attr-defined]


@pytest.fixture(params=HARNESSES, ids=lambda h: h.name)
def harness(request: pytest.FixtureRequest) -> ContractHarness:
    return request.param  # type: ignore[no-any-return]


def test_every_registered_connector_has_a_harness() -> None:
    registered = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert registered <= {h.name for h in HARNESSES}, "add a contract harness for each connector"


def test_every_record_read_is_normalized_or_quarantined_once(harness: ContractHarness, tmp_path: Path) -> None:
    with harness.source(tmp_path) as src:
        items = read(src.connector, ReadWindow())
        keys = [key(i) for i in items]
        assert len(keys) == len(set(keys)), "a record was yielded twice"
        assert set(keys) == src.expected
        for item in items:
            if isinstance(item, Quarantined):
                assert isinstance(item.reason, Reason) and item.message


def test_incremental_rerun_returns_nothing_new(harness: ContractHarness, tmp_path: Path) -> None:
    with harness.source(tmp_path) as src:
        first = {key(i): i for i in read(src.connector, ReadWindow())}
        cursor = max(t for i in first.values() if not isinstance(i, Quarantined)
                     if (t := record_timestamp(i)) is not None)  # type: ignore[arg-type]
        again = read(src.connector, ReadWindow("incremental", cursor))
        for item in again:
            assert key(item) in first and item == first[key(item)], f"{key(item)} is new or changed"


def test_changes_after_a_read_are_found_incrementally(harness: ContractHarness, tmp_path: Path) -> None:
    with harness.source(tmp_path) as src:
        first = read(src.connector, ReadWindow())
        cursor = max(t for i in first if not isinstance(i, Quarantined)
                     if (t := record_timestamp(i)) is not None)  # type: ignore[arg-type]
        changed = harness.change(src)
        later = {key(i) for i in read(src.connector, ReadWindow("incremental", cursor - timedelta(hours=1)))}
        assert changed <= later


def test_backfill_windows_lose_and_duplicate_nothing(harness: ContractHarness, tmp_path: Path) -> None:
    with harness.source(tmp_path) as src:
        start = src.first_invoice
        end = src.last_invoice + timedelta(seconds=1)
        middle = start + (end - start) / 2

        def invoices(a, b):  # type: ignore[no-untyped-def]
            return [key(i) for i in read(src.connector, ReadWindow("backfill", a, b)) if isinstance(i, Invoice)]

        whole, left, right = invoices(start, end), invoices(start, middle), invoices(middle, end)
        assert left and right
        assert not set(left) & set(right)
        assert sorted(left + right) == sorted(whole)
        assert len(whole) == len(set(whole))


WINDOWED = [h for h in HARNESSES if hasattr(h, "with_concurrency")]


@pytest.mark.parametrize("windowed", WINDOWED, ids=lambda h: h.name)
@pytest.mark.parametrize("concurrency", [2, 5])
def test_windowed_reads_hand_on_what_one_list_does_in_its_order(
        windowed: Any, concurrency: int, tmp_path: Path) -> None:
    with windowed.source(tmp_path) as src:
        one = windowed.with_concurrency(src, tmp_path, 1)
        many = windowed.with_concurrency(src, tmp_path, concurrency)
        fake = src.extra["fake"]
        start, end = src.first_invoice, src.last_invoice + timedelta(seconds=1)
        middle = start + (end - start) / 2
        for window in (ReadWindow(), ReadWindow("backfill", start, end),
                       ReadWindow("backfill", middle, None), ReadWindow("backfill", None, middle),
                       ReadWindow("incremental", src.last_invoice - timedelta(days=20))):
            asked = len(fake.requests)
            alone = read(one, window)
            by_one = len(fake.requests) - asked
            together = read(many, window)
            assert [key(i) for i in together] == [key(i) for i in alone], window
            assert together == alone, window
            assert len(fake.requests) - asked - by_one > by_one, "no windows were read"
