"""A leaner dry run over a fresh state: customer by customer as the invoices are read.

The ordinary path (``saasync.engine``) stages everything read into the mirror (a scratch
overlay in a dry run), then loads each customer's history back from it. When the state's
mirror holds nothing of the connection yet (a first sync or backfill previewed), every
customer's history is exactly what this run reads; and when the source lists its invoices
grouped by customer in ascending order (as the files connector reads a generated or sorted
export), each customer is complete as soon as the next one's first invoice arrives. Then
customers, subscriptions and plans are staged as before (they come first and are few),
but invoices are held in memory for the customer in hand only, and that customer is built
and diffed at once: no JSON round trip of every invoice through the overlay.

The order customers are built in is the engine's (ascending id, customers with no
invoice in between), so the report is the same, list order included. When the read turns
out not to be grouped (an invoice of a customer already built, or of one that sorts
before the one in hand, a record other than an invoice after the first invoice, a bad row
whose customer cannot be told), the attempt is dropped and the engine runs its ordinary
path from the start: only connectors that can read their source again cheaply
(``rereadable``) are tried.

``tuned_gc`` keeps the collector away from the long-lived start-up objects (``gc.freeze``)
and runs it less often during a run, dry or real: the run allocates millions of
short-lived objects that never form cycles.
"""

from __future__ import annotations

import gc
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from saasync.connector import Quarantined, ReadWindow, partition_of, record_timestamp
from saasync.mirror import Mirror, ReadSet
from saasync.models import Invoice, Plan, SourceRecord
from saasync.rules.builder import CustomerHistory
from saasync.rules.reconcile import raw_customer
from saasync.run_report import RunReport
from saasync.state import StateStore

if TYPE_CHECKING:
    from saasync.engine import Engine

log = structlog.get_logger("saasync.lean")
GC_THRESHOLD = (50_000, 50, 100)  # first generation every 50k allocations instead of 700
CHUNK = 2000  # customers, subscriptions and plans staged at a time


@dataclass
class _GcTuning:
    """Runs in threads of one process (a Celery thread pool) share one collector: the first
    run in tunes it, the last one out restores what was there before the first."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: int = 0
    # mended in place: replacing it would free a tracked object, under a foreign freeze
    before: list[int] = field(default_factory=lambda: [700, 10, 10])
    froze: bool = False


_TUNING = _GcTuning()


@contextmanager
def tuned_gc(threshold: tuple[int, int, int] = GC_THRESHOLD) -> Iterator[None]:
    """Freeze what exists (imports, settings) out of the collector's sight and collect less
    often; both restored on the way out. A freeze someone else made is left alone."""
    with _TUNING.lock:
        if _TUNING.runs == 0:
            _TUNING.before[:] = gc.get_threshold()
            _TUNING.froze = gc.get_freeze_count() == 0
            if _TUNING.froze:
                gc.freeze()
            gc.set_threshold(*threshold)
        _TUNING.runs += 1
    try:
        yield
    finally:
        with _TUNING.lock:
            _TUNING.runs -= 1
            if _TUNING.runs == 0:
                gc.set_threshold(*_TUNING.before)
                if _TUNING.froze:
                    gc.unfreeze()


class NotGrouped(Exception):
    """The read is not grouped by customer in ascending order: use the ordinary path."""


@dataclass
class StreamMirror(Mirror):
    """The mirror, with the invoices of the customer in hand held in memory, not staged."""

    pending: list[Invoice] = field(default_factory=list)  # of the customer in hand
    holder: str | None = None  # that customer

    def hold(self, invoice: Invoice) -> None:
        self.holder = invoice.customer_external_id
        self.pending.append(invoice)

    def history(self, customer_id: str) -> CustomerHistory:
        staged = super().history(customer_id)
        if customer_id != self.holder or not self.pending:
            return staged  # a customer with no invoice, built before the one in hand
        held, self.pending = self.pending, []
        return staged.merge(held)


class CustomerReads(ReadSet):
    """The read set of a one-pass run: what was read before the invoices (customers,
    subscriptions, plans: few) as in ``ReadSet``, and the invoice ids of the customer in
    hand only, as a plain set cleared after it is built. Only that customer's records are
    asked about while it is built, so nothing is lost, and the invoice ids of a million-row
    export are never all held at once."""

    def __init__(self) -> None:
        super().__init__()
        self.invoices: set[str] = set()

    def add(self, kind: str, external_id: str, customer: str | None) -> None:
        if kind == "invoice":
            self.invoices.add(external_id)
        else:
            super().add(kind, external_id, customer)

    def __contains__(self, key: tuple[str, str]) -> bool:
        if key[0] == "invoice":
            return key[1] in self.invoices
        return super().__contains__(key)

    def next_customer(self) -> None:
        self.invoices = set()


def applies(engine: Engine, report: RunReport) -> bool:
    """A dry run over a state that knows nothing of the connection, of a source that can be
    read again should the attempt be dropped."""
    state, name = engine.state, engine.connection
    if not (engine.dry_run and engine.baseline is None and not report.source_unchanged
            and getattr(engine.connector, "rereadable", False)):
        return False
    keys = state.mirror_keys(name)
    try:
        fresh = next(keys, None) is None
    finally:
        _close(keys)
    return fresh and not state.dirty_customers(name)


def _close(items: object) -> None:
    """Close a generator left part way (its open files, its database cursor)."""
    close = getattr(items, "close", None)
    if callable(close):
        close()


def stream_fresh(engine: Engine, window: ReadWindow,
                 report: RunReport) -> tuple[RunReport, datetime | None] | None:
    """The run's report and latest record time when the lean path applies and the read was
    grouped; None when the engine should take its ordinary path (with ``report``)."""
    if not applies(engine, report):
        return None
    attempt = RunReport(report.connection, report.mode, report.dry_run,
                        window=dict(report.window), cursor_before=report.cursor_before)
    engine._start(attempt)
    try:
        with (tempfile.TemporaryDirectory(prefix="saasync-dry-run-") as scratch,
              StateStore(Path(scratch) / "overlay.db") as overlay):
            mirror = StreamMirror(engine.state, engine.connection, overlay)
            max_seen = stream(engine, window, attempt, mirror)
    except NotGrouped:
        log.info("the source is not grouped by customer: reading it again, staged",
                 connection=engine.connection)
        engine._start(report)
        return None
    return attempt, max_seen


@dataclass
class _Stream:
    """One attempt: the customers still to build, in order, and the one in hand."""

    engine: Engine
    report: RunReport
    mirror: StreamMirror
    read: CustomerReads = field(default_factory=CustomerReads)
    waiting: list[str] = field(default_factory=list)  # customers read so far, descending
    built: str = ""  # the last customer built ("" before the first)
    current: str | None = None  # the customer whose invoices are being read
    plans: dict[str, Plan] = field(default_factory=dict)
    pushed_plans: set[str] = field(default_factory=set)
    started: bool = False  # the first invoice was read: customers are being built
    done: int = 0

    def _mine(self, customer: str) -> bool:
        part = self.engine.partition
        return part is None or partition_of(customer, part[1]) == part[0]

    def begin(self) -> None:
        """At the first invoice: everything else was read; plans go first, as in the engine."""
        engine, report = self.engine, self.report
        self.waiting = sorted((c for c in self.read.customers if self._mine(c)), reverse=True)
        engine._book.load_review()
        engine._sender.start()
        self.plans = self.mirror.plans()
        for plan in self.read.plans.values():
            if engine.partition is None or engine.partition[0] == 0:
                engine._planner.sync_plan(plan, report, self.pushed_plans)
            else:
                self.pushed_plans.add(plan.external_id)
        report.seal()
        self.started = True

    def build(self, customer: str) -> None:
        engine = self.engine
        if engine.should_stop():
            self.report.status = "stopped"
            raise _Stopped
        engine._build_and_send(customer, self.mirror, self.plans, self.pushed_plans,
                               self.read, self.report)
        self.built = customer
        self.done += 1
        if engine.progress is not None and self.done % CHUNK == 0:
            engine.progress(engine._sender.stage, self.done, None)

    def build_up_to(self, customer: str | None) -> None:
        """Build every waiting customer before ``customer`` (all of them when None)."""
        waiting = self.waiting
        while waiting and (customer is None or waiting[-1] < customer):
            self.build(waiting.pop())
        if waiting and waiting[-1] == customer:
            waiting.pop()

    def invoice_of(self, customer: str | None) -> None:
        """An invoice (or a bad invoice row) of ``customer`` was read: is it in order?"""
        if customer is None or not self._mine(customer):
            raise NotGrouped
        if customer == self.current:
            return
        if customer <= self.built or (self.current is not None and customer < self.current):
            raise NotGrouped
        if self.current is not None:
            self.build_up_to(self.current)
            self.build(self.current)
            self.read.next_customer()
        self.current = customer


class _Stopped(Exception):
    """``should_stop`` said so between two customers."""


def stream(engine: Engine, window: ReadWindow, report: RunReport,
           mirror: StreamMirror) -> datetime | None:
    """Read and build in one pass; returns the latest record time seen. Raises
    ``NotGrouped`` when the read is not in the order this needs."""
    run = _Stream(engine, report, mirror)
    book, read = engine._book, run.read
    max_seen: datetime | None = None
    chunk: list[SourceRecord] = []
    held: list[Quarantined] = []
    items = engine.connector.read(window)
    try:
        for item in items:
            if isinstance(item, Quarantined):
                if run.started:
                    run.invoice_of(raw_customer(item.raw) if item.kind == "invoice" else None)
                book.quarantine_read(item)
                held.append(item)
                continue
            stamp = record_timestamp(item)
            if stamp is not None and (max_seen is None or stamp > max_seen):
                max_seen = stamp
            if not isinstance(item, Invoice):
                if run.started:
                    raise NotGrouped
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    mirror.stage(chunk, read)
                    chunk = []
                continue
            if not run.started:
                mirror.stage(chunk, read)
                chunk = []
                run.begin()
            customer = item.customer_external_id
            run.invoice_of(customer)
            read.add("invoice", item.external_id, customer)
            mirror.hold(item)
        if not run.started:
            mirror.stage(chunk, read)
            run.begin()
        if run.current is not None:
            run.build_up_to(run.current)
            run.build(run.current)
        run.build_up_to(None)
    except _Stopped:
        pass
    finally:
        _close(items)  # read to the end, or left at the first invoice out of order
    for item in held:
        book.queue_read(item)
    engine._sender.finish()
    book.note_review(read)
    report.seal()
    book.resolve_review()
    report.lead_with([(item.kind, item.key.split(":", 1)[1]) for item in held])
    return max_seen
