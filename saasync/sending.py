"""Sending a run's changes: live, in bulk, or not at all (a dry run).

The engine plans each change (an ``Op`` and what it carries) and hands it to its sender;
the sender says whether the destination took it: True accepted, False refused (listed and
queued for review by the run book), None a dry run. What was accepted is recorded in the
pushed map at once (live) or when the bulk import settles (bulk), and a customer is marked
clean only once every change of it was accepted: a crash in between sends it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog

from saasync.destinations.base import (
    AutoChurnReporting,
    BulkSink,
    CustomerCreating,
    Destination,
)
from saasync.errors import BadRecordError, ConflictError
from saasync.mirror import KindView, content_hash
from saasync.reasons import Reason
from saasync.rules.builder import RuleSettings
from saasync.rules.changeset import CancellationMarker, OutInvoice
from saasync.run_book import RunBook
from saasync.run_report import Op
from saasync.state import StateStore

log = structlog.get_logger("saasync.engine")

# (stage, done, total): stage is reading | building (a dry run) | pushing | settling (a
# bulk import); total is None while unknown (records still being read)
ProgressFn = Callable[[str, int, int | None], None]


class Sender(Protocol):
    """Where the engine's planned changes go."""

    stage: str  # what the progress bar calls the building loop: pushing | building

    def start(self) -> None:
        """Before the first change: the data source exists (and is checked)."""
        ...

    def send(self, op: Op, payload: Any, *, hash_: str, read: bool) -> bool | None:
        """One change of a plan, customer, invoice (update, void) or cancellation."""
        ...

    def import_invoices(self, cid: str, creates: Sequence[OutInvoice], read_ids: KindView) -> bool:
        """New invoices of one customer (their ops are in the report already)."""
        ...

    def remember(self, marker: CancellationMarker) -> None:
        """The destination holds these cancellation dates (see ``StateStore.remember_cancellations``)."""
        ...

    def customer_done(self, customer_id: str, ok: bool) -> None: ...

    def finish(self) -> None: ...


class DryRunSender:
    """A dry run: every change is planned and reported; nothing is sent or written."""

    stage = "building"

    def __init__(self, book: RunBook) -> None:
        self.book = book

    def start(self) -> None:
        pass

    def send(self, op: Op, payload: Any, *, hash_: str, read: bool) -> bool | None:
        return None

    def import_invoices(self, cid: str, creates: Sequence[OutInvoice], read_ids: KindView) -> bool:
        for inv in creates:
            self.book.outcome("invoice", inv.external_id, None, inv.external_id in read_ids)
        return True

    def remember(self, marker: CancellationMarker) -> None:
        pass

    def customer_done(self, customer_id: str, ok: bool) -> None:
        pass

    def finish(self) -> None:
        pass


class LiveSender:
    """Each change is sent as it is planned; the pushed map follows each acceptance."""

    stage = "pushing"

    def __init__(self, destination: Destination, state: StateStore, connection: str,
                 book: RunBook, *, data_source: str, rules: RuleSettings) -> None:
        self.destination = destination
        self.state = state
        self.connection = connection
        self.book = book
        self.data_source = data_source
        self.rules = rules
        self._creator = destination if isinstance(destination, CustomerCreating) else None

    def start(self) -> None:
        self.destination.ensure_data_source(self.data_source)
        self._warn_double_churn()

    def send(self, op: Op, payload: Any, *, hash_: str, read: bool) -> bool | None:
        try:
            dest_id = self._call(op, payload)
        except (BadRecordError, ConflictError) as exc:
            self.book.refused(op, exc)
            return False
        self.state.record_pushed(self.connection, op.kind, op.external_id,
                                 dest_id if isinstance(dest_id, str) else None, hash_)
        self.book.accept(f"{op.kind}:{op.external_id}")
        if op.kind == "cancellation":
            self.remember(payload)
        return True

    def _call(self, op: Op, payload: Any) -> Any:
        destination = self.destination
        if op.kind == "plan":
            return destination.upsert_plan(payload)
        if op.kind == "customer":
            # a customer never pushed is created straight away where the destination allows
            # it (one request instead of a lookup and a create)
            if op.action == "create" and self._creator is not None:
                return self._creator.create_customer(payload)
            return destination.upsert_customer(payload)
        if op.kind == "invoice":
            if op.action == "void":
                return destination.void_invoice(payload)
            return destination.replace_invoice(payload)
        marker: CancellationMarker = payload
        return destination.set_cancellation_dates(marker.customer_external_id,
                                                  marker.subscription_external_id,
                                                  list(marker.cancellation_dates))

    def import_invoices(self, cid: str, creates: Sequence[OutInvoice], read_ids: KindView) -> bool:
        try:
            results = self.destination.import_invoices(cid, creates)
        except (BadRecordError, ConflictError) as exc:
            for inv in creates:
                self.book.refused(Op("invoice", inv.external_id, "create", cid), exc)
                self.book.outcome("invoice", inv.external_id, False, inv.external_id in read_ids)
            return False
        ok = True
        by_id = {inv.external_id: inv for inv in creates}
        for result in results:
            inv = by_id[result.external_id]
            read = inv.external_id in read_ids
            if result.error:
                ok = False
                error = ConflictError(result.error) if result.fields else BadRecordError(result.error)
                self.book.refused(Op("invoice", inv.external_id, "create", cid), error)
                self.book.outcome("invoice", inv.external_id, False, read)
            else:
                self.state.record_pushed(self.connection, "invoice", inv.external_id,
                                         result.destination_id, content_hash(inv.doc()))
                self.book.accept(f"invoice:{inv.external_id}")
                self.book.outcome("invoice", inv.external_id, True, read)
        return ok

    def remember(self, marker: CancellationMarker) -> None:
        """Cancellations that took effect are remembered once the destination holds them, so
        a reactivation the source reports later keeps them (the source often forgets)."""
        if marker.effective_dates:
            self.state.remember_cancellations(self.connection, marker.customer_external_id,
                                              marker.subscription_external_id,
                                              marker.effective_dates)

    def customer_done(self, customer_id: str, ok: bool) -> None:
        if ok:
            self.state.mark_clean(self.connection, customer_id)
            self.state.flush(every=0.25)

    def finish(self) -> None:
        pass

    def _warn_double_churn(self) -> None:
        """Automatic churn on both sides cancels the same subscriptions twice, at different
        dates: say so (the destination's setting is read where it has one)."""
        if self.rules.auto_churn_days is None:
            return
        try:
            setting = (self.destination.auto_churn_setting(self.data_source)
                       if isinstance(self.destination, AutoChurnReporting) else None)
        except (BadRecordError, ConflictError) as exc:  # a check only: never fails the run
            log.info("could not read the destination's automatic churn setting",
                     connection=self.connection, error=str(exc))
            return
        if isinstance(setting, Mapping) and setting.get("enabled"):
            log.warning(
                "automatic churn is on both here (auto_churn_days) and at the destination's data "
                "source (auto_churn_subscription_setting): subscriptions without invoices may be "
                "churned twice; turn one of them off",
                connection=self.connection, data_source=self.data_source,
                auto_churn_days=self.rules.auto_churn_days,
                destination_interval=setting.get("interval"))


# a buffered change: its op, the hash recorded once accepted, whether it was read this run
Pending = tuple[Op, str, bool]


class BulkSender(LiveSender):
    """A bulk import: new invoices, customers, plans and cancellations are buffered and
    settled together every ``batch_customers`` customers; invoice updates and voids go live.
    A buffered change counts as accepted until its flush says otherwise."""

    def __init__(self, destination: Destination, state: StateStore, connection: str,
                 book: RunBook, bulk: BulkSink, *, data_source: str, rules: RuleSettings,
                 batch_customers: int, progress: ProgressFn | None) -> None:
        super().__init__(destination, state, connection, book, data_source=data_source,
                         rules=rules)
        self.bulk = bulk
        self.batch_customers = batch_customers
        self.progress = progress
        self._pending: dict[tuple[str, str | None, str], Pending] = {}
        self._pending_markers: dict[tuple[str, str], CancellationMarker] = {}
        self._awaiting_clean: set[str] = set()
        self._failed_customers: set[str] = set()

    def send(self, op: Op, payload: Any, *, hash_: str, read: bool) -> bool | None:
        if op.kind not in ("customer", "plan", "cancellation"):
            return super().send(op, payload, hash_=hash_, read=read)
        if op.kind == "plan":
            self.bulk.add_plan(payload)
            self._pending[("plan", None, op.external_id)] = (op, hash_, read)
        elif op.kind == "customer":
            self.bulk.add_customer(payload)
            self._pending[("customer", None, op.external_id)] = (op, hash_, read)
        else:
            marker: CancellationMarker = payload
            self.bulk.add_cancellation(marker.customer_external_id, marker.subscription_external_id,
                                       list(marker.cancellation_dates))
            self._pending[("subscription", op.customer_external_id, op.external_id)] = (op, hash_, read)
            self._pending_markers[(marker.customer_external_id, op.external_id)] = marker
        return True  # provisionally: settled at the next flush

    def import_invoices(self, cid: str, creates: Sequence[OutInvoice], read_ids: KindView) -> bool:
        self.bulk.add_invoices(cid, creates)
        for inv in creates:
            self._pending[("invoice", None, inv.external_id)] = (
                Op("invoice", inv.external_id, "create", cid), content_hash(inv.doc()),
                inv.external_id in read_ids)
            self.book.outcome("invoice", inv.external_id, True, inv.external_id in read_ids)
        return True

    def customer_done(self, customer_id: str, ok: bool) -> None:
        self._awaiting_clean.add(customer_id)
        if len(self._awaiting_clean) >= self.batch_customers:
            self.flush()

    def finish(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Send what is buffered; record what the destination accepted, refuse the rest."""
        waiting = len(self._pending)
        if self.progress is not None:
            self.progress("settling", 0, waiting)
        for result in self.bulk.flush():
            cust = result.customer_external_id if result.kind == "subscription" else None
            entry = self._pending.pop((result.kind, cust, result.external_id), None)
            if entry is None:
                continue
            self._settle(entry, result.error, bool(result.conflict_fields))
        for entry in list(self._pending.values()):  # no word on it from a completed import: it went in
            self._settle(entry, None, False)
        self._pending.clear()
        self._pending_markers.clear()
        if self.progress is not None:
            self.progress("settling", waiting, waiting)
        for customer_id in self._awaiting_clean - self._failed_customers:
            self.state.mark_clean(self.connection, customer_id)
        self._awaiting_clean.clear()
        self._failed_customers.clear()
        self.state.flush()

    def _settle(self, entry: Pending, error: str | None, conflict: bool) -> None:
        op, hash_, read = entry
        kind = "subscription" if op.kind == "cancellation" else op.kind
        if error is None:
            self.state.record_pushed(self.connection, op.kind, op.external_id, None, hash_)
            self.book.accept(f"{op.kind}:{op.external_id}")
            marker = self._pending_markers.get((op.customer_external_id or "", op.external_id))
            if op.kind == "cancellation" and marker is not None:
                self.remember(marker)
            return
        self.book.refused(op, ConflictError(error) if conflict else BadRecordError(error))
        if read:
            reason = Reason.DESTINATION_CONFLICT if conflict else Reason.DESTINATION_REJECTED
            self.book.report.amend(kind, op.external_id, "pushed", "quarantined", reason.value)
        if op.customer_external_id:
            self._failed_customers.add(op.customer_external_id)
