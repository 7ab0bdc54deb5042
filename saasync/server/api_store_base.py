"""The base of the local store as a ChartMogul account (``ApiStore``): data sources,
look-ups by uuid, paging, and the tables for API-only fields.

``LocalStore`` works on one selected data source, as the engine needs; an account holds
many. ``ApiBase`` wraps one (``local``, not a base class): it passes on the calls the
handlers make on the selected source, selects one for the span of a call (``selected``),
gives the local store's reader the sources' automatic churn setting (``auto_churn_after``)
and keeps the fields ChartMogul has that the sync model has no use for (a customer's city
and tags, a line's discount code, a ``written_off`` status, bulk-import reports) as JSON
in ``api_*`` tables, created on open and removed with their row by ``ON DELETE CASCADE``. The connection is
shared across threads: the caller serialises every call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from saasync.destinations.base import InvoiceResult
from saasync.destinations.local import LocalStore
from saasync.destinations.local.rows import (
    DataSourceInfo,
    StoredCustomer,
    StoredInvoice,
    StoredPlan,
    StoredSubscription,
)
from saasync.destinations.local.schema import to_text, utcnow
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice
from saasync.rules.status import SubscriptionView

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
CREATE TABLE IF NOT EXISTS api_data_source_settings (
    data_source_id INTEGER PRIMARY KEY REFERENCES data_sources(id) ON DELETE CASCADE,
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


def where_clause(filters: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``AND column = ?`` for each filter that is set (column names are ours, never input)."""
    given = {column: value for column, value in filters.items() if value is not None}
    return "".join(f" AND {column} = ?" for column in given), list(given.values())


def marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


class ApiBase:
    """The account's base: it holds a ``LocalStore`` (``local``), opened for a server's
    threads and with the data sources' automatic churn setting as its reader's policy,
    plus data sources by uuid and the helpers the other API parts share."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        clock: Callable[[], datetime] = utcnow,
        new_uuid: Callable[[str], str] | None = None,
    ) -> None:
        self.local = LocalStore(
            path,
            clock=clock,
            new_uuid=new_uuid,
            check_same_thread=False,
            auto_churn=self.auto_churn_after,
        )
        self._db = self.local.db
        self._conn = self.local.db.conn
        self._conn.executescript(API_DDL)

    @property
    def path(self) -> str:
        return self.local.path

    def close(self) -> None:
        self.local.close()

    def now(self) -> datetime:
        return self._db.clock()

    @contextmanager
    def selected(self, ds: DataSourceInfo) -> Iterator[DataSourceInfo]:
        """Work on ``ds`` for the duration of the block (the local store's calls need one)."""
        with self.local.selection.using(ds):
            yield ds

    def _page(self, rows: list[T], limit: int, total: int) -> Page[T]:
        return Page(rows[:limit], len(rows) > limit, total)

    def _count(self, sql: str, params: Sequence[Any]) -> int:
        return int(self._conn.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])

    # -- the selected data source: the local store's calls, delegated -------------------

    def data_sources(self) -> list[DataSourceInfo]:
        return self.local.data_sources()

    def upsert_customer(self, customer: Customer) -> str:
        return self.local.upsert_customer(customer)

    def upsert_plan(self, plan: Plan) -> str:
        return self.local.upsert_plan(plan)

    def import_invoices(
        self, customer_external_id: str, invoices: Sequence[OutInvoice]
    ) -> list[InvoiceResult]:
        return self.local.import_invoices(customer_external_id, invoices)

    def set_cancellation_dates(
        self, customer_external_id: str, subscription_external_id: str, dates: Sequence[datetime]
    ) -> None:
        self.local.set_cancellation_dates(customer_external_id, subscription_external_id, dates)

    def get_customer(self, external_id: str) -> StoredCustomer | None:
        return self.local.get_customer(external_id)

    def get_plan(self, external_id: str) -> StoredPlan | None:
        return self.local.get_plan(external_id)

    def get_plan_by_uuid(self, uuid: str) -> StoredPlan | None:
        return self.local.get_plan_by_uuid(uuid)

    def get_invoice(self, external_id: str) -> StoredInvoice | None:
        return self.local.get_invoice(external_id)

    def get_invoice_by_uuid(self, uuid: str) -> StoredInvoice | None:
        return self.local.get_invoice_by_uuid(uuid)

    def get_subscription(
        self, customer_external_id: str, external_id: str
    ) -> StoredSubscription | None:
        return self.local.get_subscription(customer_external_id, external_id)

    def counts(self) -> dict[str, int]:
        return self.local.counts()

    def content_dump(self) -> dict[str, Any]:
        return self.local.content_dump()

    def fingerprint(self) -> str:
        return self.local.fingerprint()

    # What the metrics read (``reports.metrics.MetricsSource`` and ``customer_since``); the
    # views carry the automatic churn setting through the local store's policy.

    def subscription_views(self, customer_external_id: str | None = None) -> list[SubscriptionView]:
        return self.local.subscription_views(customer_external_id)

    def plans_by_external_id(self) -> dict[str, Plan]:
        return self.local.plans_by_external_id()

    def customer_external_ids(self) -> list[str]:
        return self.local.customer_external_ids()

    def customer_since(self) -> dict[str, datetime | None]:
        return self.local.customer_since()

    # -- data sources -------------------------------------------------------------------

    def data_source_by_uuid(self, uuid: str) -> DataSourceInfo | None:
        return next((ds for ds in self.local.data_sources() if ds.uuid == uuid), None)

    def owner_of(self, table: Table, uuid: str) -> DataSourceInfo | None:
        """The data source holding the row with this uuid (None: no such row)."""
        row = self._conn.execute(
            f"SELECT data_source_id FROM {table} WHERE uuid = ?", [uuid]
        ).fetchone()
        if row is None:
            return None
        return next((ds for ds in self.local.data_sources() if ds.id == row[0]), None)

    def create_data_source(
        self, name: str, auto_churn: Mapping[str, Any] | None = None
    ) -> DataSourceInfo | None:
        """A new data source; None when the name is taken (names are unique per account).
        ``auto_churn`` is its ``auto_churn_subscription_setting`` (``{"enabled", "interval"}``)."""
        with self._db.transaction() as conn:
            if conn.execute("SELECT 1 FROM data_sources WHERE name = ?", [name]).fetchone():
                return None
            cur = conn.execute(
                "INSERT INTO data_sources (uuid, name, created_at) VALUES (?, ?, ?)",
                [self._db.new_uuid("ds"), name, to_text(self._db.clock())],
            )
            if auto_churn is not None:
                conn.execute(
                    "INSERT INTO api_data_source_settings VALUES (?, ?)",
                    [cur.lastrowid, json.dumps({"auto_churn": dict(auto_churn)})],
                )
        return next(ds for ds in self.local.data_sources() if ds.name == name)

    def data_source_auto_churn(self, ds: DataSourceInfo) -> dict[str, Any]:
        """The source's automatic churn setting; off unless set when it was created."""
        row = self._conn.execute(
            "SELECT doc FROM api_data_source_settings WHERE data_source_id = ?", [ds.id]
        ).fetchone()
        setting = json.loads(row[0]).get("auto_churn") if row else None
        return dict(setting) if isinstance(setting, dict) else {"enabled": False, "interval": None}

    def auto_churn_after(self, ds: DataSourceInfo) -> timedelta | None:
        """The local store's automatic churn policy (``LocalStore(auto_churn=...)``): with
        the source's setting on, a subscription with no invoice for more than ``interval``
        days after its last service period is cancelled at that period's end. This is
        where the server's ``subscription_views`` differ from a plain local store's."""
        setting = self.data_source_auto_churn(ds)
        interval = setting.get("interval")
        if not setting.get("enabled") or not isinstance(interval, int) or interval < 1:
            return None
        return timedelta(days=interval)

    def delete_data_source(self, ds: DataSourceInfo) -> None:
        """Remove the source and everything in it (ChartMogul does this in the background)."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM data_sources WHERE id = ?", [ds.id])
        self.local.selection.forget(ds)

    def empty_data_source(self, ds: DataSourceInfo) -> None:
        """Remove every customer, plan and invoice of the source but keep the source."""
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM customers WHERE data_source_id = ?", [ds.id])
            conn.execute("DELETE FROM plans WHERE data_source_id = ?", [ds.id])

    # -- bulk imports -------------------------------------------------------------------

    def save_json_import(self, ds: DataSourceInfo, import_id: str, doc: Mapping[str, Any]) -> None:
        with self._db.transaction() as conn:
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
            f"SELECT {key}, doc FROM {table} WHERE {key} IN ({marks(ids)})", list(ids)
        )
        return {int(row_id): json.loads(doc) for row_id, doc in rows}
