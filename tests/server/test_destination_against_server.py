"""saasync's own ChartMogul destination against ``saasync serve``, faults and all.

The point of the emulator: a client that survives it (429s, 5xx before and after the
write, dropped connections) and leaves the account holding exactly what the local store
holds after the same push has proved its retries idempotent, without an account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from saasync.destinations.chartmogul.destination import ChartMogulDestination
from saasync.destinations.local import LocalStore
from saasync.models import SourceRecord
from saasync.server.app import ServerHandle, make_server
from saasync.server.faults import FaultConfig
from saasync.settings import DestinationSettings
from tests.destinations.helpers import push, store_with
from tests.factories import customer, invoice, one_time, paid, sub_line, subscription

RECORDS: list[SourceRecord] = [
    customer("cus_1"),
    customer("cus_2", email="b@example.com"),
    invoice("in_1", "2026-01-01", [sub_line(5000)]),
    invoice("in_2", "2026-02-01", [sub_line(5000, "2026-02-01"), one_time(700)]),
    invoice(
        "in_3",
        "2026-01-05",
        [sub_line(3000, "2026-01-05", sub="sub_9")],
        cid="cus_2",
        currency="JPY",
        transactions=[paid("2026-01-05")],
    ),
    subscription("sub_9", "cancelled", cid="cus_2", cancelled_at="2026-03-01"),
]
FAULTS = FaultConfig(p_429=0.1, retry_after_share=0.5, p_5xx=0.1, p_drop=0.05,
                     p_5xx_after_commit=0.15, seed=2024)  # fmt: skip


@pytest.fixture(params=[FaultConfig(), FAULTS], ids=["clean", "faulty"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerHandle]:
    with make_server(tmp_path / "account.db", faults=request.param, rate_limit=0,
                     max_concurrency=0) as handle:  # fmt: skip
        yield handle


def _destination(server: ServerHandle) -> ChartMogulDestination:
    settings = DestinationSettings(type="chartmogul", base_url=server.url, api_key_env="CM_KEY",
                                   requests_per_second=1000)  # fmt: skip
    return ChartMogulDestination(settings, {"CM_KEY": "test-key"}, sleep=lambda _: None)


def test_a_push_through_the_server_ends_like_a_push_to_the_local_store(
    server: ServerHandle,
) -> None:
    with _destination(server) as destination:
        push(destination, *RECORDS)  # type: ignore[arg-type]
        push(destination, *RECORDS)  # type: ignore[arg-type]  # a re-run changes nothing
    if server.app.faults.config.enabled:  # the faults really happened
        assert {"429", "drop", "after_commit"} <= set(server.app.faults.injected)
    with LocalStore(server.store.path) as served:
        assert served.content_dump() == _as_chartmogul_holds_it(store_with(*RECORDS).content_dump())


def _as_chartmogul_holds_it(dump: dict[str, Any]) -> dict[str, Any]:
    """ChartMogul has no weekly plans: the destination sends a week as 7 days."""
    for source in dump.values():
        for plan in source["plans"]:
            if plan["interval_unit"] == "week":
                plan.update(interval_unit="day", interval_count=7 * plan["interval_count"])
    return dump
