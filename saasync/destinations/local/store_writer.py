"""The write side of ``LocalStore``: the calls of the Destination contract, as ChartMogul answers them.

External ids are unique per data source, a differing duplicate invoice is refused with
ChartMogul's own wording, subscriptions come into existence only from subscription lines
(§6.1), and a voided invoice stops counting. Every call is one SQLite transaction (or,
while a sync holds commits, one savepoint of its batch); an imported invoice is refused
before any of it is written, and a write that fails anyway undoes the whole call. The row-level work is ``writer.InvoiceWriter``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from saasync.destinations.base import InvoiceResult
from saasync.destinations.local.database import Database, Selection
from saasync.destinations.local.reader import StoreReader
from saasync.destinations.local.schema import to_text
from saasync.destinations.local.writer import (
    DUPLICATE_INVOICE,
    InvoiceWriter,
    aware,
    invoice_problem,
)
from saasync.errors import BadRecordError
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice


class StoreWriter:
    """Writes to the selected data source; reads what it must check through ``reader``."""

    def __init__(self, db: Database, selection: Selection, reader: StoreReader) -> None:
        self._db = db
        self._selection = selection
        self._reader = reader

    # -- data sources -------------------------------------------------------------------

    def add_data_source(self, name: str) -> str:
        """Create the data source unless it exists; return its name as stored (stripped)."""
        name = name.strip()
        if not name:
            raise BadRecordError("name: can't be blank", status=422)
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM data_sources WHERE name = ?", [name]).fetchone() is None:
                conn.execute(
                    "INSERT INTO data_sources (uuid, name, created_at) VALUES (?, ?, ?)",
                    [self._db.new_uuid("ds"), name, to_text(self._db.clock())],
                )
        return name

    # -- customers and plans ------------------------------------------------------------

    def upsert_customer(self, customer: Customer) -> str:
        """Insert the customer, or update the fields that changed; return its ``cus_…`` uuid."""
        return self._upsert("customers", "cus", customer.external_id, {
            "name": customer.name, "email": customer.email, "company": customer.company,
            "country": customer.country, "created_at": to_text(customer.created_at),
        })

    def upsert_plan(self, plan: Plan) -> str:
        """Insert the plan, or update its name and interval; return its ``pl_…`` uuid."""
        return self._upsert("plans", "pl", plan.external_id, {
            "name": plan.name, "interval_unit": plan.interval_unit,
            "interval_count": plan.interval_count,
        })

    def _upsert(self, table: str, prefix: str, external_id: str, fields: dict[str, Any]) -> str:
        """One row of ``table`` by (data source, external id): inserted with a new uuid, or
        updated when a field differs; its uuid. ``table`` and the field names are ours,
        never input."""
        ds = self._selection.require()
        names, values = list(fields), list(fields.values())
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT id, uuid, {', '.join(names)} FROM {table} "
                "WHERE data_source_id = ? AND external_id = ?",
                [ds.id, external_id],
            ).fetchone()
            if row is None:
                uuid = self._db.new_uuid(prefix)
                conn.execute(
                    f"INSERT INTO {table} (uuid, data_source_id, external_id, {', '.join(names)}) "
                    f"VALUES ({', '.join('?' * (len(names) + 3))})",
                    [uuid, ds.id, external_id, *values],
                )
                return uuid
            if list(row)[2:] != values:
                conn.execute(
                    f"UPDATE {table} SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?",
                    [*values, row["id"]],
                )
            return str(row["uuid"])

    # -- invoices -----------------------------------------------------------------------

    def invoice_writer(self) -> InvoiceWriter:
        """The row-level writer for the selected data source, on this store's connection."""
        return InvoiceWriter(self._db.conn, self._selection.require().id, self._db.new_uuid)

    def import_invoices(
        self, customer_external_id: str, invoices: Sequence[OutInvoice]
    ) -> list[InvoiceResult]:
        """Import a customer's invoices; answer per invoice, as ChartMogul does.

        Re-importing an invoice with the same content returns its existing uuid (a retried
        run is a no-op); differing content under a known external id is refused with
        ChartMogul's duplicate message. An unknown customer refuses the whole call.
        """
        writer = self.invoice_writer()
        writer.deferring = True  # one plan refresh per subscription, at the end
        with self._db.transaction():
            customer_id = self._customer_id(customer_external_id)
            plan_ids = writer.plan_ids(invoices)
            known = writer.existing_invoices([invoice.external_id for invoice in invoices])
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
                    else self._import_one(
                        writer, customer_id, invoice, plan_ids, invoice.external_id in known
                    )
                )
                known.add(invoice.external_id)  # a repeat in the same call is checked
            writer.finish()
        return results

    def _import_one(
        self,
        writer: InvoiceWriter,
        customer_id: int,
        invoice: OutInvoice,
        plan_ids: Mapping[str, int],
        known: bool,
    ) -> InvoiceResult:
        """``known``: the external id may be stored already (else it surely is not)."""
        existing = None
        if known:
            writer.write_held()  # the invoice may be one of this call: read it whole
            existing = self._reader.get_invoice(invoice.external_id)
        if existing is not None:
            if existing.invoice == invoice:
                return InvoiceResult(invoice.external_id, existing.uuid)
            return InvoiceResult(invoice.external_id, None, DUPLICATE_INVOICE)
        taken = writer.taken_child_ids(invoice, own_invoice_id=None)
        if taken is not None:
            return InvoiceResult(invoice.external_id, None, taken)
        # refusals are found above, before anything is written; a write that fails anyway
        # fails the whole call, rolled back with its transaction
        return InvoiceResult(invoice.external_id, writer.insert(customer_id, invoice, plan_ids))

    def replace_invoice(self, invoice: OutInvoice) -> str:
        """Store new content under a known invoice, keeping its uuid.

        The status is computed afresh from the new content: the builder only sends kept
        invoices, so a replaced invoice is live again even if it had been voided. A
        subscription left without any line disappears, as on ChartMogul's invoice delete.
        """
        writer = self.invoice_writer()
        with self._db.transaction():
            existing = self._reader.get_invoice(invoice.external_id)
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
        writer = self.invoice_writer()
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM invoices WHERE data_source_id = ? AND external_id = ?",
                [self._selection.require().id, invoice_external_id],
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
        ds = self._selection.require()
        if not aware(dates):
            raise BadRecordError("cancellation_dates: times must be timezone-aware UTC", status=422)
        with self._db.transaction() as conn:
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
        row = self._db.conn.execute(
            "SELECT id FROM customers WHERE data_source_id = ? AND external_id = ?",
            [self._selection.require().id, external_id],
        ).fetchone()
        if row is None:
            raise BadRecordError(f"Customer {external_id!r} not found", status=404)
        return int(row[0])
