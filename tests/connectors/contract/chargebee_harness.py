"""Contract harness of the chargebee connector: the fake Chargebee API on a small site."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from saasync.connector import ConnectorContext
from saasync.http import RetryPolicy, UnlimitedLimiter
from saasync_connectors.chargebee.connector import ChargebeeConnector
from tests.connectors.chargebee.fake_api import FakeChargebee
from tests.connectors.contract.harness import SourceUnderTest

SITE = Path(__file__).resolve().parents[1] / "chargebee" / "fixtures" / "site.json"
KEY = "test_cb_contract_key"
# Quarantined on purpose: a status that is not in the mapping table.
QUARANTINED = {("subscription", "sub_moved"), ("invoice", "inv_odd_1")}


def load_site() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(SITE.read_text(encoding="utf-8"))
    return data


def connector_on(fake: FakeChargebee, tmp_path: Path, **options: Any) -> ChargebeeConnector:
    """A connector on the fake with a retry policy that never really sleeps."""
    return ChargebeeConnector(
        {"base_url": fake.base_url, "api_key_env": "CB_KEY", **options},
        ConnectorContext(base_dir=tmp_path, env={"CB_KEY": fake.api_key}),
        retry=RetryPolicy(sleep=lambda _s: None, random=lambda: 0.0),
        limiter=UnlimitedLimiter(),
    )


def expected_keys(data: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    plans = {("plan", p["id"]) for p in data["item_prices"] if p["item_type"] != "charge"}
    return (
        plans
        | {("customer", c["id"]) for c in data["customers"]}
        | {("subscription", s["id"]) for s in data["subscriptions"]}
        | {("invoice", i["id"]) for i in data["invoices"]}
    )


class Harness:
    name = "chargebee"

    @contextmanager
    def source(self, tmp_path: Path) -> Iterator[SourceUnderTest]:
        data = load_site()
        with FakeChargebee(data, KEY).running() as fake:
            dates = sorted(i["date"] for i in data["invoices"])
            yield SourceUnderTest(
                connector_on(fake, tmp_path, page_size=3),
                expected_keys(data),
                datetime.fromtimestamp(dates[0], tz=UTC),
                datetime.fromtimestamp(dates[-1], tz=UTC),
                {"fake": fake},
            )

    def with_concurrency(self, under_test: SourceUnderTest, tmp_path: Path,
                         concurrency: int) -> ChargebeeConnector:
        """Another connector on the same fake, reading ``concurrency`` windows at once."""
        fake: FakeChargebee = under_test.extra["fake"]  # type: ignore[assignment]
        return connector_on(fake, tmp_path, page_size=3, concurrency=concurrency)

    def change(self, under_test: SourceUnderTest) -> set[tuple[str, str]]:
        """inv_ada_2 (posted) gets paid; a new invoice inv_ada_5 is issued; both later."""
        fake: FakeChargebee = under_test.extra["fake"]  # type: ignore[assignment]
        later = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
        invoices = fake.data["invoices"]
        target = next(i for i in invoices if i["id"] == "inv_ada_2")
        target.update(status="paid", amount_paid=target["total"], amount_due=0, paid_at=later,
                      updated_at=later, resource_version=later * 1000,
                      linked_payments=[{"txn_id": "txn_ada_2", "applied_amount": target["total"],
                                        "applied_at": later, "txn_status": "success",
                                        "txn_date": later, "txn_amount": target["total"]}])
        new = copy.deepcopy(target)
        new.update(id="inv_ada_5", date=later - 60)
        for index, line in enumerate(new["line_items"]):
            line["id"] = f"li_ada_5_{index}"
        invoices.append(new)
        return {("invoice", "inv_ada_2"), ("invoice", "inv_ada_5")}
