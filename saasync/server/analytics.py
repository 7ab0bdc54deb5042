"""Statuses, MRR and metric series as the API shows them, decided by saasync's own rules.

Nothing here judges a subscription: ``saasync.rules.status`` does (status, MRR, customer
status) and ``saasync.reports.metrics`` gives the headline series, so the server shows the
numbers ``saasync metrics`` and ``reconcile`` reason about. What is added is the API's
bookkeeping around them: per-customer movements between two instants (new business,
expansion, contraction, churn, reactivation) and the ratios ChartMogul derives.

Emulator choices (documented in the README): metrics are in the account currency, each
amount converted at its day's rate from the server's rates table (a missing rate is an
error, never a face-value sum); movements are the activities (``rules.movements``) dated in
each interval, so a churn and a reactivation in one month both show; ASP is new-business
MRR per new customer; LTV is ARPA ÷ customer churn rate (0 when nobody churned). A
customer's and a subscription's own ``mrr`` (customers and subscriptions endpoints) are
still given at face value in their invoice currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any

from saasync.destinations.local.rows import StoredSubscription
from saasync.fx import RateTable
from saasync.models import Plan
from saasync.reports.metrics import month_ends, monthly_series
from saasync.rules.movements import MOVE_KINDS, MoveKind, Movement, account_movements
from saasync.rules.mrr import add_per_currency, round_minor
from saasync.rules.status import (
    CustomerStatus,
    SubscriptionView,
    SubStatus,
    cancellations_at,
    customer_status,
    subscription_mrr,
    subscription_status,
)
from saasync.server.api_store import ApiStore
from saasync.server.context import Account
from saasync.server.wire import offset_time

STATUS_NAMES = {
    CustomerStatus.LEAD: "New Lead",
    CustomerStatus.ACTIVE: "Active",
    CustomerStatus.PAST_DUE: "Past Due",
    CustomerStatus.CANCELLED: "Cancelled",
}
PAYING = (CustomerStatus.ACTIVE, CustomerStatus.PAST_DUE)
INTERVALS = ("month", "quarter", "year")
_TICK = timedelta(microseconds=1)


def _mrr(view: SubscriptionView, plans: Mapping[str, Plan], at: datetime, grace: timedelta) -> int:
    found = subscription_mrr(view, plans, at, grace)
    return found[1] if found is not None else 0  # every currency at face value


@dataclass(frozen=True)
class CustomerFigures:
    status: CustomerStatus
    mrr: int
    since: datetime | None


def customer_figures(
    views: Sequence[SubscriptionView], plans: Mapping[str, Plan], at: datetime, grace: timedelta
) -> CustomerFigures:
    statuses = [subscription_status(view, at, grace) for view in views]
    starts = [v.starts_at for v, s in zip(views, statuses, strict=True) if s and v.starts_at]
    return CustomerFigures(
        customer_status(statuses),
        sum(_mrr(view, plans, at, grace) for view in views),
        min(starts) if starts else None,
    )


def subscription_entry(
    sub: StoredSubscription,
    view: SubscriptionView,
    plans: Mapping[str, Plan],
    at: datetime,
    grace: timedelta,
    account: Account,
    set_id: str | None,
) -> dict[str, Any]:
    """One subscription of ``GET /v1/customers/{uuid}/subscriptions`` (§6.2): a cancelled
    one is ``inactive``, ends at its cancellation and keeps the MRR it had just before."""
    status = subscription_status(view, at, grace)
    invoices = sorted(view.invoices, key=lambda inv: (inv.date, inv.external_id))
    latest = (view.issued_by(at) or invoices)[-1]
    line = view.lines(latest)[-1]
    plan = plans.get(line.plan_external_id or "")
    ends = [ln.service_period_end for inv in invoices for ln in view.lines(inv)]
    end = max((e for e in ends if e is not None), default=None)
    mrr_at = at
    if status is SubStatus.CANCELLED:
        end = max(d for d in cancellations_at(view, at) if d <= at)
        mrr_at = end - _TICK
    mrr = _mrr(view, plans, mrr_at, grace)
    return {
        "id": sub.id,
        "external_id": sub.external_id,
        "subscription_set_external_id": set_id or sub.external_id,
        "quantity": line.quantity,
        "uuid": sub.uuid.removeprefix("sub_"),
        "mrr": mrr,
        "arr": 12 * mrr,
        "status": "active" if status in (SubStatus.ACTIVE, SubStatus.PAST_DUE) else "inactive",
        "plan": plan.name if plan else None,
        "billing-cycle": plan.interval_unit if plan else None,
        "billing-cycle-count": plan.interval_count if plan else None,
        "start-date": offset_time(view.starts_at),
        "end-date": offset_time(end),
        "currency": account.currency,
        "currency-sign": account.currency_sign,
    }


# -- metric series -----------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPoint:
    """The account at one interval end, with the movements since the previous one."""

    date: date
    mrr: int
    customers: int
    new_business: int = 0
    expansion: int = 0
    contraction: int = 0
    churn: int = 0
    reactivation: int = 0
    new_customers: int = 0
    churned_customers: int = 0
    prev_mrr: int = 0
    prev_customers: int = 0

    @property
    def arr(self) -> int:
        return 12 * self.mrr

    @property
    def arpa(self) -> int:
        return round(self.mrr / self.customers) if self.customers else 0

    @property
    def asp(self) -> int:
        return round(self.new_business / self.new_customers) if self.new_customers else 0

    @property
    def customer_churn_rate(self) -> float:
        if not self.prev_customers:
            return 0.0
        return round(100 * self.churned_customers / self.prev_customers, 2)

    @property
    def mrr_churn_rate(self) -> float:
        if not self.prev_mrr:
            return 0.0
        lost = -(self.churn + self.contraction) - self.expansion - self.reactivation
        return round(100 * lost / self.prev_mrr, 2)

    @property
    def ltv(self) -> int:
        rate = self.customer_churn_rate
        return round(self.arpa / (rate / 100)) if rate > 0 else 0


@dataclass(frozen=True)
class _State:
    mrr: Mapping[str, int]  # per currency
    status: CustomerStatus


def _period_start(day: date, interval: str) -> date:
    if interval == "year":
        return day.replace(month=1, day=1)
    if interval == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    return day.replace(day=1)


def _interval_ends(start: date, end: date, interval: str) -> list[tuple[date, datetime]]:
    """The month ends ``reports.metrics`` evaluates, thinned out to the interval's ends."""
    ends = month_ends(start, end)
    step = {"month": 1, "quarter": 3, "year": 12}[interval]
    return [p for i, p in enumerate(ends) if p[0].month % step == 0 or i == len(ends) - 1]


class AccountViews:
    """Every data source's subscription views, loaded once, judged at many instants."""

    def __init__(self, store: ApiStore, grace: timedelta) -> None:
        self.grace = grace
        self.sources: list[tuple[str, dict[str, list[SubscriptionView]], dict[str, Plan]]] = []
        for ds in store.sources.all():
            with store.selected(ds):
                views: dict[str, list[SubscriptionView]] = {
                    cid: [] for cid in store.local.customer_external_ids()
                }
                for view in store.local.subscription_views():
                    views.setdefault(view.customer_external_id, []).append(view)
                self.sources.append((ds.uuid, views, store.local.plans_by_external_id()))

    def states(self, at: datetime) -> dict[tuple[str, str], _State]:
        out: dict[tuple[str, str], _State] = {}
        for ds_uuid, views, plans in self.sources:
            for cid, customer_views in views.items():
                statuses = [subscription_status(v, at, self.grace) for v in customer_views]
                mrr = add_per_currency({}, (
                    found for v in customer_views
                    if (found := subscription_mrr(v, plans, at, self.grace)) is not None
                ))  # fmt: skip
                out[ds_uuid, cid] = _State(mrr, customer_status(statuses))
        return out

    def movements(self, until: datetime) -> list[tuple[str, Movement]]:
        """(data source uuid, movement) for every customer, in time order."""
        found = [
            (ds_uuid, move)
            for ds_uuid, views, plans in self.sources
            for move in account_movements(views, plans, until, self.grace)
        ]
        return sorted(found, key=lambda p: (p[1].at, p[0], p[1].customer_external_id,
                                            p[1].currency))  # fmt: skip


class Money:
    """Amounts in several currencies, turned into the account currency at a day's rates
    (``saasync.fx``); with ``enabled`` False (counts only) every amount is 0 and no rate
    is needed."""

    def __init__(self, currency: str, rates: RateTable, enabled: bool = True) -> None:
        self.currency = currency
        self.rates = rates
        self.enabled = enabled

    def total(self, amounts: Mapping[str, int], day: date) -> int:
        return self.rates.total(amounts, self.currency, day) if self.enabled else 0

    def moves(self, moves: Sequence[Movement]) -> dict[MoveKind, int]:
        exact = dict.fromkeys(MOVE_KINDS, Fraction(0))
        if self.enabled:
            for m in moves:
                exact[m.kind] += self.rates.convert(m.amount, m.currency, self.currency, m.at.date())
        return {kind: round_minor(value) for kind, value in exact.items()}


def _point(day: date, mrr: int, customers: int, window: Sequence[tuple[str, Movement]],
           money: Money, now: Mapping[Any, _State], before: Mapping[Any, _State],
           prev_mrr: int) -> MetricPoint:  # fmt: skip
    moves = money.moves([m for _, m in window])
    new_customers = {(ds, m.customer_external_id) for ds, m in window
                     if m.kind is MoveKind.NEW_BIZ}  # fmt: skip
    churned = sum(
        state.status in PAYING and now[key].status not in PAYING
        for key, state in before.items() if key in now
    )  # fmt: skip
    return MetricPoint(
        day, mrr, customers,
        new_business=moves[MoveKind.NEW_BIZ], expansion=moves[MoveKind.EXPANSION],
        contraction=moves[MoveKind.CONTRACTION], churn=moves[MoveKind.CHURN],
        reactivation=moves[MoveKind.REACTIVATION], new_customers=len(new_customers),
        churned_customers=churned, prev_mrr=prev_mrr,
        prev_customers=sum(s.status in PAYING for s in before.values()),
    )  # fmt: skip


def metric_points(
    store: ApiStore, start: date, end: date, interval: str, grace: timedelta, money: Money
) -> tuple[list[MetricPoint], MetricPoint]:
    """The entries from ``start`` to ``end`` and the point just before the first interval.

    Headline MRR and customer counts come from ``reports.metrics.monthly_series`` (per
    currency, turned into the account currency at each entry's date); movements are the
    sum of the account's MRR movements (``rules.movements``, the activities) dated in each
    interval, each converted at its own day's rates. Raises ``fx.MissingRate``.
    """
    ends = _interval_ends(start, end, interval)
    mrr_at: dict[date, dict[str, int]] = {day: {} for day, _ in ends}
    counts: dict[date, int] = dict.fromkeys(mrr_at, 0)
    for ds in store.sources.all():
        with store.selected(ds):
            for p in monthly_series(store.local, start, end, grace, with_movements=False):
                if p.date in mrr_at:
                    mrr_at[p.date] = add_per_currency(mrr_at[p.date], p.metrics.mrr.items())
                    counts[p.date] += sum(p.metrics.customers[s] for s in PAYING)
    account = AccountViews(store, grace)
    first = datetime.combine(_period_start(start, interval), time.min, tzinfo=UTC) - _TICK
    before = account.states(first)
    opening_mrr = add_per_currency({}, (i for s in before.values() for i in s.mrr.items()))
    opening = MetricPoint(
        first.date(),
        money.total(opening_mrr, first.date()),
        sum(s.status in PAYING for s in before.values()),
    )
    moves = [(ds, m) for ds, m in account.movements(ends[-1][1]) if m.at > first]
    points: list[MetricPoint] = []
    opened, prev_mrr = first, opening.mrr
    for day, at in ends:
        now = account.states(at)
        window = [(ds, m) for ds, m in moves if opened < m.at <= at]
        mrr = money.total(mrr_at[day], day)
        points.append(_point(day, mrr, counts[day], window, money, now, before, prev_mrr))
        before, opened, prev_mrr = now, at, mrr
    return points, opening


def percentage_change(current: float, previous: float) -> float:
    return round(100 * (current - previous) / abs(previous), 2) if previous else 0.0


def pairs(points: Iterable[MetricPoint]) -> list[tuple[MetricPoint, MetricPoint | None]]:
    """Each point with the one before it (None for the first)."""
    out: list[tuple[MetricPoint, MetricPoint | None]] = []
    previous: MetricPoint | None = None
    for point in points:
        out.append((point, previous))
        previous = point
    return out
