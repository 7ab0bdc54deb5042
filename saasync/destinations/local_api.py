"""The local store as a ChartMogul account: every data source at once, for ``saasync serve``.

``LocalStore`` works on one selected data source, as the engine needs. An account holds
many, and the API addresses records by uuid across all of them, filters lists and pages
them by cursor, deletes and updates. ``ApiStore`` adds exactly that and leaves what
``LocalStore`` promises untouched. Fields ChartMogul keeps that the sync model has no use
for (a customer's city and tags, a line's discount code, a ``written_off`` status) live as
JSON in ``api_*`` tables, created on open and removed with their row by ``ON DELETE
CASCADE``. The connection is shared across threads: the caller serialises every call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from saasync.destinations.local import LocalStore
from saasync.destinations.local_rows import (
    DataSourceInfo,
    StoredCustomer,
    StoredInvoice,
    StoredPlan,
    StoredSubscription,
)
from saasync.destinations.local_schema import from_text, random_uuid, to_text, utcnow
from saasync.destinations.local_write import InvoiceWriter
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutTransaction

T = TypeVar("T")
Table = Literal["customers", "plans", "invoices", "subscriptions"]

API_DDL = """
CREATE TABLE IF NOT EXISTS api_customer_extras (
    customer_id INTEGER PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_invoice_extras (
    invoice_id INTEGER PRIMARY KEY REFERENCES invoices(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_line_extras (
    line_item_id INTEGER PRIMARY KEY REFERENCES line_items(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_transaction_extras (
    transaction_id INTEGER PRIMARY KEY REFERENCES transactions(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_json_imports (
    id TEXT PRIMARY KEY,
    data_source_id INTEGER NOT NULL REFERENCES data_sources(id) ON DELETE CASCADE,
    doc TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One cursor page: the rows after the cursor, whether more follow, and the total."""

    items: list[T]
    has_more: bool
    total: int


@dataclass(frozen=True)
class InvoiceExtras:
    """API-only fields of one invoice, its lines (by line uuid) and transactions (by uuid)."""

    invoice: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)


def _where(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``AND column = ?`` for each filter that is set (column names are ours, never input)."""
    given = {column: value for column, value in filters.items() if value is not None}
    return "".join(f" AND {column} = ?" for column in given), list(given.values())


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


class ApiStore(LocalStore):
    """``LocalStore`` plus the account-wide reads and writes the ChartMogul API needs."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        clock: Callable[[], datetime] = utcnow,
        new_uuid: Callable[[str], str] = random_uuid,
    ) -> None:
        super().__init__(path, clock=clock, new_uuid=new_uuid, check_same_thread=False)
        self._conn.executescript(API_DDL)

    def now(self) -> datetime:
        return self._clock()

    @contextmanager
    def selected(self, ds: DataSourceInfo) -> Iterator[DataSourceInfo]:
        """Work on ``ds`` for the duration of the block (the reader methods need one)."""
        previous, self._ds = self._ds, ds
        try:
            yield ds
        finally:
            self._ds = previous

    def _page(self, rows: list[T], limit: int, total: int) -> Page[T]:
        return Page(rows[:limit], len(rows) > limit, total)

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        return int(self._conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])

    # -- data sources -------------------------------------------------------------------

    def data_source_by_uuid(self, uuid: str) -> DataSourceInfo | None:
        return next((ds for ds in self.data_sources() if ds.uuid == uuid), None)

    def owner_of(self, table: Table, uuid: str) -> DataSourceInfo | None:
        """The data source holding the row with this uuid (None: no such row)."""
        row = self._conn.execute(
            f"SELECT data_source_id FROM {table} WHERE uuid = ?", [uuid]
        ).fetchone()
        if row is None:
            return None
        return next((ds for ds in self.data_sources() if ds.id == row[0]), None)

    def create_data_source(self, name: str) -> DataSourceInfo | None:
        """A new data source; None when the name is taken (names are unique per account)."""
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM data_sources WHERE name = ?", [name]).fetchone():
                return None
            conn.execute(
                "INSERT INTO data_sources (uuid, name, created_at) VALUES (?, ?, ?)",
                [self._new_uuid("ds"), name, to_text(self._clock())],
            )
        return next(ds for ds in self.data_sources() if ds.name == name)

    def delete_data_source(self, ds: DataSourceInfo) -> None:
        """Remove the source and everything in it (ChartMogul does this in the background)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM data_sources WHERE id = ?", [ds.id])
        if self._ds is not None and self._ds.id == ds.id:
            self._ds = None

    def empty_data_source(self, ds: DataSourceInfo) -> None:
        """Remove every customer, plan and invoice of the source but keep the source."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM customers WHERE data_source_id = ?", [ds.id])
            conn.execute("DELETE FROM plans WHERE data_source_id = ?", [ds.id])

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
        where, params = _where(
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
        with self._transaction() as conn:
            conn.execute(
                "UPDATE customers SET name = ?, email = ?, company = ?, country = ?, "
                "created_at = ? WHERE id = ?",
                [customer.name, customer.email, customer.company, customer.country,
                 to_text(customer.created_at), customer_id],
            )  # fmt: skip

    def delete_customer(self, customer_id: int) -> None:
        """Remove the customer with its invoices and subscriptions."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM customers WHERE id = ?", [customer_id])

    def customer_extras(self, customer_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return self._docs("api_customer_extras", "customer_id", customer_ids)

    def set_customer_extras(self, customer_id: int, doc: Mapping[str, Any]) -> None:
        with self._transaction() as conn:
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
        where, params = _where({"d.uuid": data_source_uuid, "p.external_id": external_id})
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
        with self._transaction() as conn:
            used = conn.execute(
                "SELECT 1 FROM line_items WHERE plan_id = ? UNION ALL "
                "SELECT 1 FROM subscriptions WHERE plan_id = ? LIMIT 1",
                [plan_id, plan_id],
            ).fetchone()
            if used is not None:
                return False
            conn.execute("DELETE FROM plans WHERE id = ?", [plan_id])
        return True

    # -- invoices -----------------------------------------------------------------------

    def invoice_page(
        self,
        *,
        data_source_uuid: str | None = None,
        customer_uuid: str | None = None,
        external_id: str | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> Page[StoredInvoice]:
        """Invoices with their lines and transactions, across sources, oldest first."""
        where, params = _where(
            {"d.uuid": data_source_uuid, "c.uuid": customer_uuid, "i.external_id": external_id}
        )
        base = (
            "SELECT i.id, i.data_source_id FROM invoices i "
            "JOIN customers c ON c.id = i.customer_id "
            f"JOIN data_sources d ON d.id = i.data_source_id WHERE 1 = 1{where}"
        )
        total = self._count(base, params)
        after = " AND i.id > ?" if after_id is not None else ""
        heads = self._conn.execute(
            f"{base}{after} ORDER BY i.id LIMIT ?",
            [*params, *([after_id] if after_id is not None else []), limit + 1],
        ).fetchall()
        by_source: dict[int, list[int]] = {}
        for head in heads:
            by_source.setdefault(int(head[1]), []).append(int(head[0]))
        sources = {ds.id: ds for ds in self.data_sources()}
        found: list[StoredInvoice] = []
        for ds_id, ids in by_source.items():
            with self.selected(sources[ds_id]):
                found += self._invoices(f" AND i.id IN ({_marks(ids)})", ids)
        found.sort(key=lambda stored: stored.id)
        return self._page(found, limit, total)

    def invoice_by_uuid(self, uuid: str) -> StoredInvoice | None:
        ds = self.owner_of("invoices", uuid)
        if ds is None:
            return None
        with self.selected(ds):
            return self.get_invoice_by_uuid(uuid)

    def delete_invoice(self, stored: StoredInvoice) -> None:
        ds = self._source_of(stored.data_source_uuid)
        with self._transaction() as conn:
            InvoiceWriter(conn, ds.id, self._new_uuid).delete(stored.id)

    def set_invoice_status(
        self, stored: StoredInvoice, status: Literal["voided", "written_off"]
    ) -> None:
        """Void or write off (§5.4). Both stop counting, as the default invoice-handling
        setting prescribes; ``written_off`` is kept apart so responses can tell them apart."""
        ds = self._source_of(stored.data_source_uuid)
        extras = self.invoice_extras([stored.id]).get(stored.id, InvoiceExtras()).invoice
        extras = {**extras, "status": status} if status == "written_off" else {
            k: v for k, v in extras.items() if k != "status"
        }
        with self._transaction() as conn:
            InvoiceWriter(conn, ds.id, self._new_uuid).void(stored.id)
            conn.execute(
                "INSERT OR REPLACE INTO api_invoice_extras (invoice_id, doc) VALUES (?, ?)",
                [stored.id, json.dumps(extras)],
            )

    def add_transaction(
        self, stored: StoredInvoice, transaction: OutTransaction, extras: Mapping[str, Any]
    ) -> str | None:
        """Append a transaction; None when its external id is taken in the data source."""
        ds = self._source_of(stored.data_source_uuid)
        with self._transaction() as conn:
            if transaction.external_id and conn.execute(
                "SELECT 1 FROM transactions WHERE data_source_id = ? AND external_id = ?",
                [ds.id, transaction.external_id],
            ).fetchone():
                return None
            uuid = InvoiceWriter(conn, ds.id, self._new_uuid).append_transaction(
                stored.id, transaction
            )
            if extras:
                conn.execute(
                    "INSERT INTO api_transaction_extras (transaction_id, doc) "
                    "SELECT id, ? FROM transactions WHERE uuid = ?",
                    [json.dumps(dict(extras)), uuid],
                )
        return uuid

    def invoice_extras(self, invoice_ids: Sequence[int]) -> dict[int, InvoiceExtras]:
        """The API-only fields of these invoices, their lines and their transactions."""
        if not invoice_ids:
            return {}
        heads = self._docs("api_invoice_extras", "invoice_id", invoice_ids)
        out = {i: InvoiceExtras(invoice=heads.get(i, {})) for i in invoice_ids}
        for table, extras, key, attr in (
            ("line_items", "api_line_extras", "line_item_id", "lines"),
            ("transactions", "api_transaction_extras", "transaction_id", "transactions"),
        ):
            rows = self._conn.execute(
                f"SELECT t.invoice_id, t.uuid, e.doc FROM {table} t JOIN {extras} e "
                f"ON e.{key} = t.id WHERE t.invoice_id IN ({_marks(invoice_ids)})",
                list(invoice_ids),
            )
            for invoice_id, uuid, doc in rows:
                getattr(out[invoice_id], attr)[uuid] = json.loads(doc)
        return out

    def set_invoice_extras(
        self,
        invoice_uuid: str,
        invoice: Mapping[str, Any],
        lines: Sequence[Mapping[str, Any]],
        transactions: Sequence[Mapping[str, Any]],
    ) -> None:
        """Store API-only fields of a just-imported invoice; lines and transactions are
        matched by their position in the import."""
        with self._transaction() as conn:
            row = conn.execute("SELECT id FROM invoices WHERE uuid = ?", [invoice_uuid]).fetchone()
            if row is None:
                return
            if invoice:
                conn.execute(
                    "INSERT OR REPLACE INTO api_invoice_extras (invoice_id, doc) VALUES (?, ?)",
                    [row[0], json.dumps(dict(invoice))],
                )
            for table, extras, key, docs in (
                ("line_items", "api_line_extras", "line_item_id", lines),
                ("transactions", "api_transaction_extras", "transaction_id", transactions),
            ):
                ids = conn.execute(
                    f"SELECT id FROM {table} WHERE invoice_id = ? ORDER BY position", [row[0]]
                ).fetchall()
                conn.executemany(
                    f"INSERT OR REPLACE INTO {extras} ({key}, doc) VALUES (?, ?)",
                    [[r[0], json.dumps(dict(doc))] for r, doc in zip(ids, docs) if doc],
                )

    # -- subscriptions ------------------------------------------------------------------

    def subscription_page(
        self, customer: StoredCustomer, *, after_id: int | None = None, limit: int = 200
    ) -> Page[StoredSubscription]:
        ds = self._source_of(customer.data_source_uuid)
        with self.selected(ds):
            rows = self.list_subscriptions(customer.external_id, after_id=after_id, limit=limit + 1)
        total = int(
            self._conn.execute(
                "SELECT count(*) FROM subscriptions WHERE customer_id = ?", [customer.id]
            ).fetchone()[0]
        )
        return self._page(rows, limit, total)

    def subscription_by_uuid(self, uuid: str) -> StoredSubscription | None:
        ds = self.owner_of("subscriptions", uuid)
        if ds is None:
            return None
        with self.selected(ds):
            return self.get_subscription_by_uuid(uuid)

    def subscription_line_extras(self, subscription_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Per subscription, the API-only fields of its latest line (its set id, say)."""
        if not subscription_ids:
            return {}
        rows = self._conn.execute(
            "SELECT li.subscription_id, e.doc FROM line_items li "
            "JOIN api_line_extras e ON e.line_item_id = li.id "
            "JOIN invoices i ON i.id = li.invoice_id "
            f"WHERE li.subscription_id IN ({_marks(subscription_ids)}) "
            "ORDER BY i.date, li.service_period_start, li.id",
            list(subscription_ids),
        )
        return {int(sub_id): json.loads(doc) for sub_id, doc in rows}

    # -- bulk imports -------------------------------------------------------------------

    def save_json_import(self, ds: DataSourceInfo, import_id: str, doc: Mapping[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_json_imports (id, data_source_id, doc) "
                "VALUES (?, ?, ?)",
                [import_id, ds.id, json.dumps(dict(doc))],
            )

    def json_import(self, ds: DataSourceInfo, import_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT doc FROM api_json_imports WHERE id = ? AND data_source_id = ?",
            [import_id, ds.id],
        ).fetchone()
        return json.loads(row[0]) if row is not None else None

    # -- helpers ------------------------------------------------------------------------

    def _source_of(self, uuid: str) -> DataSourceInfo:
        ds = self.data_source_by_uuid(uuid)
        if ds is None:
            raise LookupError(f"data source {uuid} not found")
        return ds

    def _docs(self, table: str, key: str, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self._conn.execute(
            f"SELECT {key}, doc FROM {table} WHERE {key} IN ({_marks(ids)})", list(ids)
        )
        return {int(row_id): json.loads(doc) for row_id, doc in rows}
