"""``explain ID``: one subscription's (or customer's) story, from billing to what analytics shows.

Counts that differ are answered by ``reconcile``; a person asking "why does this one
customer look wrong" needs the story instead: each invoice and what the filter and the
builder decided (with the reason code), when the subscription came into existence at
the destination and why then, the Cancelled marker, how its analytics status moved month
by month and what made it move, and finally what analytics should show today against
what the destination really holds. Every decision comes from ``saasync.rules``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from saasync.destinations.base import customer_since_of
from saasync.models import Invoice, Plan, SubscriptionStatus, to_utc
from saasync.reasons import Reason
from saasync.reports.metrics import month_ends
from saasync.reports.reconciliation import (
    DEFAULT_RULES,
    DestinationReader,
    SourceRead,
    paid_until,
    status_difference,
)
from saasync.rules.builder import RuleSettings
from saasync.rules.changeset import CustomerChanges, SubscriptionStart
from saasync.rules.discounts import post_discount_amounts
from saasync.rules.filter import Action
from saasync.rules.reconcile import StatusDifference, missing_reason, raw_customer
from saasync.rules.status import (
    SubscriptionView,
    SubStatus,
    cancellations_at,
    customer_since,
    customer_status_at,
    subscription_mrr,
    subscription_status,
    views_for_customer,
)

NOT_CREATED = "not created"
NOT_A_CUSTOMER = "not a customer yet"  # before its creation time: counted under no status
_TICK = timedelta(microseconds=1)  # "just after": period ends and due dates bite strictly after


@dataclass(frozen=True)
class LineStep:
    subscription: str | None
    kind: str
    plan: str | None
    period_start: datetime | None
    period_end: datetime | None
    amount: int  # after every discount (line and invoice level), tax included
    discount: int  # every discount on it: its own and its share of the invoice's
    sent: bool
    reason: str | None


@dataclass(frozen=True)
class InvoiceStep:
    invoice: str
    date: datetime | None
    status: str
    source_status: str | None
    currency: str | None
    decision: str  # send | hold | skip | quarantined
    reason: str | None
    detail: str
    lines: tuple[LineStep, ...]


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    status: str
    why: str


@dataclass(frozen=True)
class Today:
    billing_status: str | None
    expected_status: str
    expected_mrr: tuple[str, int] | None
    present: bool
    actual_status: str
    actual_mrr: tuple[str, int] | None
    difference: StatusDifference | None

    @property
    def matches(self) -> bool:
        return (self.expected_status, self.expected_mrr) == (self.actual_status, self.actual_mrr)


@dataclass(frozen=True)
class SubscriptionStory:
    subscription: str
    source_status: str | None
    start: SubscriptionStart | None
    missing_reason: Reason | None
    cancellation: str
    changes: tuple[StatusChange, ...]
    months: tuple[tuple[str, str], ...]  # (month entry date, expected status)
    today: Today


@dataclass(frozen=True)
class Explanation:
    id: str
    kind: str  # subscription | customer
    customer: str
    customer_name: str
    at: datetime
    invoices: tuple[InvoiceStep, ...]
    subscriptions: tuple[SubscriptionStory, ...]
    customer_months: tuple[tuple[str, str], ...]
    customer_expected: str
    customer_actual: str


def _raw_subs(raw: Mapping[str, Any] | None) -> set[str]:
    """Subscription ids named by the raw lines of a quarantined invoice."""
    lines = (raw or {}).get("lines")
    if not isinstance(lines, list):
        return set()
    return {str(ln["subscription_external_id"]) for ln in lines
            if isinstance(ln, Mapping) and ln.get("subscription_external_id")}


def resolve(source: SourceRead, ident: str) -> tuple[str, str] | None:
    """(kind, customer id) of a source subscription or customer id; None when unknown."""
    if ident in source.subscriptions:
        return "subscription", source.subscriptions[ident].customer_external_id
    if ident in source.customers or ident in source.histories:
        return "customer", ident
    for cid, history in sorted(source.histories.items()):
        if any(ln.subscription_external_id == ident for i in history.invoices.values()
               for ln in i.lines):
            return "subscription", cid
    for item in source.quarantined:
        owner = raw_customer(item.raw)
        if owner and (ident in _raw_subs(item.raw)
                      or (item.kind == "subscription" and item.external_id == ident)):
            return "subscription", owner
    return None


def _invoice_step(inv: Invoice, changes: CustomerChanges, sub: str | None) -> InvoiceStep:
    decision = changes.decision_for(inv.external_id)
    dropped = dict(decision.dropped_lines) if decision else {}
    sent_invoice = decision is not None and decision.action is Action.SEND
    lines = []
    for line, amount in zip(inv.lines, post_discount_amounts(inv), strict=True):
        if sub is not None and line.subscription_external_id != sub:
            continue
        left_off = dropped.get(line.subscription_external_id or "")
        sent = sent_invoice and left_off is None
        reason = left_off or (decision.reason if decision and not sent_invoice else None)
        lines.append(LineStep(line.subscription_external_id, line.kind, line.plan_external_id,
                              line.service_period_start, line.service_period_end, amount,
                              line.discount_amount + line.amount - amount, sent,
                              reason.value if reason else None))
    return InvoiceStep(
        inv.external_id, inv.issued_at, inv.status.value, inv.source_status, inv.currency,
        decision.action.value if decision else "skip",
        decision.reason.value if decision and decision.reason else None, "", tuple(lines))


def _quarantined_steps(source: SourceRead, cid: str, sub: str | None) -> list[InvoiceStep]:
    """Invoices the connector could not normalize: the builder never saw them, but they count."""
    steps = []
    for item in source.quarantined:
        raw = item.raw or {}
        if item.kind != "invoice" or raw.get("customer_external_id") != cid:
            continue
        if sub is not None and sub not in _raw_subs(raw):
            continue
        try:
            issued = to_utc(raw.get("issued_at"))
        except ValueError:  # the date itself may be what is wrong with the row
            issued = None
        steps.append(InvoiceStep(
            item.external_id or "?", issued, str(raw.get("status") or "?"), None,
            str(raw.get("currency") or "") or None, "quarantined", item.reason.value,
            f"{item.message} ({item.location or 'source'})", ()))
    return steps


def _why(view: SubscriptionView, t: datetime, status: SubStatus | None, before: str,
         grace: timedelta, paused_at: datetime | None, described: bool = True) -> str:
    """The facts behind a new status (the status itself always comes from the rules)."""
    issued = view.issued_by(t)
    latest = issued[-1] if issued else None
    if status is SubStatus.CANCELLED:
        cut = max(d for d in cancellations_at(view, t) if d <= t)
        if cut not in view.cancellation_dates:
            return (f"automatic churn at the destination: no invoice for more than "
                    f"{_days(view.auto_churn_after)} days after the period ending {cut:%Y-%m-%d}")
        if not described:  # billing has no subscription record: the sync's automatic churn
            return (f"Cancelled marker {cut:%Y-%m-%d}: no invoice after that period for "
                    "longer than auto_churn_days")
        return f"Cancelled marker {cut:%Y-%m-%d}: cancelled in billing"
    if status is SubStatus.PAST_DUE:
        covered = paid_until(view, t)
        if covered is not None and covered < t - grace:
            why = f"paid service period ended {covered:%Y-%m-%d}; no later sent invoice covers it"
        elif latest is not None and latest.due_date is not None and latest.due_date < t:
            why = (f"invoice {latest.external_id} unpaid after its due date "
                   f"{latest.due_date:%Y-%m-%d}")
        else:
            last = latest.external_id if latest else "?"
            why = f"latest payment attempt on invoice {last} failed"
        if paused_at is not None and paused_at <= t:
            why += (f"; on hold in billing since {paused_at:%Y-%m-%d}, so it stays Past-Due "
                    "until billing cancels or resumes it")
        return why
    if latest is None:
        return "no sent invoice yet"
    if before == NOT_CREATED:
        return (f"starts at the destination with invoice {latest.external_id} "
                f"({latest.date:%Y-%m-%d}): its first non-$0 kept invoice")
    if before == SubStatus.CANCELLED.value:
        return f"resumed: invoice {latest.external_id} bills a period after the cancellation"
    return (f"invoice {latest.external_id} ({latest.date:%Y-%m-%d}) covers the period again "
            "and is paid (or not yet due)")


def _events(view: SubscriptionView, grace: timedelta) -> set[datetime]:
    """Every instant at which the status rules could answer differently."""
    out = set(view.cancellation_dates)
    for inv in view.invoices:
        out |= {inv.date, *(t.date for t in inv.transactions)}
        out |= {inv.due_date + _TICK} if inv.due_date is not None else set()
        for line in view.lines(inv):
            out |= {line.service_period_start} if line.service_period_start else set()
            out |= {line.service_period_end + grace + _TICK} if line.service_period_end else set()
            if line.service_period_end and view.auto_churn_after is not None:
                out.add(line.service_period_end + view.auto_churn_after + _TICK)
    return out


def _days(after: timedelta | None) -> int:
    return after.days if after is not None else 0


def status_changes(view: SubscriptionView, at: datetime, grace: timedelta,
                   paused_at: datetime | None = None,
                   described: bool = True) -> list[StatusChange]:
    """The days up to ``at`` on which the rules give the subscription a new status.

    Judged at the end of each day something happens, as analytics keeps daily figures:
    an invoice due at 00:00 and paid at 00:07 is not a Past-Due day.
    """
    changes: list[StatusChange] = []
    current = NOT_CREATED
    days = sorted({min(datetime.combine(e.date(), time.max, tzinfo=UTC), at)
                   for e in _events(view, grace) if e <= at})
    for t in days:
        status = subscription_status(view, t, grace)
        label = status.value if status else NOT_CREATED
        if label != current:
            day = datetime.combine(t.date(), time.min, tzinfo=UTC)
            changes.append(StatusChange(day, label,
                                        _why(view, t, status, current, grace, paused_at,
                                             described)))
            current = label
    return changes


def _months(first: datetime | None, at: datetime,
            judge: Callable[[datetime], str]) -> tuple[tuple[str, str], ...]:
    """(month entry date, status) at each month's end from ``first``'s month to ``at``."""
    if first is None or first > at:
        return ()
    return tuple((day.isoformat(), judge(min(when, at)))
                 for day, when in month_ends(first.date(), at.date()))


def _cancellation_text(changes: CustomerChanges, sub: str, source_cancelled: bool) -> str:
    for marker in changes.cancellations:
        if marker.subscription_external_id == sub:
            if marker.cancellation_dates:
                days = ", ".join(f"{d:%Y-%m-%d}" for d in marker.cancellation_dates)
                return f"Cancelled marker sent: {days}"
            return "no Cancelled marker (not cancelled in billing; any earlier marker is cleared)"
    if source_cancelled:
        return f"cancelled in billing, never created at the destination: {Reason.NEVER_CREATED}"
    return "none: the subscription does not exist at the destination"


@dataclass(frozen=True)
class _Customer:
    """One customer as both sides hold it, evaluated with the same rules and grace."""

    source: SourceRead
    changes: CustomerChanges
    invoices: list[Invoice]  # the source invoices told, oldest first
    expected: Mapping[str, SubscriptionView]  # what the rules say analytics should hold
    actual: Mapping[str, SubscriptionView]  # what the destination holds
    dest_plans: Mapping[str, Plan]
    quarantined: Collection[str]
    at: datetime
    rules: RuleSettings

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.rules.grace_days)

    def story(self, sub: str) -> SubscriptionStory:
        src = self.source.subscriptions.get(sub)
        view, held = self.expected.get(sub), self.actual.get(sub)
        at, grace = self.at, self.grace
        status = subscription_status(view, at, grace) if view else None
        held_status = subscription_status(held, at, grace) if held else None
        today = Today(
            (src.source_status or src.status.value) if src else None,
            _label(status),
            subscription_mrr(view, self.source.plans, at, grace) if view else None,
            held is not None,
            _label(held_status),
            subscription_mrr(held, self.dest_plans, at, grace) if held else None,
            # judged on what analytics holds, as reconcile judges it
            status_difference(self.source, src, held, at, self.rules, self.changes)
            if src and held else None)
        first = min((i.issued_at for i in self.invoices
                     if any(ln.subscription_external_id == sub for ln in i.lines)), default=None)
        paused = src.paused_at if src and src.status is SubscriptionStatus.PAUSED else None
        cancelled = src is not None and src.status is SubscriptionStatus.CANCELLED
        return SubscriptionStory(
            sub, src.source_status if src else None,
            next((s for s in self.changes.starts if s.subscription_external_id == sub), None),
            None if held else missing_reason(
                sub, self.source.invoices_of(self.changes.customer_external_id), self.changes,
                present_at_destination=False, quarantined_ids=self.quarantined),
            _cancellation_text(self.changes, sub, cancelled),
            tuple(status_changes(view, at, grace, paused, src is not None)) if view else (),
            _months(first, at, lambda t: _label(subscription_status(view, t, grace))
                    if view else NOT_CREATED),
            today)

    def customer_status_at(self, t: datetime, views: Collection[SubscriptionView],
                           since: datetime | None) -> str:
        status = customer_status_at(since, (subscription_status(v, t, self.grace) for v in views),
                                    t)
        return status.value if status is not None else NOT_A_CUSTOMER


def explain(source: SourceRead, destination: DestinationReader, ident: str, at: datetime,
            rules: RuleSettings = DEFAULT_RULES,
            quarantined: Collection[str] = ()) -> Explanation | None:
    """The story of ``ident`` (a source subscription or customer id); None when unknown."""
    found = resolve(source, ident)
    if found is None:
        return None
    kind, cid = found
    only = ident if kind == "subscription" else None
    changes = source.changes(cid, rules, at)
    invoices = [i for i in sorted(source.invoices_of(cid), key=_order)
                if only is None or any(ln.subscription_external_id == only for ln in i.lines)]
    steps = [_invoice_step(i, changes, only) for i in invoices]
    steps += _quarantined_steps(source, cid, only)
    steps.sort(key=lambda st: (st.date is None, st.date or at, st.invoice))
    markers = {m.subscription_external_id: m.cancellation_dates for m in changes.cancellations}
    ctx = _Customer(
        source, changes, invoices,
        {v.external_id: v for v in views_for_customer(cid, changes.invoices, markers)},
        {v.external_id: v for v in destination.subscription_views(cid)},
        destination.plans_by_external_id(),
        {*quarantined, *(q.external_id for q in changes.quarantined)},
        at, rules)
    subs = [only] if only else sorted(
        {s.external_id for s in source.subscriptions.values() if s.customer_external_id == cid}
        | {ln.subscription_external_id for i in invoices for ln in i.lines
           if ln.subscription_external_id} | set(ctx.expected) | set(ctx.actual))
    expected = list(ctx.expected.values())
    customer = source.customers.get(cid)
    since = customer_since(customer.created_at if customer else None,
                           [i.issued_at for i in source.invoices_of(cid)])
    held_since = _held_since(destination, cid, since)
    return Explanation(
        ident, kind, cid, customer.name if customer else "", at, tuple(steps),
        tuple(ctx.story(sub) for sub in subs),
        _months(since if only is None else None, at,
                lambda t: ctx.customer_status_at(t, expected, since)),
        ctx.customer_status_at(at, expected, since),
        ctx.customer_status_at(at, list(ctx.actual.values()), held_since))


def _held_since(destination: DestinationReader, cid: str,
                default: datetime | None) -> datetime | None:
    """When the destination counts the customer from (the source's answer if it cannot tell)."""
    return customer_since_of(destination).get(cid, default)


def _order(invoice: Invoice) -> tuple[datetime, str]:
    return invoice.issued_at, invoice.external_id


def _label(status: SubStatus | None) -> str:
    return status.value if status else NOT_CREATED


# -- output -----------------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _mrr(value: tuple[str, int] | None) -> dict[str, Any] | None:
    return {"currency": value[0], "amount": value[1]} if value else None


def explain_json(ex: Explanation) -> dict[str, Any]:
    """Stable keys: id, kind, at, customer, invoices, subscriptions (money in minor units)."""
    return {
        "id": ex.id,
        "kind": ex.kind,
        "at": ex.at.isoformat(),
        "customer": {"id": ex.customer, "name": ex.customer_name,
                     "expected_status": ex.customer_expected, "actual_status": ex.customer_actual,
                     "months": [{"month": m, "status": s} for m, s in ex.customer_months]},
        "invoices": [
            {"invoice": i.invoice, "date": _iso(i.date), "status": i.status,
             "source_status": i.source_status, "currency": i.currency, "decision": i.decision,
             "reason": i.reason, "detail": i.detail,
             "lines": [{"subscription": ln.subscription, "kind": ln.kind, "plan": ln.plan,
                        "service_period_start": _iso(ln.period_start),
                        "service_period_end": _iso(ln.period_end), "amount": ln.amount,
                        "discount": ln.discount,
                        "sent": ln.sent, "reason": ln.reason} for ln in i.lines]}
            for i in ex.invoices
        ],
        "subscriptions": [
            {"id": s.subscription, "source_status": s.source_status,
             "start": {"invoice": s.start.invoice_external_id, "date": _iso(s.start.issued_at),
                       "why": "first kept invoice on which its amount after every discount "
                              "is above zero"} if s.start else None,
             "missing_reason": s.missing_reason.value if s.missing_reason else None,
             "cancellation": s.cancellation,
             "changes": [{"at": _iso(c.at), "status": c.status, "why": c.why} for c in s.changes],
             "months": [{"month": m, "status": st} for m, st in s.months],
             "today": {
                 "billing_status": s.today.billing_status,
                 "expected": {"status": s.today.expected_status, "mrr": _mrr(s.today.expected_mrr)},
                 "actual": {"present": s.today.present, "status": s.today.actual_status,
                            "mrr": _mrr(s.today.actual_mrr)},
                 "matches": s.today.matches,
                 "difference": {"code": s.today.difference.code.value,
                                "invoice": s.today.difference.invoice,
                                "explanation": s.today.difference.explanation}
                 if s.today.difference else None}}
            for s in ex.subscriptions
        ],
    }


