"""The destination contract: what the engine asks of an analytics API.

Implemented by the embedded local store (``destinations/local/``) and by ChartMogul
over HTTP. Every call is idempotent by external id: calling it again with the same
content changes nothing. A method raises ``BadRecordError`` when the destination
refuses that one record (the engine quarantines it and goes on), ``AuthError`` when
credentials are refused (the run stops), and lets retriable errors surface only after
the HTTP layer has given up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from saasync.models import Customer, Plan
from saasync.rules.changeset import OutInvoice


@dataclass(frozen=True)
class InvoiceResult:
    """The destination's answer for one invoice of a batch import."""

    external_id: str
    destination_id: str | None  # None when rejected
    error: str | None = None
    fields: tuple[str, ...] = ()  # set when ``error`` is a conflict: the differing fields


@runtime_checkable
class Destination(Protocol):
    name: str

    def ensure_data_source(self, name: str) -> str:
        """Create the data source if missing; return its destination id."""
        ...

    def upsert_customer(self, customer: Customer) -> str: ...

    def upsert_plan(self, plan: Plan) -> str: ...

    def import_invoices(
        self, customer_external_id: str, invoices: Sequence[OutInvoice]
    ) -> list[InvoiceResult]:
        """Create invoices of one customer (many in one request where the API allows)."""
        ...

    def replace_invoice(self, invoice: OutInvoice) -> str:
        """An invoice sent before whose content changed (paid since, lines corrected)."""
        ...

    def void_invoice(self, invoice_external_id: str) -> None: ...

    def set_cancellation_dates(
        self,
        customer_external_id: str,
        subscription_external_id: str,
        dates: Sequence[datetime],
    ) -> None:
        """Replace the subscription's cancellation dates; ``[]`` reactivates it."""
        ...

    def close(self) -> None: ...


class Baseline(Protocol):
    """What a destination really holds, read back for a dry run's diff (ChartMogul read-back)."""

    invoices: Mapping[str, Any]
    invoice_status: Mapping[str, str]

    def diff(self, record: Any) -> list[str] | None:
        """None: the destination lacks it; []: it holds exactly this; else the differing fields."""
        ...


class BulkOutcome(Protocol):
    kind: str  # customer | plan | invoice | subscription
    external_id: str
    customer_external_id: str | None
    error: str | None
    conflict_fields: tuple[str, ...]


class BulkSink(Protocol):
    """A bulk import: changes are buffered, then sent and settled together at ``flush``."""

    def add_plan(self, plan: Plan) -> None: ...

    def add_customer(self, customer: Customer) -> None: ...

    def add_invoices(self, customer_external_id: str, invoices: Sequence[OutInvoice]) -> None: ...

    def add_cancellation(self, customer_external_id: str, subscription_external_id: str,
                         dates: Sequence[datetime]) -> None: ...

    def flush(self) -> Sequence[BulkOutcome]: ...


# -- optional abilities: Protocols checked once, where the run is put together -------------------
@runtime_checkable
class Snapshotting(Protocol):
    """A destination that can read back what a data source holds (a dry run diffs against
    it; ``reconcile`` and ``explain`` read it)."""

    def snapshot(self, data_source: str | None = None, *,
                 progress: Callable[[str, int, int | None], None] | None = None,
                 ) -> Baseline: ...


@runtime_checkable
class BulkImporting(Protocol):
    """A destination that can take changes in bulk (``import_mode = "bulk"``)."""

    def ensure_data_source(self, name: str) -> str: ...

    def bulk_importer(self) -> BulkSink: ...


@runtime_checkable
class AutoChurnReporting(Protocol):
    """A destination whose data source has its own automatic churn setting (read only)."""

    def auto_churn_setting(self, name: str) -> Mapping[str, Any] | None: ...


@runtime_checkable
class CustomerCreating(Protocol):
    """A destination that can create a customer never pushed in one request (instead of a
    lookup and a create)."""

    def create_customer(self, customer: Customer) -> str: ...


@runtime_checkable
class CustomerSinceReading(Protocol):
    """A store that can tell when each customer starts to count (``customer-since``: the
    customer's own creation date when it has one); metrics, reconcile and explain then use
    that instead of a customer's first invoice."""

    def customer_since(self) -> dict[str, datetime | None]: ...


def customer_since_of(store: object) -> Mapping[str, datetime | None]:
    """``store.customer_since()`` when it can tell (``CustomerSinceReading``), else nothing."""
    return store.customer_since() if isinstance(store, CustomerSinceReading) else {}


@runtime_checkable
class CommitBatching(Protocol):
    """A destination that can hold its writes in one transaction and make them durable on
    request (the local store): a sync holds them and has them committed right before each
    commit of the state file, so the state never records what the destination could lose."""

    def hold_commits(self, hold: bool = True) -> None: ...

    def commit_held(self) -> None: ...
