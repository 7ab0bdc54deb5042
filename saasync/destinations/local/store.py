"""The embedded analytics store: the default destination, ChartMogul's data model in SQLite.

It behaves like ChartMogul's Import API where the engine can tell the difference:
external ids are unique per data source, a differing duplicate invoice is refused with
ChartMogul's own wording, subscriptions come into existence only from subscription
lines (§6.1), and a voided invoice stops counting. So a run against the local store
tells you what a run against ChartMogul would leave behind, without the network.

Every public call is one SQLite transaction; each imported invoice is atomic on its own
(a savepoint), so one refused invoice never leaves half of itself behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from saasync.destinations.base import InvoiceResult
from saasync.destinations.local.reader import StoreReader
from saasync.destinations.local.rows import DataSourceInfo
from saasync.destinations.local.schema import open_database, random_uuid, to_text, utcnow
from saasync.destinations.local.writer import (
    DUPLICATE_INVOICE,
    InvoiceWriter,
    aware,
    invoice_problem,
)
from saasync.errors import BadRecordError, ConfigError
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice


class LocalStore(StoreReader):
    """ChartMogul's model in one SQLite file (or ``":memory:"``): a ``Destination``.

    One data source per instance is active at a time: ``ensure_data_source`` (which the
    engine calls first) or ``select_data_source`` chooses it. A file holding exactly one
    data source opens with it selected, so reports need no name.
    """

    name = "local"

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        data_source: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        new_uuid: Callable[[str], str] = random_uuid,
        check_same_thread: bool = True,
    ) -> None:
        self.path = str(path)
        self._conn = open_database(self.path, check_same_thread=check_same_thread)
        self._clock = clock
        self._new_uuid = new_uuid
        self._ds: DataSourceInfo | None = None
        if data_source is not None:
            self.select_data_source(data_source)
        else:
            existing = self.data_sources()
            if len(existing) == 1:
                self._ds = existing[0]

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._conn.execute("SAVEPOINT invoice")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO invoice")
            self._conn.execute("RELEASE invoice")
            raise
        self._conn.execute("RELEASE invoice")

    # -- data sources -------------------------------------------------------------------

    def ensure_data_source(self, name: str) -> str:
        """Create the data source if missing, select it, and return its ``ds_…`` uuid."""
        name = name.strip()
        if not name:
            raise BadRecordError("name: can't be blank", status=422)
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM data_sources WHERE name = ?", [name]).fetchone() is None:
                conn.execute(
                    "INSERT INTO data_sources (uuid, name, created_at) VALUES (?, ?, ?)",
                    [self._new_uuid("ds"), name, to_text(self._clock())],
                )
        return self.select_data_source(name)

    def select_data_source(self, name: str) -> str:
        """Work on an existing data source; a name the store does not hold is a config error."""
        for ds in self.data_sources():
            if ds.name == name:
                self._ds = ds
                return ds.uuid
        raise ConfigError(f"local store {self.path}: no data source named {name!r}")

    # -- customers and plans ------------------------------------------------------------

    def upsert_customer(self, customer: Customer) -> str:
        """Insert the customer, or update the fields that changed; return its ``cus_…`` uuid."""
        ds = self._require_ds()
        values = [
            customer.name,
            customer.email,
            customer.company,
            customer.country,
            to_text(customer.created_at),
        ]
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id, uuid, name, email, company, country, created_at FROM customers "
                "WHERE data_source_id = ? AND external_id = ?",
                [ds.id, customer.external_id],
            ).fetchone()
            if row is None:
                uuid = self._new_uuid("cus")
                conn.execute(
                    "INSERT INTO customers (uuid, data_source_id, external_id, name, email, "
                    "company, country, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [uuid, ds.id, customer.external_id, *values],
                )
                return uuid
            if list(row)[2:] != values:
                conn.execute(
                    "UPDATE customers SET name = ?, email = ?, company = ?, country = ?, "
                    "created_at = ? WHERE id = ?",
                    [*values, row["id"]],
                )
            return str(row["uuid"])

    def upsert_plan(self, plan: Plan) -> str:
        """Insert the plan, or update its name and interval; return its ``pl_…`` uuid."""
        ds = self._require_ds()
        values = [plan.name, plan.interval_unit, plan.interval_count]
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id, uuid, name, interval_unit, interval_count FROM plans "
                "WHERE data_source_id = ? AND external_id = ?",
                [ds.id, plan.external_id],
            ).fetchone()
            if row is None:
                uuid = self._new_uuid("pl")
                conn.execute(
                    "INSERT INTO plans (uuid, data_source_id, external_id, name, interval_unit, "
                    "interval_count) VALUES (?, ?, ?, ?, ?, ?)",
                    [uuid, ds.id, plan.external_id, *values],
                )
                return uuid
            if list(row)[2:] != values:
                conn.execute(
                    "UPDATE plans SET name = ?, interval_unit = ?, interval_count = ? WHERE id = ?",
                    [*values, row["id"]],
                )
            return str(row["uuid"])

    # -- invoices -----------------------------------------------------------------------

    def _writer(self) -> InvoiceWriter:
        return InvoiceWriter(self._conn, self._require_ds().id, self._new_uuid)

    def import_invoices(
        self, customer_external_id: str, invoices: Sequence[OutInvoice]
    ) -> list[InvoiceResult]:
        """Import a customer's invoices; answer per invoice, as ChartMogul does.

        Re-importing an invoice with the same content returns its existing uuid (a retried
        run is a no-op); differing content under a known external id is refused with
        ChartMogul's duplicate message. An unknown customer refuses the whole call.
        """
        writer = self._writer()
        with self._transaction():
            customer_id = self._customer_id(customer_external_id)
            plan_ids = writer.plan_ids(invoices)
            results: list[InvoiceResult] = []
            for invoice in invoices:
                problem = invoice_problem(invoice, plan_ids)
                if invoice.customer_external_id != customer_external_id:
                    problem = (
                        f"customer_external_id: {invoice.customer_external_id!r} "
                        "is not the customer of this import"
                    )
                results.append(
                    InvoiceResult(invoice.external_id, None, problem)
                    if problem is not None
                    else self._import_one(writer, customer_id, invoice, plan_ids)
                )
        return results

    def _import_one(
        self,
        writer: InvoiceWriter,
        customer_id: int,
        invoice: OutInvoice,
        plan_ids: Mapping[str, int],
    ) -> InvoiceResult:
        existing = self.get_invoice(invoice.external_id)
        if existing is not None:
            if existing.invoice == invoice:
                return InvoiceResult(invoice.external_id, existing.uuid)
            return InvoiceResult(invoice.external_id, None, DUPLICATE_INVOICE)
        taken = writer.taken_child_ids(invoice, own_invoice_id=None)
        if taken is not None:
            return InvoiceResult(invoice.external_id, None, taken)
        with self._savepoint():
            uuid = writer.insert(customer_id, invoice, plan_ids)
        return InvoiceResult(invoice.external_id, uuid)

    def replace_invoice(self, invoice: OutInvoice) -> str:
        """Store new content under a known invoice, keeping its uuid.

        The status is computed afresh from the new content: the builder only sends kept
        invoices, so a replaced invoice is live again even if it had been voided. A
        subscription left without any line disappears, as on ChartMogul's invoice delete.
        """
        writer = self._writer()
        with self._transaction():
            existing = self.get_invoice(invoice.external_id)
            if existing is None:
                raise BadRecordError(f"Invoice {invoice.external_id!r} not found", status=404)
            if existing.invoice == invoice and existing.status != "voided":
                return existing.uuid
            customer_id = self._customer_id(invoice.customer_external_id)
            plan_ids = writer.plan_ids([invoice])
            problem = invoice_problem(invoice, plan_ids) or writer.taken_child_ids(
                invoice, own_invoice_id=existing.id
            )
            if problem is not None:
                raise BadRecordError(problem, status=422)
            writer.rewrite(existing.id, customer_id, invoice, plan_ids)
            return existing.uuid

    def void_invoice(self, invoice_external_id: str) -> None:
        """Mark the invoice voided: it stays listed but no longer counts (§5.4, §10.2).

        ChartMogul's data sources default to ``prevent_subscription_for_invoice_voided``;
        ``subscription_views`` leaves voided invoices out accordingly.
        """
        writer = self._writer()
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id FROM invoices WHERE data_source_id = ? AND external_id = ?",
                [self._require_ds().id, invoice_external_id],
            ).fetchone()
            if row is None:
                raise BadRecordError(f"Invoice {invoice_external_id!r} not found", status=404)
            writer.void(int(row[0]))

    # -- subscriptions ------------------------------------------------------------------

    def set_cancellation_dates(
        self,
        customer_external_id: str,
        subscription_external_id: str,
        dates: Sequence[datetime],
    ) -> None:
        """Replace the subscription's cancellation dates (ChartMogul §6.3); ``[]`` reactivates."""
        ds = self._require_ds()
        if not aware(dates):
            raise BadRecordError("cancellation_dates: times must be timezone-aware UTC", status=422)
        with self._transaction() as conn:
            customer_id = self._customer_id(customer_external_id)
            cursor = conn.execute(
                "UPDATE subscriptions SET cancellation_dates = ? "
                "WHERE data_source_id = ? AND customer_id = ? AND external_id = ?",
                [
                    json.dumps([to_text(d) for d in dates]),
                    ds.id,
                    customer_id,
                    subscription_external_id,
                ],
            )
            if cursor.rowcount == 0:
                raise BadRecordError(
                    f"Subscription {subscription_external_id!r} of customer "
                    f"{customer_external_id!r} not found",
                    status=404,
                )

    # -- helpers ------------------------------------------------------------------------

    def _customer_id(self, external_id: str) -> int:
        row = self._conn.execute(
            "SELECT id FROM customers WHERE data_source_id = ? AND external_id = ?",
            [self._require_ds().id, external_id],
        ).fetchone()
        if row is None:
            raise BadRecordError(f"Customer {external_id!r} not found", status=404)
        return int(row[0])
