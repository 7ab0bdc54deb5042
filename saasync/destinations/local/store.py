"""The embedded analytics store: the default destination, ChartMogul's data model in SQLite.

It behaves like ChartMogul's Import API where the engine can tell the difference (see
``store_writer``), so a run against the local store tells you what a run against
ChartMogul would leave behind, without the network.

``LocalStore`` is built from its parts and holds them: ``db`` (the open file, its schema
and transactions), ``selection`` (the data source every call works on, one object shared
by the others), ``reader`` and ``writer``. Its methods are theirs, delegated, so callers
keep one object; the server's ``ApiStore`` (``saasync.server.api_store``) holds a
``LocalStore`` next to its own parts, one per kind of record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from saasync.destinations.base import InvoiceResult
from saasync.destinations.local.database import Database, Selection
from saasync.destinations.local.reader import AutoChurnPolicy, StoreReader
from saasync.destinations.local.rows import (
    DataSourceInfo,
    StoredCustomer,
    StoredInvoice,
    StoredPlan,
    StoredSubscription,
)
from saasync.destinations.local.schema import utcnow
from saasync.destinations.local.store_writer import StoreWriter
from saasync.errors import ConfigError
from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice
from saasync.rules.status import SubscriptionView


class LocalStore:
    """ChartMogul's model in one SQLite file (or ``":memory:"``): a ``Destination``.

    One data source per instance is active at a time: ``ensure_data_source`` (which the
    engine calls first) or ``select_data_source`` chooses it. A file holding exactly one
    data source opens with it selected, so reports need no name. ``auto_churn`` gives the
    reader a per-source automatic churn setting (the plain store has none).
    """

    name = "local"

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        data_source: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        new_uuid: Callable[[str], str] | None = None,
        check_same_thread: bool = True,
        auto_churn: AutoChurnPolicy | None = None,
    ) -> None:
        self.db = Database(
            path, clock=clock, new_uuid=new_uuid, check_same_thread=check_same_thread
        )
        self.selection = Selection()
        self.reader = StoreReader(self.db, self.selection, auto_churn)
        self.writer = StoreWriter(self.db, self.selection, self.reader)
        if data_source is not None:
            self.select_data_source(data_source)
        else:
            existing = self.reader.data_sources()
            if len(existing) == 1:
                self.selection.current = existing[0]

    @property
    def path(self) -> str:
        return self.db.path

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def hold_commits(self, hold: bool = True) -> None:
        """Writes stay in one transaction until ``commit_held`` (or ``close``): a sync
        commits once per batch of customers instead of once per call. ``False`` commits
        and goes back to one transaction per call."""
        self.db.hold_commits(hold)

    def commit_held(self) -> None:
        """Make every write accepted so far durable."""
        self.db.commit_held()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- data sources -------------------------------------------------------------------

    def ensure_data_source(self, name: str) -> str:
        """Create the data source if missing, select it, and return its ``ds_…`` uuid."""
        return self.select_data_source(self.writer.add_data_source(name))

    def select_data_source(self, name: str) -> str:
        """Work on an existing data source; a name the store does not hold is a config error."""
        for ds in self.reader.data_sources():
            if ds.name == name:
                self.selection.current = ds
                return ds.uuid
        raise ConfigError(f"local store {self.path}: no data source named {name!r}")

    @property
    def data_source(self) -> DataSourceInfo | None:
        """The data source every call works on (None until one is chosen)."""
        return self.selection.current

    def data_sources(self) -> list[DataSourceInfo]:
        return self.reader.data_sources()

    # -- writes: the Destination contract, the writer's ---------------------------------

    def upsert_customer(self, customer: Customer) -> str:
        return self.writer.upsert_customer(customer)

    def upsert_plan(self, plan: Plan) -> str:
        return self.writer.upsert_plan(plan)

    def import_invoices(
        self, customer_external_id: str, invoices: Sequence[OutInvoice]
    ) -> list[InvoiceResult]:
        return self.writer.import_invoices(customer_external_id, invoices)

    def replace_invoice(self, invoice: OutInvoice) -> str:
        return self.writer.replace_invoice(invoice)

    def void_invoice(self, invoice_external_id: str) -> None:
        self.writer.void_invoice(invoice_external_id)

    def set_cancellation_dates(
        self, customer_external_id: str, subscription_external_id: str, dates: Sequence[datetime]
    ) -> None:
        self.writer.set_cancellation_dates(customer_external_id, subscription_external_id, dates)

    # -- reads: the reader's ------------------------------------------------------------

    def list_customers(
        self, *, after_id: int | None = None, limit: int | None = None
    ) -> list[StoredCustomer]:
        return self.reader.list_customers(after_id=after_id, limit=limit)

    def get_customer(self, external_id: str) -> StoredCustomer | None:
        return self.reader.get_customer(external_id)

    def get_customer_by_uuid(self, uuid: str) -> StoredCustomer | None:
        return self.reader.get_customer_by_uuid(uuid)

    def customer_external_ids(self) -> list[str]:
        return self.reader.customer_external_ids()

    def customer_since(self) -> dict[str, datetime | None]:
        return self.reader.customer_since()

    def list_plans(
        self, *, after_id: int | None = None, limit: int | None = None
    ) -> list[StoredPlan]:
        return self.reader.list_plans(after_id=after_id, limit=limit)

    def get_plan(self, external_id: str) -> StoredPlan | None:
        return self.reader.get_plan(external_id)

    def get_plan_by_uuid(self, uuid: str) -> StoredPlan | None:
        return self.reader.get_plan_by_uuid(uuid)

    def plans_by_external_id(self) -> dict[str, Plan]:
        return self.reader.plans_by_external_id()

    def list_invoices(
        self,
        customer_external_id: str | None = None,
        *,
        include_voided: bool = True,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[StoredInvoice]:
        return self.reader.list_invoices(
            customer_external_id, include_voided=include_voided, after_id=after_id, limit=limit
        )

    def get_invoice(self, external_id: str) -> StoredInvoice | None:
        return self.reader.get_invoice(external_id)

    def get_invoice_by_uuid(self, uuid: str) -> StoredInvoice | None:
        return self.reader.get_invoice_by_uuid(uuid)

    def invoice_docs(
        self,
        customer_external_id: str | None = None,
        *,
        include_voided: bool = True,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        return self.reader.invoice_docs(
            customer_external_id, include_voided=include_voided, after_id=after_id, limit=limit
        )

    def out_invoices_for_customer(
        self, customer_external_id: str, *, include_voided: bool = False
    ) -> list[OutInvoice]:
        return self.reader.out_invoices_for_customer(
            customer_external_id, include_voided=include_voided
        )

    def list_subscriptions(
        self,
        customer_external_id: str | None = None,
        *,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[StoredSubscription]:
        return self.reader.list_subscriptions(customer_external_id, after_id=after_id, limit=limit)

    def get_subscription(
        self, customer_external_id: str, external_id: str
    ) -> StoredSubscription | None:
        return self.reader.get_subscription(customer_external_id, external_id)

    def get_subscription_by_uuid(self, uuid: str) -> StoredSubscription | None:
        return self.reader.get_subscription_by_uuid(uuid)

    def subscription_views(self, customer_external_id: str | None = None) -> list[SubscriptionView]:
        return self.reader.subscription_views(customer_external_id)

    def counts(self) -> dict[str, int]:
        return self.reader.counts()

    def content_dump(self) -> dict[str, Any]:
        return self.reader.content_dump()

    def fingerprint(self) -> str:
        return self.reader.fingerprint()
