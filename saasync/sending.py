"""Sending a run's changes: live, in bulk, or not at all (a dry run).

The engine plans each change (an ``Op`` and what it carries) and hands it to its sender;
the sender says whether the destination took it: True accepted, False refused (listed and
queued for review by the run book), None a dry run. What was accepted is recorded in the
pushed map at once (live) or when the bulk import settles (bulk), and a customer is marked
clean only once every change of it was accepted: a crash in between sends it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from saasync.destinations.base import (
    AutoChurnReporting,
    BulkOutcome,
    BulkSink,
    CommitBatching,
    CustomerCreating,
    Destination,
)
from saasync.errors import BadRecordError, ConfigError, ConflictError
from saasync.inflight import journal
from saasync.mirror import KindView, content_hash
from saasync.models import Customer, Plan
from saasync.reasons import Reason
from saasync.rules.builder import RuleSettings
from saasync.rules.changeset import CancellationMarker, OutInvoice
from saasync.run_book import RunBook
from saasync.run_report import Op
from saasync.state import StateStore

log = structlog.get_logger("saasync.engine")

# (stage, done, total): stage is reading | building (a dry run) | pushing | settling (a
# bulk import); total is None while unknown (records still being read)
ProgressFn = Callable[[str, int, int | None], None]  # (stage, done, total or None)


def held_commit_seconds() -> float:
    """Seconds between commits when the destination holds its writes (the local store):
    ``SAASYNC_COMMIT_SECONDS`` (default 1): what a crash can make a run send again."""
    text = os.environ.get("SAASYNC_COMMIT_SECONDS", "1")
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigError("SAASYNC_COMMIT_SECONDS: expected a number of seconds, "
                          f"got {text!r}") from None
    if not 0 <= seconds <= 3600:
        raise ConfigError(f"SAASYNC_COMMIT_SECONDS: expected 0 to 3600 seconds, got {text!r}")
    return seconds


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
        self._flush_every = 0.25  # seconds between the state's commits (see ``start``)

    def start(self) -> None:
        self.destination.ensure_data_source(self.data_source)
        self._warn_double_churn()
        if isinstance(self.destination, CommitBatching):
            # one destination commit per state commit, always the destination's first;
            # each costs both files' fsyncs: once a second bounds what a crash sends again
            self.destination.hold_commits()
            self.state.before_commit = self.destination.commit_held
            self._flush_every = held_commit_seconds()

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

    def import_invoices(self, cid: str, creates: Sequence[OutInvoice], read_ids: Container[str]) -> bool:
        try:
            results = self.destination.import_invoices(cid, creates)
        except (BadRecordError, ConflictError) as exc:
            for inv in creates:
                self.book.refused(Op("invoice", inv.external_id, "create", cid), exc)
                self.book.outcome("invoice", inv.external_id, False, inv.external_id in read_ids)
            return False
        ok = True
        by_id = {inv.external_id: inv for inv in creates}
        accepted: list[tuple[str, str | None, str]] = []
        for result in results:
            inv = by_id[result.external_id]
            read = inv.external_id in read_ids
            if result.error:
                ok = False
                error = ConflictError(result.error) if result.fields else BadRecordError(result.error)
                self.book.refused(Op("invoice", inv.external_id, "create", cid), error)
                self.book.outcome("invoice", inv.external_id, False, read)
            else:
                accepted.append((inv.external_id, result.destination_id, content_hash(inv.doc())))
                self.book.accept(f"invoice:{inv.external_id}")
                self.book.outcome("invoice", inv.external_id, True, read)
        self.state.record_pushed_many(self.connection, "invoice", accepted)
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
            self.state.flush(every=self._flush_every)

    def finish(self) -> None:
        if isinstance(self.destination, CommitBatching):
            self.destination.hold_commits(False)  # commits what is held
            self.state.before_commit = None

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


@dataclass
class ImportChoice:
    """How a run's changes go to a destination that can take them in bulk, and why: made by
    the composition root (``saasync.runner.import_choice``), shown in the run report.

    ``mode`` is ``bulk`` or ``per_customer``, or ``auto`` until ``decide`` settles it: it is
    asked with the number of objects counted so far (plans, customers and new invoices the
    run sends) and whether the run has planned everything, and answers the final choice,
    or None while it cannot tell yet."""

    mode: str
    reason: str
    objects: int = 0
    decide: Callable[[int, bool], ImportChoice | None] | None = field(
        default=None, repr=False, compare=False)

    def settle(self, objects: int, final: bool) -> bool:
        """Ask ``decide`` (an ``auto`` choice only); True once the mode is bulk or per_customer."""
        self.objects = objects
        if self.mode == "auto" and self.decide is not None:
            chosen = self.decide(objects, final)
            if chosen is not None:
                self.mode, self.reason = chosen.mode, chosen.reason
        return self.mode != "auto"


class AutoBulk:
    """``import_mode = "auto"`` on a run that may go in bulk: the bulk sink and the pending
    choice. The ``BulkSender`` holds the run's changes until the choice is made, then sends
    them through ``sink`` (bulk) or one by one (per customer)."""

    def __init__(self, sink: BulkSink, choice: ImportChoice) -> None:
        self.sink = sink
        self.choice = choice

    # a BulkSink, so that it travels where one does (``Engine(bulk=...)``)
    def add_plan(self, plan: Plan) -> None:
        self.sink.add_plan(plan)

    def add_customer(self, customer: Customer) -> None:
        self.sink.add_customer(customer)

    def add_invoices(self, customer_external_id: str, invoices: Sequence[OutInvoice]) -> None:
        self.sink.add_invoices(customer_external_id, invoices)

    def add_cancellation(self, customer_external_id: str, subscription_external_id: str,
                         dates: Sequence[datetime]) -> None:
        self.sink.add_cancellation(customer_external_id, subscription_external_id, dates)

    def flush(self) -> Sequence[BulkOutcome]:
        return self.sink.flush()


# a change held while an auto run has not chosen its mode yet:
# ("send", op, payload, hash, read) or ("invoices", customer, creates, read invoice ids)
Held = tuple[str, Any, Any, Any, Any]


class BulkSender(LiveSender):
    """A bulk import: new invoices, customers, plans and cancellations are buffered and
    settled together every ``batch_customers`` customers; invoice updates and voids go live.
    A buffered change counts as accepted until its flush says otherwise."""

    def __init__(self, destination: Destination, state: StateStore, connection: str,
                 book: RunBook, bulk: BulkSink, *, data_source: str, rules: RuleSettings,
                 batch_customers: int, progress: ProgressFn | None) -> None:
        super().__init__(destination, state, connection, book, data_source=data_source,
                         rules=rules)
        # import_mode auto: changes are held (``_held``) until the choice is made
        self.choice = bulk.choice if isinstance(bulk, AutoBulk) else None
        self.bulk = bulk.sink if isinstance(bulk, AutoBulk) else bulk
        self.batch_customers = batch_customers
        self.progress = progress
        self._pending: dict[tuple[str, str | None, str], Pending] = {}
        self._pending_markers: dict[tuple[str, str], CancellationMarker] = {}
        self._awaiting_clean: set[str] = set()
        self._failed_customers: set[str] = set()
        self._held: list[Held] | None = [] if self.choice is not None else None
        self._objects = 0  # plans, customers and new invoices held: what ``decide`` counts
        self._in_flight: list[str] = []  # imports accepted and kept in the state file
        watch = getattr(self.bulk, "watch", None)
        if callable(watch):  # saasync.inflight: an accepted import outlives a crash
            watch(self._accepted)

    def _accepted(self, import_id: str, data_source_uuid: str, found: dict[str, Any]) -> None:
        planned = {(kind, ext): entry[1] for (kind, _, ext), entry in self._pending.items()}
        journal(self.state, self.connection, lambda: planned)(import_id, data_source_uuid, found)
        self._in_flight.append(import_id)

    def send(self, op: Op, payload: Any, *, hash_: str, read: bool) -> bool | None:
        if op.kind not in ("customer", "plan", "cancellation") or self._live():
            return super().send(op, payload, hash_=hash_, read=read)
        if self._held is not None:
            self._held.append(("send", op, payload, hash_, read))
            self._objects += op.kind != "cancellation"
            self._choose(final=False)
            return True  # provisionally: settled when sent
        return self._buffer(op, payload, hash_, read)

    def _buffer(self, op: Op, payload: Any, hash_: str, read: bool) -> bool:
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

    def import_invoices(self, cid: str, creates: Sequence[OutInvoice], read_ids: Container[str]) -> bool:
        if self._live():
            return super().import_invoices(cid, creates, read_ids)
        if self._held is not None:
            read = frozenset(inv.external_id for inv in creates if inv.external_id in read_ids)
            self._held.append(("invoices", cid, list(creates), read, None))
            for inv in creates:
                self.book.outcome("invoice", inv.external_id, True, inv.external_id in read)
            self._objects += len(creates)
            self._choose(final=False)
            return True
        self.bulk.add_invoices(cid, creates)
        for inv in creates:
            self._pending[("invoice", None, inv.external_id)] = (
                Op("invoice", inv.external_id, "create", cid), content_hash(inv.doc()),
                inv.external_id in read_ids)
            self.book.outcome("invoice", inv.external_id, True, inv.external_id in read_ids)
        return True

    def customer_done(self, customer_id: str, ok: bool) -> None:
        self._awaiting_clean.add(customer_id)
        if len(self._awaiting_clean) >= self.batch_customers and self._held is None:
            self.flush()

    def finish(self) -> None:
        self._choose(final=True)
        self.flush()
        super().finish()

    # -- import_mode auto ----------------------------------------------------------------
    def _live(self) -> bool:
        """An auto run that chose per customer: what comes after the choice goes live."""
        return self._held is None and self.choice is not None and self.choice.mode == "per_customer"

    def _choose(self, *, final: bool) -> None:
        """An auto run: once the choice is made, send what was held the chosen way."""
        if self._held is None or self.choice is None:
            return
        if not self.choice.settle(self._objects, final):
            return
        held, self._held = self._held, None
        report = self.book.report
        report.import_mode, report.import_mode_reason = self.choice.mode, self.choice.reason
        log.info("import mode chosen", connection=self.connection, import_mode=self.choice.mode,
                 reason=self.choice.reason)
        for what, a, b, c, d in held:
            if self.choice.mode == "bulk":
                if what == "send":
                    self._buffer(a, b, c, d)
                else:
                    self.import_invoices(a, b, c)
            elif what == "send":
                self._send_now(a, b, c, d)
            elif not LiveSender.import_invoices(self, a, b, c):
                self._failed_customers.add(a)

    def _send_now(self, op: Op, payload: Any, hash_: str, read: bool) -> None:
        """A held change sent on its own, as a per-customer run sends it."""
        if LiveSender.send(self, op, payload, hash_=hash_, read=read) is False:
            conflict = any(c["external_id"] == op.external_id for c in self.book.report.conflicts)
            self._refused_later(op, read, conflict)

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
        for import_id in self._in_flight:  # settled: in the commit of its pushed entries
            self.state.forget_import(self.connection, import_id)
        self._in_flight.clear()
        self.state.flush()

    def _settle(self, entry: Pending, error: str | None, conflict: bool) -> None:
        op, hash_, read = entry
        if error is None:
            self.state.record_pushed(self.connection, op.kind, op.external_id, None, hash_)
            self.book.accept(f"{op.kind}:{op.external_id}")
            marker = self._pending_markers.get((op.customer_external_id or "", op.external_id))
            if op.kind == "cancellation" and marker is not None:
                self.remember(marker)
            return
        self.book.refused(op, ConflictError(error) if conflict else BadRecordError(error))
        self._refused_later(op, read, conflict)

    def _refused_later(self, op: Op, read: bool, conflict: bool) -> None:
        """A change counted as pushed when it was planned was refused: quarantined, and its
        customer stays dirty."""
        kind = "subscription" if op.kind == "cancellation" else op.kind
        if read:
            reason = Reason.DESTINATION_CONFLICT if conflict else Reason.DESTINATION_REJECTED
            self.book.report.amend(kind, op.external_id, "pushed", "quarantined", reason.value)
        if op.customer_external_id:
            self._failed_customers.add(op.customer_external_id)
