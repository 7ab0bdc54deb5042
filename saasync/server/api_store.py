"""The local store as a ChartMogul account: every data source at once, for ``saasync serve``.

``LocalStore`` works on one selected data source, as the engine needs. An account holds
many, and the API addresses records by uuid across all of them, filters lists and pages
them by cursor, deletes and updates. ``ApiStore`` wraps a ``LocalStore`` (it holds one,
``local``), adds exactly that and leaves what ``LocalStore`` promises untouched: the
wrapping, data sources and the shared helpers are in
``api_store_base``, invoices and subscriptions in ``api_store_invoices``, customers and
plans here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from saasync.destinations.local.rows import StoredCustomer, StoredPlan
from saasync.destinations.local.schema import from_text, to_text
from saasync.models import Customer, Plan
from saasync.server.api_store_base import API_DDL, InvoiceExtras, Page, where_clause
from saasync.server.api_store_invoices import InvoiceApi

__all__ = ["API_DDL", "ApiStore", "InvoiceExtras", "Page"]


class ApiStore(InvoiceApi):
    """A ``LocalStore`` (``local``) with the account-wide reads and writes the ChartMogul API needs."""

    # -- customers ----------------------------------------------------------------------

    def customer_page(
        self,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        email: str | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> Page[StoredCustomer]:
        """Customers of every source (or one), oldest first, ``limit`` after ``after_id``."""
        where, params = where_clause(
            {"d.uuid": data_source_uuid, "c.external_id": external_id, "lower(c.email)": email}
        )
        if email is not None:
            params[-1] = email.lower()
        base = (
            "SELECT c.*, d.uuid AS ds_uuid FROM customers c "
            f"JOIN data_sources d ON d.id = c.data_source_id WHERE 1 = 1{where}"
        )
        total = self._count(base, params)
        after = " AND c.id > ?" if after_id is not None else ""
        rows = self._conn.execute(
            f"{base}{after} ORDER BY c.id LIMIT ?",
            [*params, *([after_id] if after_id is not None else []), limit + 1],
        ).fetchall()
        return self._page([self._stored_customer(r) for r in rows], limit, total)

    def customer_by_uuid(self, uuid: str) -> StoredCustomer | None:
        found = self._conn.execute(
            "SELECT c.*, d.uuid AS ds_uuid FROM customers c "
            "JOIN data_sources d ON d.id = c.data_source_id WHERE c.uuid = ?",
            [uuid],
        ).fetchone()
        return self._stored_customer(found) if found is not None else None

    @staticmethod
    def _stored_customer(row: sqlite3.Row) -> StoredCustomer:
        return StoredCustomer(
            row["id"],
            row["uuid"],
            row["ds_uuid"],
            Customer(
                external_id=row["external_id"],
                name=row["name"],
                email=row["email"],
                company=row["company"],
                country=row["country"],
                created_at=from_text(row["created_at"]),
            ),
        )

    def update_customer(self, customer_id: int, customer: Customer) -> None:
        """Overwrite the stored fields (the external id and data source never change)."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE customers SET name = ?, email = ?, company = ?, country = ?, "
                "created_at = ? WHERE id = ?",
                [customer.name, customer.email, customer.company, customer.country,
                 to_text(customer.created_at), customer_id],
            )  # fmt: skip

    def delete_customer(self, customer_id: int) -> None:
        """Remove the customer with its invoices and subscriptions."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM customers WHERE id = ?", [customer_id])

    def customer_extras(self, customer_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return self._docs("api_customer_extras", "customer_id", customer_ids)

    def set_customer_extras(self, customer_id: int, doc: Mapping[str, Any]) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_customer_extras (customer_id, doc) VALUES (?, ?)",
                [customer_id, json.dumps(doc)],
            )

    # -- plans --------------------------------------------------------------------------

    def plan_page(
        self,
        *,
        data_source_uuid: str | None = None,
        external_id: str | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> Page[StoredPlan]:
        where, params = where_clause({"d.uuid": data_source_uuid, "p.external_id": external_id})
        base = (
            "SELECT p.*, d.uuid AS ds_uuid FROM plans p "
            f"JOIN data_sources d ON d.id = p.data_source_id WHERE 1 = 1{where}"
        )
        total = self._count(base, params)
        after = " AND p.id > ?" if after_id is not None else ""
        rows = self._conn.execute(
            f"{base}{after} ORDER BY p.id LIMIT ?",
            [*params, *([after_id] if after_id is not None else []), limit + 1],
        ).fetchall()
        plans = [
            StoredPlan(
                r["id"],
                r["uuid"],
                r["ds_uuid"],
                Plan(
                    external_id=r["external_id"],
                    name=r["name"],
                    interval_unit=r["interval_unit"],
                    interval_count=r["interval_count"],
                ),
            )
            for r in rows
        ]
        return self._page(plans, limit, total)

    def plan_by_uuid(self, uuid: str) -> StoredPlan | None:
        ds = self.owner_of("plans", uuid)
        if ds is None:
            return None
        with self.selected(ds):
            return self.get_plan_by_uuid(uuid)

    def delete_plan(self, plan_id: int) -> bool:
        """Remove a plan no line or subscription uses; False (nothing removed) otherwise."""
        with self._db.transaction() as conn:
            used = conn.execute(
                "SELECT 1 FROM line_items WHERE plan_id = ? UNION ALL "
                "SELECT 1 FROM subscriptions WHERE plan_id = ? LIMIT 1",
                [plan_id, plan_id],
            ).fetchone()
            if used is not None:
                return False
            conn.execute("DELETE FROM plans WHERE id = ?", [plan_id])
        return True
