"""One run of one connection: read → mirror → build → plan → apply → commit cursor.

The order is what makes runs safe to repeat and to crash: the pushed map is written
after each accepted change, a customer stays marked dirty until all its changes were
accepted, and the cursor moves last, only when the whole run went through. A dry run
follows the same path, keeps every would-be write in memory, and stops before sending.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from saasync.destinations.base import (
    AutoChurnReporting,
    Baseline,
    BulkSink,
    CustomerCreating,
    Destination,
)
from saasync.errors import AuthError, BadRecordError, ConflictError
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
from saasync.models import Customer, Plan, SourceRecord
from saasync.reasons import Reason
from saasync.report import Op, RunReport
from saasync.rules.builder import CustomerHistory, RuleSettings, build_customer
from saasync.rules.changeset import CancellationMarker, CustomerChanges, OutInvoice
from saasync.rules.filter import Action
from saasync.rules.reconcile import missing_reason, quarantined_ids
from saasync.state import ReviewItem, StateStore, now_iso

log = structlog.get_logger("saasync.engine")
READ_CHUNK = 2000  # records staged into the mirror at a time
FINGERPRINT = "fingerprint"  # the cursor stream holding the source's fingerprint


# (stage, done, total): stage is reading | building (a dry run) | pushing | settling (a
# bulk import); total is None while unknown (records still being read)
ProgressFn = Callable[[str, int, int | None], None]


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
        self._pending: dict[tuple[str, str | None, str], tuple[Op, str, bool]] = {}
        self._awaiting_clean: set[str] = set()
        self._failed_customers: set[str] = set()
        self._accepted: set[str] = set()  # review keys of records the destination accepted
        self._review_keys: set[str] = set()
        # ids of quarantined records (and the subscriptions their raw lines name): a
        # subscription they leave out is QUARANTINED in the report, as in reconcile
        self._quarantined: set[str] = set()
        self._pending_markers: dict[tuple[str, str], CancellationMarker] = {}
        self._now: datetime | None = None  # the run's "now", for the time-based rules
        # optional abilities, asked once
        self._checkpointing = connector if isinstance(connector, Checkpointing) else None
        self._fingerprinting = connector if isinstance(connector, Fingerprinting) else None
        self._auto_churn = (destination if isinstance(destination, AutoChurnReporting)
                            else None)

    @property
    def dry_run(self) -> bool:
        return self.destination is None

    # -- the run ---------------------------------------------------------------------------
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

    def run(
        self, mode: str = "sync", since: datetime | None = None, until: datetime | None = None
    ) -> RunReport:
        started = time.monotonic()
        run_start = self.clock()
        self._now = run_start
        self._accepted = set()
        self._quarantined = set()
        window = self.window_for(mode, since, until)
        report = RunReport(
            self.connection, mode, self.dry_run,
            window={"mode": window.mode, "since": _iso(window.since), "until": _iso(window.until)},
            cursor_before=self.state.get_cursor(self.connection),
        )
        run_id = None if self.dry_run else self.state.start_run(self.connection, mode)
        fingerprint = self._fingerprint() if mode == "sync" else None  # before reading
        report.source_unchanged = self._source_unchanged(mode, fingerprint)
        try:
            with self._mirror() as mirror:
                read, max_seen = self._read(window, report, mirror)
                self._process(read, mirror, report)
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

    # -- read ------------------------------------------------------------------------------
    @contextmanager
    def _mirror(self) -> Iterator[Mirror]:
        """The run's mirror; a dry run lays its changes over the state in a scratch file."""
        if not self.dry_run:
            yield Mirror(self.state, self.connection)
            return
        with tempfile.TemporaryDirectory(prefix="saasync-dry-run-") as scratch:
            with StateStore(Path(scratch) / "overlay.db") as overlay:
                yield Mirror(self.state, self.connection, overlay)

    def _read(self, window: ReadWindow, report: RunReport,
              mirror: Mirror) -> tuple[ReadSet, datetime | None]:
        """Stream the source into the mirror in chunks: memory stays flat however much is read."""
        read = ReadSet()
        max_seen: datetime | None = None
        chunk: list[SourceRecord] = []
        dirty: set[str] = set()
        if report.source_unchanged and (self.partition is None or self.partition[0] == 0):
            # said once per run: the other partitions of a parallel dry run see the same
            log.info("source unchanged since the last sync: nothing to read",
                     connection=self.connection)
        items = () if report.source_unchanged else self.connector.read(window)
        # The read is one transaction: the mirror, the dirty marks and the review queue change
        # only once the connector has read to the end. A connector that raises half way (an
        # export rewritten while it was read) leaves the state as it was before the run.
        held: list[Quarantined] = []
        seen = 0
        try:
            for item in items:
                seen += 1
                if self.progress is not None and seen % READ_CHUNK == 0:
                    self.progress("reading", seen, None)
                if isinstance(item, Quarantined):
                    key = item.key
                    report.set(item.kind, key.split(":", 1)[1], "quarantined", item.reason.value,
                               item.message)
                    self._quarantined |= quarantined_ids([(item.external_id, item.raw)])
                    held.append(item)
                    continue
                chunk.append(item)
                stamp = record_timestamp(item)
                if stamp is not None and (max_seen is None or stamp > max_seen):
                    max_seen = stamp
                if len(chunk) >= READ_CHUNK:
                    dirty.update(mirror.stage(chunk, read))
                    chunk = []
            dirty.update(mirror.stage(chunk, read))
        except BaseException:
            if not self.dry_run:
                self.state.rollback()
            raise
        for item in held:
            self._queue(item.kind, item.external_id, _customer_of(item), item.reason.value,
                        item.message, field=item.field, location=item.location, raw=item.raw,
                        key=item.key)
        if self.progress is not None:
            self.progress("reading", seen, seen)
        if not self.dry_run:
            self.state.mark_dirty(self.connection, dirty)
            self.state.flush()
        report.seal()
        return read, max_seen

    def _queue(self, kind: str, external_id: str | None, customer: str | None, reason: str,
               message: str, *, field: str | None = None, location: str | None = None,
               raw: Mapping[str, Any] | None = None, key: str | None = None) -> None:
        if self.dry_run:
            return
        stamp = now_iso()
        self.state.upsert_review(self.connection, ReviewItem(
            key=key or f"{kind}:{external_id}", kind=kind, external_id=external_id,
            customer_external_id=customer, reason=reason, field=field, message=message,
            location=location, raw=dict(raw) if raw is not None else None,
            first_seen=stamp, last_seen=stamp,
        ))

    # -- build, plan, apply ----------------------------------------------------------------
    def _process(self, read: ReadSet, mirror: Mirror, report: RunReport) -> None:
        if self._now is None:
            self._now = self.clock()
        touched = (read.customers | self.state.dirty_customers(self.connection)
                   | self.state.due_rechecks(self.connection, self._now))
        if self.partition is not None:
            index, count = self.partition
            touched = {c for c in touched if partition_of(c, count) == index}
        queued = self.state.review_items(self.connection)
        self._review_keys = {item.key for item in queued} if not self.dry_run else set()
        self._quarantined |= quarantined_ids((item.external_id, item.raw) for item in queued)
        if self.destination is not None:
            self.destination.ensure_data_source(self.data_source)
            self._warn_double_churn()
        plans = mirror.plans()
        pushed_plans: set[str] = set()
        for plan in read.plans.values():
            if self.partition is None or self.partition[0] == 0:
                self._sync_plan(plan, report, pushed_plans)
            else:  # every partition reads the plans; partition 0 reports them
                pushed_plans.add(plan.external_id)
        report.seal()

        done = 0
        stage = "building" if self.dry_run else "pushing"  # a real run pushes as it builds
        if self.progress is not None:
            self.progress(stage, done, len(touched))
        for customer_id in sorted(touched):
            if self.should_stop():
                report.status = "stopped"  # the customer in hand is finished; commit and leave
                break
            history = mirror.history(customer_id)
            changes = build_customer(history, plans, self.rules, self._now)
            for plan in changes.plans:
                if plan.external_id not in pushed_plans:
                    self._sync_plan(plan, report, pushed_plans, read=False)
            ok = self._sync_customer(changes, read, report)
            if not self.dry_run:
                self.state.set_recheck(self.connection, customer_id, changes.recheck_at)
            self._explain_unsent_subscriptions(history, changes, read, report)
            self._note_review(read, report)
            report.seal()
            if self.bulk is not None and not self.dry_run:
                self._awaiting_clean.add(customer_id)
                if len(self._awaiting_clean) >= self.bulk_customers:
                    self._flush_bulk(report)
            elif ok and not self.dry_run:
                self.state.mark_clean(self.connection, customer_id)
                self.state.flush(every=0.25)
            done += 1
            if self.progress is not None:
                self.progress(stage, done, len(touched))
        if self.bulk is not None and not self.dry_run:
            self._flush_bulk(report)
        self._note_review(read, report)
        report.seal()
        self._resolve_review()
        self.state.flush()

    # -- bulk mode -------------------------------------------------------------------------
    def _buffer(self, op: Op, hash_: str, read: bool, payload: Any) -> None:
        assert self.bulk is not None
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

    def _flush_bulk(self, report: RunReport) -> None:
        """Send what is buffered; record what the destination accepted, refuse the rest."""
        assert self.bulk is not None
        waiting = len(self._pending)
        if self.progress is not None:
            self.progress("settling", 0, waiting)
        for result in self.bulk.flush():
            cust = result.customer_external_id if result.kind == "subscription" else None
            entry = self._pending.pop((result.kind, cust, result.external_id), None)
            if entry is None:
                continue
            self._settle(entry, report, result.error, bool(result.conflict_fields))
        for entry in list(self._pending.values()):  # no word on it from a completed import: it went in
            self._settle(entry, report, None, False)
        self._pending.clear()
        self._pending_markers.clear()
        if self.progress is not None:
            self.progress("settling", waiting, waiting)
        for customer_id in self._awaiting_clean - self._failed_customers:
            self.state.mark_clean(self.connection, customer_id)
        self._awaiting_clean.clear()
        self._failed_customers.clear()
        self.state.flush()

    def _settle(self, entry: tuple[Op, str, bool], report: RunReport, error: str | None,
                conflict: bool) -> None:
        op, hash_, read = entry
        kind = "subscription" if op.kind == "cancellation" else op.kind
        if error is None:
            self.state.record_pushed(self.connection, op.kind, op.external_id, None, hash_)
            self._accept(f"{op.kind}:{op.external_id}")
            marker = self._pending_markers.get((op.customer_external_id or "", op.external_id))
            if op.kind == "cancellation" and marker is not None:
                self._remember(marker)
            return
        self._refused(report, op, ConflictError(error) if conflict else BadRecordError(error))
        if read:
            reason = Reason.DESTINATION_CONFLICT if conflict else Reason.DESTINATION_REJECTED
            report.amend(kind, op.external_id, "pushed", "quarantined", reason.value)
        if op.customer_external_id:
            self._failed_customers.add(op.customer_external_id)

    def _sync_plan(self, plan: Plan, report: RunReport, seen: set[str], read: bool = True) -> None:
        seen.add(plan.external_id)
        action = self._diff("plan", plan.external_id, lambda: destination_doc(plan), plan)
        if action is None:
            if read:
                report.set("plan", plan.external_id, "unchanged")
            return
        op = Op("plan", plan.external_id, action)
        accepted = self._apply(op, lambda d: d.upsert_plan(plan), report,
                               hash_=content_hash(destination_doc(plan)), payload=plan)
        if read or accepted:
            self._outcome(report, "plan", plan.external_id, accepted, read)

    def _diff(self, kind: str, external_id: str, doc: Callable[[], Any], record: Any = None,
              known: Mapping[str, tuple[str | None, str]] | None = None) -> str | None:
        """create, update or None (unchanged). ``doc`` is built only when there is something
        to compare it with; ``known`` holds the pushed entries of the customer in hand."""
        if self.baseline is not None and record is not None:
            fields = self.baseline.diff(record)
            return "create" if fields is None else ("update" if fields else None)
        pushed = (known.get(external_id) if known is not None
                  else self.state.pushed(self.connection, kind, external_id))
        if pushed is None:
            return "create"
        return None if pushed[1] == content_hash(doc()) else "update"

    def _apply(self, op: Op, call: Callable[[Destination], Any], report: RunReport,
               *, hash_: str, read: bool = True, payload: Any = None) -> bool | None:
        """Send one change; True accepted, False refused (quarantined), None dry run."""
        report.add_op(op)
        if not read:
            report.re_evaluated_ops += 1
        if self.destination is None:
            return None
        if self.bulk is not None and op.kind in ("customer", "plan", "cancellation"):
            self._buffer(op, hash_, read, payload)
            return True  # provisionally: settled at the next flush
        try:
            dest_id = call(self.destination)
        except (BadRecordError, ConflictError) as exc:
            self._refused(report, op, exc)
            return False
        self.state.record_pushed(self.connection, op.kind, op.external_id,
                                 dest_id if isinstance(dest_id, str) else None, hash_)
        self._accept(f"{op.kind}:{op.external_id}")
        return True

    def _accept(self, key: str) -> None:
        if key in self._review_keys:  # only what the review queue holds needs remembering
            self._accepted.add(key)

    def _refused(self, report: RunReport, op: Op, exc: Exception) -> None:
        """The destination refused one change: listed in the report and queued for review."""
        conflict = isinstance(exc, ConflictError)
        reason = Reason.DESTINATION_CONFLICT if conflict else Reason.DESTINATION_REJECTED
        entry = {**op.as_dict(), "error": str(exc)}
        (report.conflicts if conflict else report.failed_ops).append(entry)
        self._queue(op.kind, op.external_id, op.customer_external_id, reason.value, str(exc))

    def _outcome(self, report: RunReport, kind: str, external_id: str, accepted: bool | None,
                 read: bool, reason: str | None = None) -> None:
        if not read:
            return
        if accepted is False:
            conflicted = any(c["external_id"] == external_id for c in report.conflicts)
            reason = Reason.DESTINATION_CONFLICT if conflicted else Reason.DESTINATION_REJECTED
            report.set(kind, external_id, "quarantined", reason.value)
        else:
            report.set(kind, external_id, "pushed", reason)

    def _sync_customer(self, changes: CustomerChanges, records: ReadSet, report: RunReport) -> bool:
        cid = changes.customer_external_id
        all_ok = True
        for q in changes.quarantined:
            if (q.kind, q.external_id) in records:
                report.set(q.kind, q.external_id, "quarantined", q.reason.value, q.detail)
            self._queue(q.kind, q.external_id, cid, q.reason.value, q.detail)
        if changes.customer is not None:
            customer = changes.customer
            action = self._diff("customer", cid, lambda: destination_doc(customer), customer)
            read = ("customer", cid) in records
            if action is None:
                if read:
                    report.set("customer", cid, "unchanged")
            else:
                accepted = self._apply(Op("customer", cid, action, cid),
                                       _customer_call(customer, action), report,
                                       hash_=content_hash(destination_doc(customer)), read=read,
                                       payload=customer)
                self._outcome(report, "customer", cid, accepted, read)
                if accepted is False:
                    return False
        all_ok &= self._sync_invoices(changes, records.of("invoice"), report)
        all_ok &= self._sync_cancellations(changes, records.of("subscription"), report)
        for skip in changes.skips:
            if skip.kind == "subscription":
                continue  # told with its missing reason (``_explain_unsent_subscriptions``)
            read = (skip.kind, skip.external_id) in records
            if read and report.get(skip.kind, skip.external_id) is None:
                report.set(skip.kind, skip.external_id, "skipped", skip.reason.value, skip.detail or None)
        return all_ok

    def _sync_invoices(self, changes: CustomerChanges, read_ids: KindView, report: RunReport) -> bool:
        cid = changes.customer_external_id
        creates: list[OutInvoice] = []
        ok = True
        known = None if self.baseline is not None else self.state.pushed_many(
            self.connection, "invoice",
            [inv.external_id for inv in changes.invoices] + list(changes.voided_invoice_ids))
        for inv in changes.invoices:
            read = inv.external_id in read_ids
            action = self._diff("invoice", inv.external_id, inv.doc, inv, known)
            if action is None:
                if read:
                    report.set("invoice", inv.external_id, "unchanged")
            elif action == "create":
                creates.append(inv)
            else:
                invoice = inv
                accepted = self._apply(Op("invoice", inv.external_id, "update", cid),
                                       lambda d: d.replace_invoice(invoice), report,
                                       hash_=content_hash(inv.doc()), read=read)
                ok &= accepted is not False
                self._outcome(report, "invoice", inv.external_id, accepted, read)
        if creates:
            ok &= self._import(cid, creates, read_ids, report)
        for invoice_id in changes.voided_invoice_ids:
            if self.baseline is not None:
                if (invoice_id not in self.baseline.invoices
                        or self.baseline.invoice_status.get(invoice_id) == "voided"):
                    continue
            elif known is None or (pushed := known.get(invoice_id)) is None or (
                pushed[1] == VOIDED_HASH
            ):
                continue
            read = invoice_id in read_ids
            target = invoice_id
            accepted = self._apply(Op("invoice", invoice_id, "void", cid),
                                   lambda d: d.void_invoice(target), report,
                                   hash_=VOIDED_HASH, read=read)
            ok &= accepted is not False
            self._outcome(report, "invoice", invoice_id, accepted, read, Reason.VOIDED.value)
        return ok

    def _import(self, cid: str, creates: list[OutInvoice], read_ids: KindView, report: RunReport) -> bool:
        for inv in creates:
            report.add_op(Op("invoice", inv.external_id, "create", cid))
            if inv.external_id not in read_ids:
                report.re_evaluated_ops += 1
        if self.destination is None:
            for inv in creates:
                self._outcome(report, "invoice", inv.external_id, None, inv.external_id in read_ids)
            return True
        if self.bulk is not None:
            self.bulk.add_invoices(cid, creates)
            for inv in creates:
                self._pending[("invoice", None, inv.external_id)] = (
                    Op("invoice", inv.external_id, "create", cid), content_hash(inv.doc()),
                    inv.external_id in read_ids)
                self._outcome(report, "invoice", inv.external_id, True, inv.external_id in read_ids)
            return True
        try:
            results = self.destination.import_invoices(cid, creates)
        except (BadRecordError, ConflictError) as exc:
            for inv in creates:
                self._refused(report, Op("invoice", inv.external_id, "create", cid), exc)
                self._outcome(report, "invoice", inv.external_id, False, inv.external_id in read_ids)
            return False
        ok = True
        by_id = {inv.external_id: inv for inv in creates}
        for result in results:
            inv = by_id[result.external_id]
            read = inv.external_id in read_ids
            if result.error:
                ok = False
                error = ConflictError(result.error) if result.fields else BadRecordError(result.error)
                self._refused(report, Op("invoice", inv.external_id, "create", cid), error)
                self._outcome(report, "invoice", inv.external_id, False, read)
            else:
                self.state.record_pushed(self.connection, "invoice", inv.external_id,
                                         result.destination_id, content_hash(inv.doc()))
                self._accept(f"invoice:{inv.external_id}")
                self._outcome(report, "invoice", inv.external_id, True, read)
        return ok

    def _sync_cancellations(self, changes: CustomerChanges, read_ids: KindView, report: RunReport) -> bool:
        ok = True
        starts = {s.subscription_external_id: s.invoice_external_id for s in changes.starts}
        for marker in changes.cancellations:
            sid = marker.subscription_external_id
            read = sid in read_ids
            doc = marker.doc()
            pushed = self.state.pushed(self.connection, "cancellation", sid)
            if self.baseline is not None:
                same = self.baseline.diff(marker) == []
            else:
                same = (pushed is None and not marker.cancellation_dates) or (
                    pushed is not None and pushed[1] == content_hash(doc))
            if same:
                if self.baseline is None and not self.dry_run:
                    self._remember(marker)  # the destination already holds these dates
                if read:
                    # It reached the destination in this run if its first invoice did.
                    first = starts.get(sid)
                    came = first is not None and (o := report.get("invoice", first)) is not None
                    report.set("subscription", sid,
                               "pushed" if came and o is not None and o.outcome == "pushed" else "unchanged")
                continue
            action = "cancel" if marker.cancellation_dates else "reactivate"
            accepted = self._apply(Op("cancellation", sid, action, marker.customer_external_id),
                                   _cancel_call(marker), report, hash_=content_hash(doc), read=read,
                                   payload=marker)
            ok &= accepted is not False
            if accepted and self.bulk is None:
                self._remember(marker)
            self._outcome(report, "subscription", sid, accepted, read)
        return ok

    def _remember(self, marker: CancellationMarker) -> None:
        """Cancellations that took effect are remembered once the destination holds them, so
        a reactivation the source reports later keeps them (the source often forgets)."""
        if marker.effective_dates:
            self.state.remember_cancellations(self.connection, marker.customer_external_id,
                                              marker.subscription_external_id,
                                              marker.effective_dates)

    def _warn_double_churn(self) -> None:
        """Automatic churn on both sides cancels the same subscriptions twice, at different
        dates: say so (the destination's setting is read where it has one)."""
        if self.rules.auto_churn_days is None:
            return
        try:
            setting = (self._auto_churn.auto_churn_setting(self.data_source)
                       if self._auto_churn is not None else None)
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

    def _explain_unsent_subscriptions(self, history: CustomerHistory, changes: CustomerChanges,
                                      records: ReadSet, report: RunReport) -> None:
        """A subscription read that analytics will not hold is skipped with its one missing
        reason, the one ``reconcile`` and ``explain`` give it."""
        for sub_id in history.subscriptions:
            if ("subscription", sub_id) not in records or report.get("subscription", sub_id):
                continue
            reason = missing_reason(sub_id, history.invoices.values(), changes,
                                    present_at_destination=False,
                                    quarantined_ids=self._quarantined)
            # a cancellation of it is a no-op (NEVER_CREATED): said beside its one reason
            noop = next((f"its cancellation is not sent: {s.reason.value}" for s in changes.skips
                         if s.kind == "subscription" and s.external_id == sub_id), None)
            report.set("subscription", sub_id, "skipped", (reason or Reason.NOT_YET_SYNCED).value,
                       noop)

    def _note_review(self, read: ReadSet, report: RunReport) -> None:
        """Review entries of records read fine in this run are resolved at the end."""
        for key in self._review_keys:
            kind, _, ext = key.partition(":")
            outcome = report.get(kind, ext)
            if (kind, ext) in read and (outcome is None or outcome.outcome != "quarantined"):
                self._accepted.add(key)

    def _resolve_review(self) -> None:
        if self.dry_run:
            return
        self.state.resolve_review(self.connection, self._accepted & self._review_keys)

def _customer_call(customer: Customer, action: str) -> Callable[[Destination], Any]:
    """A customer never pushed is created straight away where the destination allows it
    (one request instead of a lookup and a create)."""

    def call(destination: Destination) -> Any:
        if action == "create" and isinstance(destination, CustomerCreating):
            return destination.create_customer(customer)
        return destination.upsert_customer(customer)

    return call


def _cancel_call(marker: CancellationMarker) -> Callable[[Destination], Any]:
    return lambda d: d.set_cancellation_dates(
        marker.customer_external_id, marker.subscription_external_id, list(marker.cancellation_dates)
    )


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


__all__ = ["Action", "Engine", "content_hash"]


def _customer_of(item: Quarantined) -> str | None:
    """The customer a quarantined record belongs to, when its source row says."""
    if item.kind == "customer":
        return item.external_id
    value = (item.raw or {}).get("customer_external_id")
    return str(value) if value not in (None, "") else None
