"""Invoices across the account (``ApiStore.invoices``): pages over every data source,
look-up by uuid, delete, void / write off, extra transactions, and their API-only fields."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from saasync.destinations.local.rows import StoredInvoice
from saasync.destinations.local.writer import InvoiceWriter
from saasync.rules.changeset import OutTransaction
from saasync.server.api_sources import DataSources
from saasync.server.api_sql import InvoiceExtras, Page, Sql, marks, page_of, where_clause


class Invoices:
    def __init__(self, sql: Sql, sources: DataSources) -> None:
        self.sql = sql
        self.sources = sources

    def page(
        self,
        *,
        data_source_uuid: str | None = None,
        customer_uuid: str | None = None,
        external_id: str | None = None,
        after_id: int | None = None,
        limit: int = 200,
    ) -> Page[StoredInvoice]:
        """Invoices with their lines and transactions, across sources, oldest first."""
        # uuids become ids first (scalar subqueries): joined, SQLite filtered a customer's
        # invoices through the data source's index, reading every invoice of the source
        where, params = where_clause(
            {
                "i.data_source_id": data_source_uuid,
                "i.customer_id": customer_uuid,
                "i.external_id": external_id,
            }
        )
        where = where.replace(
            "i.data_source_id = ?", "i.data_source_id = (SELECT id FROM data_sources WHERE uuid = ?)"
        ).replace("i.customer_id = ?", "i.customer_id = (SELECT id FROM customers WHERE uuid = ?)")
        base = f"SELECT i.id, i.data_source_id FROM invoices i WHERE 1 = 1{where}"
        heads = self.sql.after(base, params, "i.id", after_id, limit)
        by_source: dict[int, list[int]] = {}
        for head in heads:
            by_source.setdefault(int(head[1]), []).append(int(head[0]))
        sources = {ds.id: ds for ds in self.sources.all()}
        found: list[StoredInvoice] = []
        for ds_id, ids in by_source.items():
            with self.sources.selected(sources[ds_id]):
                reader = self.sources.local.reader
                found += reader.invoices_matching(f" AND i.id IN ({marks(ids)})", ids)
        found.sort(key=lambda stored: stored.id)
        return page_of(found, limit, self.sql.count(base, params))

    def by_uuid(self, uuid: str) -> StoredInvoice | None:
        ds = self.sources.owner_of("invoices", uuid)
        if ds is None:
            return None
        with self.sources.selected(ds):
            return self.sources.local.get_invoice_by_uuid(uuid)

    def delete(self, stored: StoredInvoice) -> None:
        ds = self.sources.of(stored.data_source_uuid)
        with self.sql.db.transaction() as conn:
            InvoiceWriter(conn, ds.id, self.sql.db.new_uuid).delete(stored.id)

    def set_status(self, stored: StoredInvoice, status: Literal["voided", "written_off"]) -> None:
        """Void or write off (§5.4). Both stop counting, as the default invoice-handling
        setting prescribes; ``written_off`` is kept apart so responses can tell them apart."""
        ds = self.sources.of(stored.data_source_uuid)
        extras = self.extras([stored.id]).get(stored.id, InvoiceExtras()).invoice
        extras = (
            {**extras, "status": status}
            if status == "written_off"
            else {k: v for k, v in extras.items() if k != "status"}
        )
        with self.sql.db.transaction() as conn:
            InvoiceWriter(conn, ds.id, self.sql.db.new_uuid).void(stored.id)
            conn.execute(
                "INSERT OR REPLACE INTO api_invoice_extras (invoice_id, doc) VALUES (?, ?)",
                [stored.id, json.dumps(extras)],
            )

    def add_transaction(
        self, stored: StoredInvoice, transaction: OutTransaction, extras: Mapping[str, Any]
    ) -> str | None:
        """Append a transaction; None when its external id is taken in the data source."""
        ds = self.sources.of(stored.data_source_uuid)
        with self.sql.db.transaction() as conn:
            if (
                transaction.external_id
                and conn.execute(
                    "SELECT 1 FROM transactions WHERE data_source_id = ? AND external_id = ?",
                    [ds.id, transaction.external_id],
                ).fetchone()
            ):
                return None
            uuid = InvoiceWriter(conn, ds.id, self.sql.db.new_uuid).append_transaction(
                stored.id, transaction
            )
            if extras:
                conn.execute(
                    "INSERT INTO api_transaction_extras (transaction_id, doc) "
                    "SELECT id, ? FROM transactions WHERE uuid = ?",
                    [json.dumps(dict(extras)), uuid],
                )
        return uuid

    def extras(self, invoice_ids: Sequence[int]) -> dict[int, InvoiceExtras]:
        """The API-only fields of these invoices, their lines and their transactions."""
        if not invoice_ids:
            return {}
        heads = self.sql.docs("api_invoice_extras", "invoice_id", invoice_ids)
        out = {i: InvoiceExtras(invoice=heads.get(i, {})) for i in invoice_ids}
        for table, extras, key, attr in (
            ("line_items", "api_line_extras", "line_item_id", "lines"),
            ("transactions", "api_transaction_extras", "transaction_id", "transactions"),
        ):
            rows = self.sql.conn.execute(
                f"SELECT t.invoice_id, t.uuid, e.doc FROM {table} t JOIN {extras} e "
                f"ON e.{key} = t.id WHERE t.invoice_id IN ({marks(invoice_ids)})",
                list(invoice_ids),
            )
            for invoice_id, uuid, doc in rows:
                getattr(out[invoice_id], attr)[uuid] = json.loads(doc)
        return out

    def set_extras(
        self,
        invoice_uuid: str,
        invoice: Mapping[str, Any],
        lines: Sequence[Mapping[str, Any]],
        transactions: Sequence[Mapping[str, Any]],
    ) -> None:
        """Store API-only fields of a just-imported invoice; lines and transactions are
        matched by their position in the import."""
        with self.sql.db.transaction() as conn:
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
