"""The local store's read side: listings, look-ups, subscription views and the fingerprint.

Reports, ``reconcile`` and the future ``saasync serve`` (a ChartMogul-compatible HTTP
server) read through these methods only, never through SQL of their own. Listings are
ordered by internal id and take ``after_id``/``limit``, which is all a cursor needs.
Statuses and MRR are not computed here: ``subscription_views`` hands the rules in
``saasync.rules.status`` exactly what analytics holds, and they decide.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from saasync.destinations.local.database import Database, Selection
from saasync.destinations.local.rows import (
    DataSourceInfo,
    StoredCustomer,
    StoredInvoice,
    StoredPlan,
    StoredSubscription,
    stored_invoice_from_rows,
)
from saasync.destinations.local.schema import (
    SELECT_INVOICES,
    SELECT_LINES,
    SELECT_SUBSCRIPTIONS,
    SELECT_TRANSACTIONS,
    from_text,
    from_text_required,
    to_text,
)
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice
from saasync.rules.status import SubscriptionView, customer_since, views_for_customer


def _page(after_id: int | None, limit: int | None, column: str) -> tuple[str, str, list[Any]]:
    """SQL for one cursor page: rows after ``after_id``, at most ``limit`` of them."""
    where, params = "", []
    if after_id is not None:
        where, params = f" AND {column} > ?", [after_id]
    return where, (f" LIMIT {int(limit)}" if limit is not None else ""), params


#: Per data source, how long a subscription may go without an invoice after its last
#: service period before it churns (None: never). The plain store has no such setting;
#: ``saasync serve`` passes one that reads each source's ``auto_churn_subscription_setting``.
AutoChurnPolicy = Callable[[DataSourceInfo], timedelta | None]


class StoreReader:
    """The read side of ``LocalStore``; every call works on the selected data source."""

    def __init__(
        self, db: Database, selection: Selection, auto_churn: AutoChurnPolicy | None = None
    ) -> None:
        self._db = db
        self._conn = db.conn
        self._selection = selection
        self._auto_churn = auto_churn

    # -- data sources -------------------------------------------------------------------

    @property
    def data_source(self) -> DataSourceInfo | None:
        """The data source every call works on (None until one is chosen)."""
        return self._selection.current

    def data_sources(self) -> list[DataSourceInfo]:
        rows = self._conn.execute("SELECT * FROM data_sources ORDER BY id").fetchall()
        return [
            DataSourceInfo(r["id"], r["uuid"], r["name"], from_text_required(r["created_at"]))
            for r in rows
        ]

    # -- customers and plans ------------------------------------------------------------

    def _customers(
        self, filters: str, params: Sequence[Any], limit: str = ""
    ) -> list[StoredCustomer]:
        ds = self._selection.require()
        rows = self._conn.execute(
            f"SELECT * FROM customers WHERE data_source_id = ?{filters} ORDER BY id{limit}",
            [ds.id, *params],
        ).fetchall()
        return [
            StoredCustomer(
                r["id"],
                r["uuid"],
                ds.uuid,
                Customer(
                    external_id=r["external_id"],
                    name=r["name"],
                    email=r["email"],
                    company=r["company"],
                    country=r["country"],
                    created_at=from_text(r["created_at"]),
                ),
            )
            for r in rows
        ]

    def list_customers(
        self, *, after_id: int | None = None, limit: int | None = None
    ) -> list[StoredCustomer]:
        where, lim, params = _page(after_id, limit, "id")
        return self._customers(where, params, lim)

    def get_customer(self, external_id: str) -> StoredCustomer | None:
        found = self._customers(" AND external_id = ?", [external_id])
        return found[0] if found else None

    def get_customer_by_uuid(self, uuid: str) -> StoredCustomer | None:
        found = self._customers(" AND uuid = ?", [uuid])
        return found[0] if found else None

    def customer_external_ids(self) -> list[str]:
        """Every customer of the data source, leads included (they count in metrics)."""
        rows = self._conn.execute(
            "SELECT external_id FROM customers WHERE data_source_id = ? ORDER BY id",
            [self._selection.require().id],
        )
        return [r[0] for r in rows]

    def customer_since(self) -> dict[str, datetime | None]:
        """Per customer, when it starts to count in metrics (``rules.status.customer_since``):
        its creation time, or its first stored invoice when the source gave none."""
        rows = self._conn.execute(
            "SELECT c.external_id, c.created_at, MIN(i.date) FROM customers c "
            "LEFT JOIN invoices i ON i.customer_id = c.id "
            "WHERE c.data_source_id = ? GROUP BY c.id ORDER BY c.id",
            [self._selection.require().id],
        )
        return {
            r[0]: customer_since(from_text(r[1]), [d] if (d := from_text(r[2])) else [])
            for r in rows
        }

    def _plans(self, filters: str, params: Sequence[Any], limit: str = "") -> list[StoredPlan]:
        ds = self._selection.require()
        rows = self._conn.execute(
            f"SELECT * FROM plans WHERE data_source_id = ?{filters} ORDER BY id{limit}",
            [ds.id, *params],
        ).fetchall()
        return [
            StoredPlan(
                r["id"],
                r["uuid"],
                ds.uuid,
                Plan(
                    external_id=r["external_id"],
                    name=r["name"],
                    interval_unit=r["interval_unit"],
                    interval_count=r["interval_count"],
                ),
            )
            for r in rows
        ]

    def list_plans(
        self, *, after_id: int | None = None, limit: int | None = None
    ) -> list[StoredPlan]:
        where, lim, params = _page(after_id, limit, "id")
        return self._plans(where, params, lim)

    def get_plan(self, external_id: str) -> StoredPlan | None:
        found = self._plans(" AND external_id = ?", [external_id])
        return found[0] if found else None

    def get_plan_by_uuid(self, uuid: str) -> StoredPlan | None:
        found = self._plans(" AND uuid = ?", [uuid])
        return found[0] if found else None

    def plans_by_external_id(self) -> dict[str, Plan]:
        """The plans as the MRR rules want them."""
        return {p.external_id: p.plan for p in self._plans("", [])}

    # -- invoices -----------------------------------------------------------------------

    def invoices_matching(
        self, filters: str, params: Sequence[Any], limit: str = ""
    ) -> list[StoredInvoice]:
        """Invoices with their lines and transactions: three queries, whatever the count.

        ``filters`` is SQL on the aliases i (invoices) and c (customers), written by the
        caller (never taken from input), its values in ``params``."""
        ds = self._selection.require()
        with self._db.snapshot():
            heads = self._conn.execute(
                SELECT_INVOICES.format(filters=filters, limit=limit), [ds.id, *params]
            ).fetchall()
            if not heads:
                return []
            # A page is the matching rows between its first and last id: no IN-list needed.
            span = [ds.id, *params, heads[0]["id"], heads[-1]["id"]]
            lines: dict[int, list[sqlite3.Row]] = {}
            for row in self._conn.execute(SELECT_LINES.format(filters=filters), span):
                lines.setdefault(row["invoice_id"], []).append(row)
            transactions: dict[int, list[sqlite3.Row]] = {}
            for row in self._conn.execute(SELECT_TRANSACTIONS.format(filters=filters), span):
                transactions.setdefault(row["invoice_id"], []).append(row)
        return [
            stored_invoice_from_rows(
                ds, head, lines.get(head["id"], []), transactions.get(head["id"], [])
            )
            for head in heads
        ]

    def list_invoices(
        self,
        customer_external_id: str | None = None,
        *,
        include_voided: bool = True,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[StoredInvoice]:
        where, lim, params = _page(after_id, limit, "i.id")
        if customer_external_id is not None:
            # the customer's id first, so that SQLite reads invoices_customer: filtered on
            # c.external_id, it read every invoice of the data source for each customer
            where += (" AND i.customer_id = (SELECT id FROM customers"
                      " WHERE data_source_id = ? AND external_id = ?)")
            params = [*params, self._selection.require().id, customer_external_id]
        if not include_voided:
            where += " AND i.status != 'voided'"
        return self.invoices_matching(where, params, lim)

    def get_invoice(self, external_id: str) -> StoredInvoice | None:
        found = self.invoices_matching(" AND i.external_id = ?", [external_id])
        return found[0] if found else None

    def get_invoice_by_uuid(self, uuid: str) -> StoredInvoice | None:
        found = self.invoices_matching(" AND i.uuid = ?", [uuid])
        return found[0] if found else None

    def invoice_docs(
        self,
        customer_external_id: str | None = None,
        *,
        include_voided: bool = True,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Invoices as ChartMogul's invoice listing shows them, uuids and status included."""
        return [
            stored.doc()
            for stored in self.list_invoices(
                customer_external_id, include_voided=include_voided, after_id=after_id, limit=limit
            )
        ]

    def out_invoices_for_customer(
        self, customer_external_id: str, *, include_voided: bool = False
    ) -> list[OutInvoice]:
        """The customer's invoices as the rules see them; voided ones count for nothing."""
        return [
            s.invoice
            for s in self.list_invoices(customer_external_id, include_voided=include_voided)
        ]

    # -- subscriptions ------------------------------------------------------------------

    def _subscriptions(
        self, filters: str, params: Sequence[Any], limit: str = ""
    ) -> list[StoredSubscription]:
        ds = self._selection.require()
        rows = self._conn.execute(
            SELECT_SUBSCRIPTIONS.format(filters=filters, limit=limit), [ds.id, *params]
        ).fetchall()
        return [
            StoredSubscription(
                id=r["id"],
                uuid=r["uuid"],
                data_source_uuid=ds.uuid,
                external_id=r["external_id"],
                customer_uuid=r["customer_uuid"],
                customer_external_id=r["customer_external_id"],
                plan_uuid=r["plan_uuid"],
                plan_external_id=r["plan_ext"],
                cancellation_dates=tuple(
                    from_text_required(d) for d in json.loads(r["cancellation_dates"])
                ),
            )
            for r in rows
        ]

    def list_subscriptions(
        self,
        customer_external_id: str | None = None,
        *,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[StoredSubscription]:
        where, lim, params = _page(after_id, limit, "s.id")
        if customer_external_id is not None:
            # the customer's id first, so that SQLite reads subscriptions_customer (as for
            # invoices: list_invoices)
            where += (" AND s.customer_id = (SELECT id FROM customers"
                      " WHERE data_source_id = ? AND external_id = ?)")
            params = [*params, self._selection.require().id, customer_external_id]
        return self._subscriptions(where, params, lim)

    def get_subscription(
        self, customer_external_id: str, external_id: str
    ) -> StoredSubscription | None:
        found = self._subscriptions(
            " AND c.external_id = ? AND s.external_id = ?", [customer_external_id, external_id]
        )
        return found[0] if found else None

    def get_subscription_by_uuid(self, uuid: str) -> StoredSubscription | None:
        found = self._subscriptions(" AND s.uuid = ?", [uuid])
        return found[0] if found else None

    def subscription_views(self, customer_external_id: str | None = None) -> list[SubscriptionView]:
        """What the status and MRR rules need: per subscription, its live invoices and
        cancellation dates. Voided invoices are left out (``prevent_subscription_for_invoice_voided``),
        so a subscription whose every invoice was voided has no view: it does not exist.
        With an automatic churn policy that answers for the selected source, every view
        carries its ``auto_churn_after``."""
        ds = self._selection.require()
        with self._db.snapshot():
            invoices = self.list_invoices(customer_external_id, include_voided=False)
            subscriptions = self.list_subscriptions(customer_external_id)
        by_customer: dict[str, list[OutInvoice]] = {}
        for stored in invoices:
            by_customer.setdefault(stored.invoice.customer_external_id, []).append(stored.invoice)
        cancellations: dict[str, dict[str, tuple[datetime, ...]]] = {}
        for sub in subscriptions:
            cancellations.setdefault(sub.customer_external_id, {})[sub.external_id] = (
                sub.cancellation_dates
            )
        views: list[SubscriptionView] = []
        for customer in sorted(by_customer):
            views.extend(
                views_for_customer(customer, by_customer[customer], cancellations.get(customer, {}))
            )
        after = self._auto_churn(ds) if self._auto_churn is not None else None
        return views if after is None else [replace(v, auto_churn_after=after) for v in views]

    # -- whole-store views --------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Row counts of the selected data source (run reports, sanity checks)."""
        ds_id = self._selection.require().id
        queries = {
            "customers": "SELECT count(*) FROM customers WHERE data_source_id = ?",
            "plans": "SELECT count(*) FROM plans WHERE data_source_id = ?",
            "invoices": "SELECT count(*) FROM invoices WHERE data_source_id = ?",
            "voided_invoices": "SELECT count(*) FROM invoices WHERE data_source_id = ? "
            "AND status = 'voided'",
            "line_items": "SELECT count(*) FROM line_items WHERE data_source_id = ?",
            "transactions": "SELECT count(*) FROM transactions WHERE data_source_id = ?",
            "subscriptions": "SELECT count(*) FROM subscriptions WHERE data_source_id = ?",
        }
        return {
            name: int(self._conn.execute(sql, [ds_id]).fetchone()[0])
            for name, sql in queries.items()
        }

    def content_dump(self) -> dict[str, Any]:
        """All business content of every data source, without uuids, row ids or timestamps
        of our own, in a canonical order: two stores that hold the same facts dump equal,
        however and in whatever order they were loaded."""
        with self._db.snapshot():
            dumps: dict[str, Any] = {}
            for ds in self.data_sources():
                with self._selection.using(ds):
                    dumps[ds.name] = self._dump_selected()
            return dumps

    def _dump_selected(self) -> dict[str, Any]:
        def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return sorted(rows, key=lambda row: str(row["external_id"]))

        subscriptions = [
            {
                "customer_external_id": s.customer_external_id,
                "external_id": s.external_id,
                "plan_external_id": s.plan_external_id,
                "cancellation_dates": [to_text(d) for d in s.cancellation_dates],
            }
            for s in self.list_subscriptions()
        ]
        return {
            "customers": by_id([c.customer.model_dump(mode="json") for c in self.list_customers()]),
            "plans": by_id([p.plan.model_dump(mode="json") for p in self.list_plans()]),
            "invoices": by_id(
                [{"status": s.status, **asdict(s.invoice)} for s in self.list_invoices()]
            ),
            "subscriptions": sorted(
                subscriptions, key=lambda s: (s["customer_external_id"], s["external_id"])
            ),
        }

    def fingerprint(self) -> str:
        """A SHA-256 of ``content_dump()``: equal fingerprints mean the same end state."""
        text = json.dumps(self.content_dump(), sort_keys=True, default=to_text)
        return hashlib.sha256(text.encode()).hexdigest()
