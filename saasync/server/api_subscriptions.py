"""Subscriptions across the account (``ApiStore.subscriptions``): a customer's, paged;
look-up by uuid; the API-only fields of each one's latest line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from saasync.destinations.local.rows import StoredCustomer, StoredSubscription
from saasync.server.api_sources import DataSources
from saasync.server.api_sql import Page, Sql, marks, page_of


class Subscriptions:
    def __init__(self, sql: Sql, sources: DataSources) -> None:
        self.sql = sql
        self.sources = sources

    def page(
        self, customer: StoredCustomer, *, after_id: int | None = None, limit: int = 200
    ) -> Page[StoredSubscription]:
        ds = self.sources.of(customer.data_source_uuid)
        with self.sources.selected(ds):
            rows = self.sources.local.list_subscriptions(
                customer.external_id, after_id=after_id, limit=limit + 1
            )
        total = int(
            self.sql.conn.execute(
                "SELECT count(*) FROM subscriptions WHERE customer_id = ?", [customer.id]
            ).fetchone()[0]
        )
        return page_of(rows, limit, total)

    def by_uuid(self, uuid: str) -> StoredSubscription | None:
        ds = self.sources.owner_of("subscriptions", uuid)
        if ds is None:
            return None
        with self.sources.selected(ds):
            return self.sources.local.get_subscription_by_uuid(uuid)

    def line_extras(self, subscription_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Per subscription, the API-only fields of its latest line (its set id, say)."""
        if not subscription_ids:
            return {}
        rows = self.sql.conn.execute(
            "SELECT li.subscription_id, e.doc FROM line_items li "
            "JOIN api_line_extras e ON e.line_item_id = li.id "
            "JOIN invoices i ON i.id = li.invoice_id "
            f"WHERE li.subscription_id IN ({marks(subscription_ids)}) "
            "ORDER BY i.date, li.service_period_start, li.id",
            list(subscription_ids),
        )
        return {int(sub_id): json.loads(doc) for sub_id, doc in rows}
