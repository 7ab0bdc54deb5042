"""Customers across the account (``ApiStore.customers``): pages over every data source,
look-up by uuid, update, delete, and their API-only fields."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from saasync.destinations.local.rows import StoredCustomer
from saasync.destinations.local.schema import from_text, to_text
from saasync.models import Customer
from saasync.server.api_sql import Page, Sql, page_of, where_clause

_SELECT = ("SELECT c.*, d.uuid AS ds_uuid FROM customers c "
           "JOIN data_sources d ON d.id = c.data_source_id")


class Customers:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql

    def page(
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
        base = f"{_SELECT} WHERE 1 = 1{where}"
        rows = self.sql.after(base, params, "c.id", after_id, limit)
        return page_of([_stored(r) for r in rows], limit, self.sql.count(base, params))

    def by_uuid(self, uuid: str) -> StoredCustomer | None:
        found = self.sql.conn.execute(f"{_SELECT} WHERE c.uuid = ?", [uuid]).fetchone()
        return _stored(found) if found is not None else None

    def update(self, customer_id: int, customer: Customer) -> None:
        """Overwrite the stored fields (the external id and data source never change)."""
        with self.sql.db.transaction() as conn:
            conn.execute(
                "UPDATE customers SET name = ?, email = ?, company = ?, country = ?, "
                "created_at = ? WHERE id = ?",
                [customer.name, customer.email, customer.company, customer.country,
                 to_text(customer.created_at), customer_id],
            )  # fmt: skip

    def delete(self, customer_id: int) -> None:
        """Remove the customer with its invoices and subscriptions."""
        with self.sql.db.transaction() as conn:
            conn.execute("DELETE FROM customers WHERE id = ?", [customer_id])

    def extras(self, customer_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return self.sql.docs("api_customer_extras", "customer_id", customer_ids)

    def set_extras(self, customer_id: int, doc: Mapping[str, Any]) -> None:
        with self.sql.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_customer_extras (customer_id, doc) VALUES (?, ?)",
                [customer_id, json.dumps(doc)],
            )


def _stored(row: sqlite3.Row) -> StoredCustomer:
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
