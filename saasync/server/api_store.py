"""The local store as a ChartMogul account: every data source at once, for ``saasync serve``.

``LocalStore`` works on one selected data source, as the engine needs. An account holds
many, and the API addresses records by uuid across all of them, filters lists and pages
them by cursor, deletes and updates. ``ApiStore`` holds a ``LocalStore`` (``local``, for
the calls on the selected source: upserts, imports, reads by external id, the metrics'
views) and one small part per kind of record, each in its own module:

- ``sources`` (``api_sources``): data sources by uuid, create / delete / empty, their
  automatic churn setting (the local store's reader's policy), ``selected(ds)``;
- ``customers``, ``plans``, ``invoices``, ``subscriptions`` (``api_<kind>``): pages across
  sources, look-ups by uuid, deletes and the API-only fields;
- ``json_imports`` (``api_json_imports``): bulk-import reports.

They share ``api_sql`` (the ``api_*`` tables, ``Page``, the SQL helpers). The connection
is shared across threads: the caller serialises every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from saasync.destinations.local import LocalStore
from saasync.destinations.local.rows import DataSourceInfo
from saasync.destinations.local.schema import utcnow
from saasync.server.api_customers import Customers
from saasync.server.api_invoices import Invoices
from saasync.server.api_json_imports import JsonImports
from saasync.server.api_plans import Plans
from saasync.server.api_sources import DataSources
from saasync.server.api_sql import Sql
from saasync.server.api_subscriptions import Subscriptions


class ApiStore:
    """A ``LocalStore`` (``local``), opened for a server's threads, with the account-wide
    parts the ChartMogul API needs."""

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
            auto_churn=self._auto_churn_after,
        )
        sql = Sql(self.local.db)
        self.sources = DataSources(self.local, sql)
        self.customers = Customers(sql)
        self.plans = Plans(sql, self.sources)
        self.invoices = Invoices(sql, self.sources)
        self.subscriptions = Subscriptions(sql, self.sources)
        self.json_imports = JsonImports(sql)

    def _auto_churn_after(self, ds: DataSourceInfo) -> timedelta | None:
        return self.sources.auto_churn_after(ds)

    @property
    def path(self) -> str:
        return self.local.path

    def close(self) -> None:
        self.local.close()

    def now(self) -> datetime:
        return self.local.db.clock()

    @contextmanager
    def selected(self, ds: DataSourceInfo) -> Iterator[DataSourceInfo]:
        """Work on ``ds`` for the duration of the block (the local store's calls need one)."""
        with self.sources.selected(ds):
            yield ds

    # The whole account's content, as a test or benchmark compares it.

    def counts(self) -> dict[str, int]:
        return self.local.counts()

    def content_dump(self) -> dict[str, Any]:
        return self.local.content_dump()

    def fingerprint(self) -> str:
        return self.local.fingerprint()
