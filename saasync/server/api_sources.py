"""The account's data sources (``ApiStore.sources``): by uuid, which one holds a row,
create / delete / empty, their automatic churn setting, and selecting one for a block.

``LocalStore`` works on one selected data source, as the engine needs; an account holds
many, so every call on a source's records runs inside ``selected(ds)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Literal

from saasync.destinations.local import LocalStore
from saasync.destinations.local.rows import DataSourceInfo
from saasync.destinations.local.schema import to_text
from saasync.server.api_sql import Sql

Table = Literal["customers", "plans", "invoices", "subscriptions"]


class DataSources:
    """Data sources of the account held in ``local``'s file."""

    def __init__(self, local: LocalStore, sql: Sql) -> None:
        self.local = local
        self.sql = sql

    def all(self) -> list[DataSourceInfo]:
        return self.local.data_sources()

    @contextmanager
    def selected(self, ds: DataSourceInfo) -> Iterator[DataSourceInfo]:
        """Work on ``ds`` for the duration of the block (the local store's calls need one)."""
        with self.local.selection.using(ds):
            yield ds

    def by_uuid(self, uuid: str) -> DataSourceInfo | None:
        return next((ds for ds in self.all() if ds.uuid == uuid), None)

    def of(self, uuid: str) -> DataSourceInfo:
        """The source with this uuid; LookupError when there is none."""
        ds = self.by_uuid(uuid)
        if ds is None:
            raise LookupError(f"data source {uuid} not found")
        return ds

    def owner_of(self, table: Table, uuid: str) -> DataSourceInfo | None:
        """The data source holding the row with this uuid (None: no such row)."""
        row = self.sql.conn.execute(
            f"SELECT data_source_id FROM {table} WHERE uuid = ?", [uuid]
        ).fetchone()
        if row is None:
            return None
        return next((ds for ds in self.all() if ds.id == row[0]), None)

    def create(
        self, name: str, auto_churn: Mapping[str, Any] | None = None
    ) -> DataSourceInfo | None:
        """A new data source; None when the name is taken (names are unique per account).
        ``auto_churn`` is its ``auto_churn_subscription_setting`` (``{"enabled", "interval"}``)."""
        db = self.sql.db
        with db.transaction() as conn:
            if conn.execute("SELECT 1 FROM data_sources WHERE name = ?", [name]).fetchone():
                return None
            cur = conn.execute(
                "INSERT INTO data_sources (uuid, name, created_at) VALUES (?, ?, ?)",
                [db.new_uuid("ds"), name, to_text(db.clock())],
            )
            if auto_churn is not None:
                conn.execute(
                    "INSERT INTO api_data_source_settings VALUES (?, ?)",
                    [cur.lastrowid, json.dumps({"auto_churn": dict(auto_churn)})],
                )
        return next(ds for ds in self.all() if ds.name == name)

    def auto_churn(self, ds: DataSourceInfo) -> dict[str, Any]:
        """The source's automatic churn setting; off unless set when it was created."""
        row = self.sql.conn.execute(
            "SELECT doc FROM api_data_source_settings WHERE data_source_id = ?", [ds.id]
        ).fetchone()
        setting = json.loads(row[0]).get("auto_churn") if row else None
        return dict(setting) if isinstance(setting, dict) else {"enabled": False, "interval": None}

    def auto_churn_after(self, ds: DataSourceInfo) -> timedelta | None:
        """The local store's automatic churn policy (``LocalStore(auto_churn=...)``): with
        the source's setting on, a subscription with no invoice for more than ``interval``
        days after its last service period is cancelled at that period's end. This is
        where the server's ``subscription_views`` differ from a plain local store's."""
        setting = self.auto_churn(ds)
        interval = setting.get("interval")
        if not setting.get("enabled") or not isinstance(interval, int) or interval < 1:
            return None
        return timedelta(days=interval)

    def delete(self, ds: DataSourceInfo) -> None:
        """Remove the source and everything in it (ChartMogul does this in the background)."""
        with self.sql.db.transaction() as conn:
            conn.execute("DELETE FROM data_sources WHERE id = ?", [ds.id])
        self.local.selection.forget(ds)

    def empty(self, ds: DataSourceInfo) -> None:
        """Remove every customer, plan and invoice of the source but keep the source."""
        with self.sql.db.transaction() as conn:
            conn.execute("DELETE FROM customers WHERE data_source_id = ?", [ds.id])
            conn.execute("DELETE FROM plans WHERE data_source_id = ?", [ds.id])
