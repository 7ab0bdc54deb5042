"""One run of one connection: read → stage → build → plan, then hand each change to a sender.

The order is what makes runs safe to repeat and to crash: the pushed map is written
after each accepted change, a customer stays marked dirty until all its changes were
accepted, and the cursor moves last, only when the whole run went through. A dry run
follows the same path, keeps every would-be write in memory, and stops before sending.
Planning one customer's changes is ``saasync.planning``; sending them (live, in bulk,
or not at all in a dry run) is ``saasync.sending``; what the run writes down about each
record is ``saasync.run_book``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from saasync.connector import (
    Checkpointing,
    Connector,
    Fingerprinting,
    Quarantined,
    ReadWindow,
    partition_of,
    record_timestamp,
)
from saasync.destinations.base import Baseline, BulkSink, Destination
from saasync.errors import AuthError, BadRecordError
from saasync.inflight import settle_in_flight
from saasync.lean import stream_fresh, tuned_gc
from saasync.mirror import (  # noqa: F401  (re-exported: engine users import them here)
    KIND_OF,
    MODEL_OF,
    VOIDED_HASH,
    KindView,
    KnownRecords,
    Mirror,
    ReadSet,
    content_hash,
    customer_of,
    destination_doc,
)
from saasync.models import Plan, SourceRecord
from saasync.planning import Planner
from saasync.reasons import Reason
from saasync.rules.builder import RuleSettings, build_customer
from saasync.run_book import RunBook
from saasync.run_report import RunReport
from saasync.sending import BulkSender, DryRunSender, LiveSender, ProgressFn, Sender
from saasync.state import StateStore

log = structlog.get_logger("saasync.engine")
READ_CHUNK = 2000  # records staged into the mirror at a time
FINGERPRINT = "fingerprint"  # the cursor stream holding the source's fingerprint



class Engine:
    """Runs one connection. ``destination`` is None in a dry run: nothing is ever sent."""

    def __init__(
        self,
        connection: str,
        connector: Connector,
        state: StateStore,
        destination: Destination | None,
        *,
        rules: RuleSettings,
        data_source: str,
        lookback: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        baseline: Baseline | None = None,
        bulk: BulkSink | None = None,
        bulk_customers: int = 500,
        partition: tuple[int, int] | None = None,
    ) -> None:
        self.connection = connection
        self.connector = connector
        self.state = state
        self.destination = destination
        self.rules = rules
        self.data_source = data_source
        self.lookback = lookback
        self.clock = clock
        self.progress = progress
        self.should_stop = should_stop
        self.baseline = baseline  # dry run: what the destination really holds, instead of the pushed map
        self.bulk = bulk  # bulk import: changes are buffered and accepted at each flush
        self.bulk_customers = bulk_customers
        # (index, count): this engine is one of ``count`` dry-run processes and handles the
        # customers with partition_of(customer, count) == index (see saasync.parallel)
        self.partition = partition if partition and partition[1] > 1 else None
        self._now: datetime | None = None  # the run's "now", for the time-based rules
        # optional abilities, asked once
        self._checkpointing = connector if isinstance(connector, Checkpointing) else None
        self._fingerprinting = connector if isinstance(connector, Fingerprinting) else None
        # the run's bookkeeping, sender and planner, made anew by each run (``_start``)
        self._start(RunReport(connection, "sync", self.dry_run))

    @property
    def dry_run(self) -> bool:
        return self.destination is None

    def _start(self, report: RunReport) -> None:
        """A run's own book, sender (dry run, bulk or live) and planner."""
        book = RunBook(self.state, self.connection, report, writes=not self.dry_run)
        sender: Sender
        if self.destination is None:
            sender = DryRunSender(book)
        elif self.bulk is not None:
            sender = BulkSender(self.destination, self.state, self.connection, book, self.bulk,
                                data_source=self.data_source, rules=self.rules,
                                batch_customers=self.bulk_customers, progress=self.progress)
        else:
            sender = LiveSender(self.destination, self.state, self.connection, book,
                                data_source=self.data_source, rules=self.rules)
        self._book, self._sender = book, sender
        self._planner = Planner(self.state, self.connection, book, sender, self.baseline)

    # -- what to read ----------------------------------------------------------------------
    def window_for(self, mode: str, since: datetime | None, until: datetime | None) -> ReadWindow:
        if mode == "backfill":
            return ReadWindow("backfill", since, until)
        cursor = self.state.get_cursor(self.connection)
        start = datetime.fromisoformat(cursor) - self.lookback if cursor else None
        waiting = self._mapped_since()
        if start is not None and waiting is not None:
            start = min(start, waiting)
        known = KnownRecords(self.state, self.connection) if start is not None else None
        return ReadWindow("incremental", start, None, known=known)

    def _checkpoint(self) -> datetime | None:
        """A connector that knows it has read everything up to a time (e.g. an events feed
        read to the end) says so, so a quiet account's cursor still moves forward."""
        value = self._checkpointing.checkpoint() if self._checkpointing is not None else None
        return value if isinstance(value, datetime) else None

    def _fingerprint(self) -> str | None:
        """What the source looks like now, if the connector can tell cheaply (a hash of export
        files); with the rule settings, since a changed setting deserves a real read."""
        value = (self._fingerprinting.fingerprint() if self._fingerprinting is not None
                 else None)
        return f"{value}|{self.rules!r}" if isinstance(value, str) else None

    def _source_unchanged(self, mode: str, fingerprint: str | None) -> bool:
        """An incremental run may skip reading when the source is exactly as it was at the
        end of the last completed sync (which read it all), and no mapping asks for a
        re-read. Dirty customers are still processed."""
        return (mode == "sync" and fingerprint is not None
                and self.state.get_cursor(self.connection) is not None
                and self.state.get_cursor(self.connection, FINGERPRINT) == fingerprint
                and self._mapped_since() is None)

    def _mapped_since(self) -> datetime | None:
        """The oldest invoice held for an item the user has mapped since: re-read from there."""
        mapped = self.state.item_mappings(self.connection)
        dates = [
            parsed
            for item in self.state.review_items(self.connection)
            if item.reason == Reason.UNMAPPED_ITEM.value and item.raw
            and item.raw.get("item") in mapped
            and (parsed := _parse_iso(item.raw.get("issued_at"))) is not None
        ]
        return min(dates) if dates else None

    # -- the run ---------------------------------------------------------------------------
    def run(
        self, mode: str = "sync", since: datetime | None = None, until: datetime | None = None
    ) -> RunReport:
        with tuned_gc():  # saasync.lean
            return self._run(mode, since, until)

    def _run(self, mode: str, since: datetime | None, until: datetime | None) -> RunReport:
        started = time.monotonic()
        run_start = self.clock()
        self._now = run_start
        window = self.window_for(mode, since, until)
        report = RunReport(
            self.connection, mode, self.dry_run,
            window={"mode": window.mode, "since": _iso(window.since), "until": _iso(window.until)},
            cursor_before=self.state.get_cursor(self.connection),
        )
        self._start(report)
        run_id = None if self.dry_run else self.state.start_run(self.connection, mode)
        fingerprint = self._fingerprint() if mode == "sync" else None  # before reading
        report.source_unchanged = self._source_unchanged(mode, fingerprint)
        try:
            if self.destination is not None:  # before anything is sent again
                report.settled_imports = settle_in_flight(self.state, self.connection,
                                                          self.destination)
            streamed = stream_fresh(self, window, report)  # a fresh dry run: saasync.lean
            if streamed is not None:
                settled = report.settled_imports
                report, max_seen = streamed
                report.settled_imports = settled
            else:
                with self._mirror() as mirror:
                    read, max_seen = self._read(window, report, mirror)
                    self._process(read, mirror, report)
            self._commit(mode, report, max_seen, run_start, fingerprint)
            if report.status == "ok" and (report.failed_ops or report.conflicts):
                report.status = "partial"
        except AuthError as exc:
            report.status, report.error = "failed", str(exc)
            raise
        except Exception as exc:
            report.status, report.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            report.duration_s = time.monotonic() - started
            if run_id is not None:
                self.state.finish_run(run_id, report.status, report.as_dict(detail=False))
            event = "run finished" if self.partition is None else "partition finished"
            where = {} if self.partition is None else {"partition": "{}/{}".format(*self.partition)}
            log.info(event, connection=self.connection, mode=mode, dry_run=self.dry_run,
                     status=report.status, **where, **report.counts())
        return report

    def _commit(self, mode: str, report: RunReport, max_seen: datetime | None,
                run_start: datetime, fingerprint: str | None) -> None:
        """The cursor moves last, never past the run's start, and only in a sync that went
        to the end; the source's fingerprint is kept beside it."""
        if report.status == "stopped":
            log.warning("run stopped before the end: the cursor stays; the next run goes on",
                        connection=self.connection)
        elif mode == "sync" and not self.dry_run and (
            max_seen := _later(max_seen, self._checkpoint())) is not None:
            cursor = min(max_seen, run_start).isoformat()
            if report.cursor_before is None or cursor > report.cursor_before:
                self.state.set_cursor(self.connection, cursor)
        if (mode == "sync" and not self.dry_run and report.status != "stopped"
                and fingerprint is not None):
            self.state.set_cursor(self.connection, fingerprint, FINGERPRINT)
        report.cursor_after = self.state.get_cursor(self.connection) if not self.dry_run else report.cursor_before

    # -- read and stage --------------------------------------------------------------------
    @contextmanager
    def _mirror(self) -> Iterator[Mirror]:
        """The run's mirror; a dry run lays its changes over the state in a scratch file."""
        if not self.dry_run:
            yield Mirror(self.state, self.connection)
            return
        with (tempfile.TemporaryDirectory(prefix="saasync-dry-run-") as scratch,
              StateStore(Path(scratch) / "overlay.db") as overlay):
            yield Mirror(self.state, self.connection, overlay)

    def _read(self, window: ReadWindow, report: RunReport,
              mirror: Mirror) -> tuple[ReadSet, datetime | None]:
        """Stream the source into the mirror in chunks: memory stays flat however much is read.

        The read is one transaction: the mirror, the dirty marks and the review queue change
        only once the connector has read to the end. A connector that raises half way (an
        export rewritten while it was read) leaves the state as it was before the run."""
        read = ReadSet()
        max_seen: datetime | None = None
        chunk: list[SourceRecord] = []
        dirty: set[str] = set()
        if report.source_unchanged and (self.partition is None or self.partition[0] == 0):
            # said once per run: the other partitions of a parallel dry run see the same
            log.info("source unchanged since the last sync: nothing to read",
                     connection=self.connection)
        items = () if report.source_unchanged else self.connector.read(window)
        fresh = mirror.is_empty()  # a first sync: nothing to compare what is read with
        held: list[Quarantined] = []
        seen = 0
        try:
            for item in items:
                seen += 1
                if self.progress is not None and seen % READ_CHUNK == 0:
                    self.progress("reading", seen, None)
                if isinstance(item, Quarantined):
                    self._book.quarantine_read(item)
                    held.append(item)
                    continue
                chunk.append(item)
                max_seen = _later(max_seen, record_timestamp(item))
                if len(chunk) >= READ_CHUNK:
                    dirty.update(mirror.stage(chunk, read, fresh=fresh))
                    chunk = []
            dirty.update(mirror.stage(chunk, read, fresh=fresh))
        except BaseException:
            if not self.dry_run:
                self.state.rollback()
            raise
        for item in held:
            self._book.queue_read(item)
        if self.progress is not None:
            self.progress("reading", seen, seen)
        if not self.dry_run:
            self.state.mark_dirty(self.connection, dirty)
            self.state.flush()
        report.seal()
        return read, max_seen

    # -- build and plan, customer by customer ----------------------------------------------
    def _process(self, read: ReadSet, mirror: Mirror, report: RunReport) -> None:
        if self._now is None:
            self._now = self.clock()
        touched = (read.customers | self.state.dirty_customers(self.connection)
                   | self.state.due_rechecks(self.connection, self._now))
        if self.partition is not None:
            index, count = self.partition
            touched = {c for c in touched if partition_of(c, count) == index}
        self._book.load_review()
        self._sender.start()
        plans = mirror.plans()
        pushed_plans: set[str] = set()
        for plan in read.plans.values():
            if self.partition is None or self.partition[0] == 0:
                self._planner.sync_plan(plan, report, pushed_plans)
            else:  # every partition reads the plans; partition 0 reports them
                pushed_plans.add(plan.external_id)
                self._own_plan(plan)
        report.seal()

        done = 0
        stage = self._sender.stage  # a real run pushes as it builds; a dry run only builds
        if self.progress is not None:
            self.progress(stage, done, len(touched))
        for customer_id in sorted(touched):
            if self.should_stop():
                report.status = "stopped"  # the customer in hand is finished; commit and leave
                break
            self._build_and_send(customer_id, mirror, plans, pushed_plans, read, report)
            done += 1
            if self.progress is not None:
                self.progress(stage, done, len(touched))
        self._sender.finish()
        self._book.note_review(read)
        report.seal()
        self._book.resolve_review()
        self.state.flush()

    def _own_plan(self, plan: Plan) -> None:
        """A real partition writes into a store of its own (``saasync.split``), which must
        hold the plans its invoices name; partition 0 sends and reports them, the merge
        keeps its copy. A plan the store refuses is refused in partition 0 as well."""
        if self.destination is None:
            return
        try:
            self.destination.upsert_plan(plan)
        except BadRecordError:
            pass

    def _build_and_send(self, customer_id: str, mirror: Mirror, plans: Mapping[str, Plan],
                        pushed_plans: set[str], read: ReadSet, report: RunReport) -> None:
        history = mirror.history(customer_id)
        changes = build_customer(history, plans, self.rules, self._now)
        for plan in changes.plans:
            if plan.external_id not in pushed_plans:
                self._planner.sync_plan(plan, report, pushed_plans, read=False)
        ok = self._planner.sync_customer(changes, read, report)
        if not self.dry_run:
            self.state.set_recheck(self.connection, customer_id, changes.recheck_at)
        self._planner.explain_unsent_subscriptions(history, changes, read, report)
        self._book.note_review(read)
        report.seal()
        self._sender.customer_done(customer_id, ok)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


__all__ = ["Engine", "ProgressFn"]
