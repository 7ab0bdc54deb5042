"""Metrics from what analytics holds: MRR/ARR per currency, customers and subscriptions by
status, and each month's MRR movements (new business, expansion, contraction, churn,
reactivation).

Nothing here decides a status or an amount: the store hands over its subscription views
and ``saasync.rules.status`` judges them (``saasync.rules.movements`` for the movements, the
same derivation ``saasync serve`` answers activities from), so the numbers are the ones
``reconcile`` and ``explain`` reason about. Currencies are never added together (docs/rules.md §4);
an optional ``FxTotal`` adds a converted total next to them, at each date's rates.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from rich.table import Table

from saasync.destinations.base import customer_since_of
from saasync.fx import RateTable
from saasync.models import Plan
from saasync.money import format_money
from saasync.rules.movements import MOVE_KINDS, MoveKind, account_movements, totals_by_currency
from saasync.rules.mrr import add_per_currency
from saasync.rules.status import (
    CustomerStatus,
    SubscriptionView,
    SubStatus,
    customer_since,
    customer_status_at,
    subscription_mrr,
    subscription_status,
)

CUSTOMER_STATUSES: tuple[CustomerStatus, ...] = (
    CustomerStatus.LEAD,
    CustomerStatus.ACTIVE,
    CustomerStatus.PAST_DUE,
    CustomerStatus.CANCELLED,
)
SUBSCRIPTION_STATUSES: tuple[SubStatus, ...] = (
    SubStatus.ACTIVE,
    SubStatus.PAST_DUE,
    SubStatus.CANCELLED,
)


class MetricsSource(Protocol):
    """What metrics need from a store (``LocalStore`` provides it)."""

    def subscription_views(
        self, customer_external_id: str | None = None
    ) -> list[SubscriptionView]: ...

    def plans_by_external_id(self) -> dict[str, Plan]: ...

    def customer_external_ids(self) -> list[str]: ...


def _since(store: MetricsSource) -> Mapping[str, datetime | None]:
    """When each customer starts to count; a store that cannot tell: from its first invoice."""
    return customer_since_of(store)


@dataclass(frozen=True)
class Metrics:
    """The state of analytics at one instant. Money is in minor units, per currency."""

    at: datetime
    grace: timedelta
    mrr: Mapping[str, int]
    arr: Mapping[str, int]
    customers: Mapping[CustomerStatus, int]  # every status present, zeros included
    subscriptions: Mapping[SubStatus, int]  # subscriptions that exist at ``at``


@dataclass(frozen=True)
class MonthPoint:
    """Metrics at a month's end, dated like ChartMogul's entries (the month's last day), with
    the month's MRR movements per currency (every kind present, zeros included)."""

    date: date
    metrics: Metrics
    movements: Mapping[str, Mapping[MoveKind, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class FxTotal:
    """Ask for a total in one currency besides the per-currency figures, converted with
    ``rates`` at each figure's date (``saasync metrics --currency X --fx-rates FILE``)."""

    currency: str
    rates: RateTable

    def mrr(self, metrics: Metrics) -> int:
        return self.rates.total(metrics.mrr, self.currency, metrics.at.date())


@dataclass(frozen=True)
class _Snapshot:
    """Everything metrics read from the store, loaded once and evaluated at many instants."""

    customers: tuple[str, ...]
    views: Mapping[str, tuple[SubscriptionView, ...]]
    plans: Mapping[str, Plan]
    since: Mapping[str, datetime | None]  # when each customer starts to count (None: always)

    @classmethod
    def load(cls, store: MetricsSource) -> _Snapshot:
        views: dict[str, list[SubscriptionView]] = {}
        for view in store.subscription_views():
            views.setdefault(view.customer_external_id, []).append(view)
        customers = dict.fromkeys(store.customer_external_ids())
        customers.update(dict.fromkeys(views))  # defensive: a view always has its customer
        known = _since(store)
        since = {
            cid: known[cid] if cid in known else customer_since(
                None, [d for v in views.get(cid, ()) if (d := v.starts_at) is not None])
            for cid in customers
        }
        return cls(
            tuple(customers),
            {cid: tuple(vs) for cid, vs in views.items()},
            store.plans_by_external_id(),
            since,
        )

    def at(self, when: datetime, grace: timedelta) -> Metrics:
        by_customer = dict.fromkeys(CUSTOMER_STATUSES, 0)
        by_subscription = dict.fromkeys(SUBSCRIPTION_STATUSES, 0)
        mrr: dict[str, int] = {}
        for customer in self.customers:
            statuses: list[SubStatus | None] = []
            for view in self.views.get(customer, ()):
                status = subscription_status(view, when, grace)
                statuses.append(status)
                if status is not None:
                    by_subscription[status] += 1
                amount = subscription_mrr(view, self.plans, when, grace)
                if amount is not None:
                    mrr = add_per_currency(mrr, [amount])
            status_now = customer_status_at(self.since.get(customer), statuses, when)
            if status_now is not None:  # before it exists a customer counts under no status
                by_customer[status_now] += 1
        return Metrics(
            at=when,
            grace=grace,
            mrr=dict(sorted(mrr.items())),
            arr={currency: 12 * amount for currency, amount in sorted(mrr.items())},
            customers=by_customer,
            subscriptions=by_subscription,
        )


def compute_metrics(store: MetricsSource, at: datetime, grace: timedelta = timedelta(0)) -> Metrics:
    """Metrics at ``at``: a customer that exists then with no subscription existing is a Lead;
    one created later counts under no status."""
    return _Snapshot.load(store).at(at, grace)


def month_ends(start: date, end: date) -> list[tuple[date, datetime]]:
    """(entry date, evaluation instant) for each month from ``start``'s to ``end``'s.

    A month is judged at its last instant, like ChartMogul's entries dated at each
    interval's end. The month holding ``end`` is judged at the end of ``end`` instead:
    a series up to today must not report a future that has not happened.
    """
    if end < start:
        raise ValueError(f"the series ends ({end}) before it starts ({start})")
    points: list[tuple[date, datetime]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        last = date(year, month, calendar.monthrange(year, month)[1])
        day = min(last, end)
        points.append((day, datetime.combine(day, time.max, tzinfo=UTC)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return points


def monthly_series(
    store: MetricsSource,
    start: date,
    end: date,
    grace: timedelta = timedelta(0),
    *,
    with_movements: bool = True,
) -> list[MonthPoint]:
    """The same metrics at each month end between ``start`` and ``end`` (store read once),
    with the MRR movements dated in each month (none when ``with_movements`` is False)."""
    snapshot = _Snapshot.load(store)
    ends = month_ends(start, end)
    moves = (
        account_movements(snapshot.views, snapshot.plans, ends[-1][1], grace)
        if with_movements
        else []
    )
    opened = datetime.combine(start.replace(day=1), time.min, tzinfo=UTC)
    points: list[MonthPoint] = []
    for day, when in ends:
        window = [m for m in moves if opened <= m.at <= when]
        points.append(MonthPoint(day, snapshot.at(when, grace), totals_by_currency(window)))
        opened = when + timedelta(microseconds=1)
    return points


# -- renderers -----------------------------------------------------------------------------


def _money(amounts: Mapping[str, int]) -> str:
    return "\n".join(format_money(v, c) for c, v in amounts.items()) if amounts else "-"


def _amount(minor: int, currency: str) -> str:
    """Major units without the code: the column header already names the currency."""
    return format_money(minor, currency).rsplit(" ", 1)[0]


def _currencies(metrics: Metrics, series: Sequence[MonthPoint]) -> list[str]:
    seen = set(metrics.mrr)
    for point in series:
        seen |= set(point.metrics.mrr)
    return sorted(seen)


def metrics_tables(
    metrics: Metrics, series: Sequence[MonthPoint] = (), total: FxTotal | None = None
) -> list[Table]:
    """A summary table, then (when given) one row per month and the months' MRR movements.
    Money in major units; ``total`` adds MRR converted into one currency."""
    summary = Table(title=f"Metrics at {metrics.at:%Y-%m-%d %H:%M} UTC")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row("MRR", _money(metrics.mrr))
    summary.add_row("ARR", _money(metrics.arr))
    if total is not None:
        converted = total.mrr(metrics)
        summary.add_row(f"MRR total in {total.currency}", format_money(converted, total.currency))
        summary.add_row(f"ARR total in {total.currency}",
                        format_money(12 * converted, total.currency))  # fmt: skip
    for status in CUSTOMER_STATUSES:
        summary.add_row(f"customers {status.value}", str(metrics.customers[status]))
    for sub_status in SUBSCRIPTION_STATUSES:
        summary.add_row(f"subscriptions {sub_status.value}", str(metrics.subscriptions[sub_status]))
    if total is not None:
        summary.caption = f"totals converted at each date's rate from {total.rates.label}"
    tables = [summary]
    if series:
        tables.append(_monthly_table(metrics, series, total))
        tables.append(_movements_table(series))
    return tables


def _monthly_table(
    metrics: Metrics, series: Sequence[MonthPoint], total: FxTotal | None
) -> Table:
    monthly = Table(title="Month by month")
    monthly.add_column("month end")
    currencies = _currencies(metrics, series)
    for currency in currencies:
        monthly.add_column(f"MRR {currency}", justify="right")
    if total is not None:
        monthly.add_column(f"MRR total {total.currency}", justify="right")
    for status in CUSTOMER_STATUSES:
        monthly.add_column(status.value, justify="right")
    monthly.add_column("subs active", justify="right")
    monthly.add_column("subs past due", justify="right")
    for point in series:
        m = point.metrics
        converted = [_amount(total.mrr(m), total.currency)] if total is not None else []
        monthly.add_row(
            point.date.isoformat(),
            *(_amount(m.mrr.get(c, 0), c) for c in currencies),
            *converted,
            *(str(m.customers[s]) for s in CUSTOMER_STATUSES),
            str(m.subscriptions[SubStatus.ACTIVE]),
            str(m.subscriptions[SubStatus.PAST_DUE]),
        )
    return monthly


def _movements_table(series: Sequence[MonthPoint]) -> Table:
    """One row per month and currency that moved; churn and contraction are negative."""
    table = Table(title="MRR movements")
    table.add_column("month end")
    table.add_column("currency")
    for kind in MOVE_KINDS:
        table.add_column(kind.value.replace("_", " "), justify="right")
    table.add_column("net", justify="right")
    for point in series:
        for currency, moves in point.movements.items():
            table.add_row(
                point.date.isoformat(),
                currency,
                *(_amount(moves.get(kind, 0), currency) for kind in MOVE_KINDS),
                _amount(sum(moves.values()), currency),
            )
    return table




def _metrics_doc(metrics: Metrics, total: FxTotal | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "at": metrics.at.isoformat(),
        "mrr": dict(metrics.mrr),
        "arr": dict(metrics.arr),
        "customers": {s.value: metrics.customers[s] for s in CUSTOMER_STATUSES},
        "subscriptions": {s.value: metrics.subscriptions[s] for s in SUBSCRIPTION_STATUSES},
    }
    if total is not None:
        converted = total.mrr(metrics)
        doc["total"] = {"currency": total.currency, "mrr": converted, "arr": 12 * converted}
    return doc


def metrics_json(
    metrics: Metrics, series: Sequence[MonthPoint] = (), total: FxTotal | None = None
) -> dict[str, Any]:
    """Stable keys; money as integer minor units per ISO currency code (as ChartMogul's cents).
    Each month lists its movements per currency that moved (every kind, zeros included);
    ``total`` adds ``total`` blocks converted into one currency (raises ``MissingRate``)."""
    doc = {
        **_metrics_doc(metrics, total),
        "grace_seconds": int(metrics.grace.total_seconds()),
        "money_unit": "minor",
        "series": [
            {
                "date": p.date.isoformat(),
                **_metrics_doc(p.metrics, total),
                "movements": {
                    currency: {kind.value: moves.get(kind, 0) for kind in MOVE_KINDS}
                    for currency, moves in p.movements.items()
                },
            }
            for p in series
        ],
    }
    if total is not None:
        doc["total"]["rates"] = total.rates.label
    return doc
