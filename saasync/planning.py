"""Plan one customer's changes: compare each with what the destination holds, and hand
what differs to the sender.

What the destination holds is the pushed map in the state (a real run, or a dry run
diffing against it), or what it read back (a dry run against ChartMogul: the baseline).
Each record read gets its outcome in the run book: unchanged, pushed, skipped with its
reason, or quarantined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from saasync.destinations.base import Baseline
from saasync.mirror import VOIDED_HASH, KindView, ReadSet, content_hash, destination_doc
from saasync.models import Plan
from saasync.reasons import Reason
from saasync.rules.builder import CustomerHistory
from saasync.rules.changeset import CustomerChanges, OutInvoice
from saasync.rules.reconcile import missing_reason
from saasync.run_book import RunBook
from saasync.run_report import Op, RunReport
from saasync.sending import Sender
from saasync.state import StateStore


class Planner:
    """The plan stage of one run: ``sync_plan`` and ``sync_customer`` say what each record
    needs, and send it."""

    def __init__(self, state: StateStore, connection: str, book: RunBook, sender: Sender,
                 baseline: Baseline | None) -> None:
        self.state = state
        self.connection = connection
        self._book = book
        self._sender = sender
        self.baseline = baseline

    def sync_plan(self, plan: Plan, report: RunReport, seen: set[str], read: bool = True) -> None:
        seen.add(plan.external_id)
        action = self._diff("plan", plan.external_id, lambda: destination_doc(plan), plan)
        if action is None:
            if read:
                report.set("plan", plan.external_id, "unchanged")
            return
        op = Op("plan", plan.external_id, action)
        # a plan is sent as read (an op of this run) even when a customer brought it in
        accepted = self._apply(op, plan, report, hash_=content_hash(destination_doc(plan)))
        if read or accepted:
            self._book.outcome("plan", plan.external_id, accepted, read)

    def sync_customer(self, changes: CustomerChanges, records: ReadSet, report: RunReport) -> bool:
        cid = changes.customer_external_id
        for q in changes.quarantined:
            if (q.kind, q.external_id) in records:
                report.set(q.kind, q.external_id, "quarantined", q.reason.value, q.detail)
            self._book.queue(q.kind, q.external_id, cid, q.reason.value, q.detail)
        if changes.customer is not None:
            customer = changes.customer
            action = self._diff("customer", cid, lambda: destination_doc(customer), customer)
            read = ("customer", cid) in records
            if action is None:
                if read:
                    report.set("customer", cid, "unchanged")
            else:
                accepted = self._apply(Op("customer", cid, action, cid), customer, report,
                                       hash_=content_hash(destination_doc(customer)), read=read)
                self._book.outcome("customer", cid, accepted, read)
                if accepted is False:
                    return False
        all_ok = self._sync_invoices(changes, records.of("invoice"), report)
        all_ok &= self._sync_cancellations(changes, records.of("subscription"), report)
        for skip in changes.skips:
            if skip.kind == "subscription":
                continue  # told with its missing reason (``explain_unsent_subscriptions``)
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
                accepted = self._apply(Op("invoice", inv.external_id, "update", cid), inv, report,
                                       hash_=content_hash(inv.doc()), read=read)
                ok &= accepted is not False
                self._book.outcome("invoice", inv.external_id, accepted, read)
        if creates:
            ok &= self._import(cid, creates, read_ids, report)
        return self._sync_voids(changes, known, read_ids, report) and ok

    def _sync_voids(self, changes: CustomerChanges, known: Mapping[str, tuple[str | None, str]] | None,
                    read_ids: KindView, report: RunReport) -> bool:
        """Invoices voided at the source that the destination holds as not voided."""
        ok = True
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
            accepted = self._apply(Op("invoice", invoice_id, "void", changes.customer_external_id),
                                   invoice_id, report, hash_=VOIDED_HASH, read=read)
            ok &= accepted is not False
            self._book.outcome("invoice", invoice_id, accepted, read, Reason.VOIDED.value)
        return ok

    def _import(self, cid: str, creates: list[OutInvoice], read_ids: KindView, report: RunReport) -> bool:
        for inv in creates:
            report.add_op(Op("invoice", inv.external_id, "create", cid))
            if inv.external_id not in read_ids:
                report.re_evaluated_ops += 1
        return self._sender.import_invoices(cid, creates, read_ids)

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
                if self.baseline is None:
                    self._sender.remember(marker)  # the destination already holds these dates
                if read:
                    # It reached the destination in this run if its first invoice did.
                    first = starts.get(sid)
                    came = first is not None and (o := report.get("invoice", first)) is not None
                    report.set("subscription", sid,
                               "pushed" if came and o is not None and o.outcome == "pushed" else "unchanged")
                continue
            action = "cancel" if marker.cancellation_dates else "reactivate"
            accepted = self._apply(Op("cancellation", sid, action, marker.customer_external_id),
                                   marker, report, hash_=content_hash(doc), read=read)
            ok &= accepted is not False
            self._book.outcome("subscription", sid, accepted, read)
        return ok

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

    def _apply(self, op: Op, payload: Any, report: RunReport, *, hash_: str,
               read: bool = True) -> bool | None:
        """One change: in the report, then to the sender (True accepted, False refused,
        None a dry run)."""
        report.add_op(op)
        if not read:
            report.re_evaluated_ops += 1
        return self._sender.send(op, payload, hash_=hash_, read=read)

    def explain_unsent_subscriptions(self, history: CustomerHistory, changes: CustomerChanges,
                                      records: ReadSet, report: RunReport) -> None:
        """A subscription read that analytics will not hold is skipped with its one missing
        reason, the one ``reconcile`` and ``explain`` give it."""
        for sub_id in history.subscriptions:
            if ("subscription", sub_id) not in records or report.get("subscription", sub_id):
                continue
            reason = missing_reason(sub_id, history.invoices.values(), changes,
                                    present_at_destination=False,
                                    quarantined_ids=self._book.quarantined)
            # a cancellation of it is a no-op (NEVER_CREATED): said beside its one reason
            noop = next((f"its cancellation is not sent: {s.reason.value}" for s in changes.skips
                         if s.kind == "subscription" and s.external_id == sub_id), None)
            report.set("subscription", sub_id, "skipped", (reason or Reason.NOT_YET_SYNCED).value,
                       noop)
