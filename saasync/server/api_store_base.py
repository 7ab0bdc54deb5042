"""The base of the local store as a ChartMogul account (``ApiStore``): data sources,
look-ups by uuid, paging, and the tables for API-only fields.

``LocalStore`` works on one selected data source, as the engine needs; an account holds
many. ``ApiBase`` selects one for the span of a call (``selected``) and keeps the fields
ChartMogul has that the sync model has no use for (a customer's city and tags, a line's
discount code, a ``written_off`` status, bulk-import reports) as JSON in ``api_*`` tables,
created on open and removed with their row by ``ON DELETE CASCADE``. The connection is
shared across threads: the caller serialises every call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from saasync.destinations.local import LocalStore
from saasync.destinations.local.rows import DataSourceInfo
from saasync.destinations.local.schema import random_uuid, to_text, utcnow
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


class ApiBase(LocalStore):
    """``LocalStore`` plus data sources by uuid and the helpers the other API parts share."""

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

    def create_data_source(
        self, name: str, auto_churn: Mapping[str, Any] | None = None
    ) -> DataSourceInfo | None:
        """A new data source; None when the name is taken (names are unique per account).
        ``auto_churn`` is its ``auto_churn_subscription_setting`` (``{"enabled", "interval"}``)."""
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM data_sources WHERE name = ?", [name]).fetchone():
                return None
            cur = conn.execute(
                "INSERT INTO data_sources (uuid, name, created_at) VALUES (?, ?, ?)",
                [self._new_uuid("ds"), name, to_text(self._clock())],
            )
            if auto_churn is not None:
                conn.execute("INSERT INTO api_data_source_settings VALUES (?, ?)",
                             [cur.lastrowid, json.dumps({"auto_churn": dict(auto_churn)})])
        return next(ds for ds in self.data_sources() if ds.name == name)

    def data_source_auto_churn(self, ds: DataSourceInfo) -> dict[str, Any]:
        """The source's automatic churn setting; off unless set when it was created."""
        row = self._conn.execute(
            "SELECT doc FROM api_data_source_settings WHERE data_source_id = ?", [ds.id]
        ).fetchone()
        setting = json.loads(row[0]).get("auto_churn") if row else None
        return dict(setting) if isinstance(setting, dict) else {"enabled": False, "interval": None}

    def subscription_views(self, customer_external_id: str | None = None) -> list[SubscriptionView]:
        """As the local store's, with the data source's automatic churn applied when it is on:
        a subscription with no invoice for more than ``interval`` days after its last
        service period is cancelled at that period's end."""
        views = super().subscription_views(customer_external_id)
        setting = self.data_source_auto_churn(self._require_ds())
        interval = setting.get("interval")
        if not setting.get("enabled") or not isinstance(interval, int) or interval < 1:
            return views
        after = timedelta(days=interval)
        return [replace(view, auto_churn_after=after) for view in views]

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
            f"SELECT {key}, doc FROM {table} WHERE {key} IN ({marks(ids)})", list(ids)
        )
        return {int(row_id): json.loads(doc) for row_id, doc in rows}
