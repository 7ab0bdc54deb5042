"""Invoices and subscriptions of the local store as a ChartMogul account (``ApiStore``):
pages across data sources, look-ups by uuid, delete, void / write off, extra transactions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from saasync.destinations.local.rows import StoredCustomer, StoredInvoice, StoredSubscription
from saasync.destinations.local.writer import InvoiceWriter
from saasync.rules.changeset import OutTransaction
from saasync.server.api_store_base import ApiBase, InvoiceExtras, Page, marks, where_clause


class InvoiceApi(ApiBase):
    """The invoice and subscription calls of ``ApiStore``."""

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
                found += self.local.reader.invoices_matching(f" AND i.id IN ({marks(ids)})", ids)
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
        with self._db.transaction() as conn:
            InvoiceWriter(conn, ds.id, self._db.new_uuid).delete(stored.id)

    def set_invoice_status(
        self, stored: StoredInvoice, status: Literal["voided", "written_off"]
    ) -> None:
        """Void or write off (§5.4). Both stop counting, as the default invoice-handling
        setting prescribes; ``written_off`` is kept apart so responses can tell them apart."""
        ds = self._source_of(stored.data_source_uuid)
        extras = self.invoice_extras([stored.id]).get(stored.id, InvoiceExtras()).invoice
        extras = (
            {**extras, "status": status}
            if status == "written_off"
            else {k: v for k, v in extras.items() if k != "status"}
        )
        with self._db.transaction() as conn:
            InvoiceWriter(conn, ds.id, self._db.new_uuid).void(stored.id)
            conn.execute(
                "INSERT OR REPLACE INTO api_invoice_extras (invoice_id, doc) VALUES (?, ?)",
                [stored.id, json.dumps(extras)],
            )

    def add_transaction(
        self, stored: StoredInvoice, transaction: OutTransaction, extras: Mapping[str, Any]
    ) -> str | None:
        """Append a transaction; None when its external id is taken in the data source."""
        ds = self._source_of(stored.data_source_uuid)
        with self._db.transaction() as conn:
            if (
                transaction.external_id
                and conn.execute(
                    "SELECT 1 FROM transactions WHERE data_source_id = ? AND external_id = ?",
                    [ds.id, transaction.external_id],
                ).fetchone()
            ):
                return None
            uuid = InvoiceWriter(conn, ds.id, self._db.new_uuid).append_transaction(
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
                f"ON e.{key} = t.id WHERE t.invoice_id IN ({marks(invoice_ids)})",
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
        with self._db.transaction() as conn:
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
            rows = self.local.list_subscriptions(
                customer.external_id, after_id=after_id, limit=limit + 1
            )
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
            return self.local.get_subscription_by_uuid(uuid)

    def subscription_line_extras(
        self, subscription_ids: Sequence[int]
    ) -> dict[int, dict[str, Any]]:
        """Per subscription, the API-only fields of its latest line (its set id, say)."""
        if not subscription_ids:
            return {}
        rows = self._conn.execute(
            "SELECT li.subscription_id, e.doc FROM line_items li "
            "JOIN api_line_extras e ON e.line_item_id = li.id "
            "JOIN invoices i ON i.id = li.invoice_id "
            f"WHERE li.subscription_id IN ({marks(subscription_ids)}) "
            "ORDER BY i.date, li.service_period_start, li.id",
            list(subscription_ids),
        )
        return {int(sub_id): json.loads(doc) for sub_id, doc in rows}
