"""MRR movements: when and why a customer's MRR changed, derived from its subscription views.

This is the one derivation behind ``saasync metrics``' monthly movements and the server's
activities and ``mrr-*`` movement figures, so the two always agree.

A subscription's MRR (``rules.status.subscription_mrr``) can only change at an instant
when one of its facts takes effect: an invoice is issued, a service period starts, a
cancellation date passes. Every such instant is judged in order and each change of the
customer's MRR in a currency is one movement, typed the way ChartMogul types activities:

- ``new_biz``: the customer had no MRR and never had any;
- ``reactivation``: the customer had no MRR but had some before (it churned);
- ``churn``: the customer's MRR (in every currency) drops to zero;
- ``expansion`` / ``contraction``: the MRR in a currency goes up / down otherwise.

Amounts stay in their own currency (currencies are never added together); the MRR after
the movement is the customer's MRR in that currency. Past-due subscriptions keep their MRR
(docs/rules.md §4), so going past due is no movement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from saasync.models import Plan
from saasync.rules.status import SubscriptionView, subscription_mrr


class MoveKind(StrEnum):
    NEW_BIZ = "new_biz"
    EXPANSION = "expansion"
    CONTRACTION = "contraction"
    CHURN = "churn"
    REACTIVATION = "reactivation"


MOVE_KINDS: tuple[MoveKind, ...] = tuple(MoveKind)


@dataclass(frozen=True)
class Movement:
    """One change of a customer's MRR in one currency (money in minor units)."""

    at: datetime
    customer_external_id: str
    subscription_external_id: str  # the subscription that moved most
    plan_external_id: str | None
    currency: str
    kind: MoveKind
    amount: int  # signed: negative for contraction and churn
    mrr: int  # the customer's MRR in ``currency`` after the movement


def change_instants(views: Iterable[SubscriptionView]) -> list[datetime]:
    """Every instant at which one of these subscriptions' MRR may change, in order."""
    instants: set[datetime] = set()
    for view in views:
        instants.update(view.cancellation_dates)
        for invoice in view.invoices:
            instants.add(invoice.date)
            instants.update(
                line.service_period_start
                for line in view.lines(invoice)
                if line.service_period_start is not None
            )
    return sorted(instants)


def _plan_at(view: SubscriptionView, at: datetime) -> str | None:
    issued = view.issued_by(at) or sorted(
        view.invoices, key=lambda inv: (inv.date, inv.external_id)
    )
    lines = view.lines(issued[-1]) if issued else []
    return lines[-1].plan_external_id if lines else None


def customer_movements(
    views: Sequence[SubscriptionView],
    plans: Mapping[str, Plan],
    until: datetime,
    grace: timedelta = timedelta(0),
) -> list[Movement]:
    """The movements of one customer (all ``views`` are its subscriptions) up to ``until``."""
    out: list[Movement] = []
    before: dict[str, tuple[str, int]] = {}  # subscription -> (currency, MRR)
    ever_paid = False
    for at in change_instants(views):
        if at > until:
            break
        now: dict[str, tuple[str, int]] = {}
        for view in views:
            found = subscription_mrr(view, plans, at, grace)
            if found is not None and found[1] != 0:
                now[view.external_id] = found
        paying_before, paying_now = bool(before), bool(now)
        for currency in sorted({c for c, _ in before.values()} | {c for c, _ in now.values()}):
            old = sum(m for c, m in before.values() if c == currency)
            new = sum(m for c, m in now.values() if c == currency)
            if old == new:
                continue
            if not paying_before:
                kind = MoveKind.REACTIVATION if ever_paid else MoveKind.NEW_BIZ
            elif not paying_now:
                kind = MoveKind.CHURN
            else:
                kind = MoveKind.EXPANSION if new > old else MoveKind.CONTRACTION
            mover = _mover(views, before, now, currency)
            out.append(Movement(
                at, mover.customer_external_id, mover.external_id, _plan_at(mover, at),
                currency, kind, new - old, new,
            ))  # fmt: skip
        ever_paid = ever_paid or paying_now
        before = now
    return out


def _mover(
    views: Sequence[SubscriptionView],
    before: Mapping[str, tuple[str, int]],
    now: Mapping[str, tuple[str, int]],
    currency: str,
) -> SubscriptionView:
    """The subscription whose MRR in ``currency`` changed most (first by id on a tie)."""

    def change(view: SubscriptionView) -> int:
        old = before.get(view.external_id)
        new = now.get(view.external_id)
        return abs((new[1] if new and new[0] == currency else 0)
                   - (old[1] if old and old[0] == currency else 0))  # fmt: skip

    return max(sorted(views, key=lambda v: v.external_id), key=change)


def account_movements(
    customers: Mapping[str, Sequence[SubscriptionView]],
    plans: Mapping[str, Plan],
    until: datetime,
    grace: timedelta = timedelta(0),
) -> list[Movement]:
    """Every customer's movements, in time order (then by customer, then currency)."""
    found = [
        move
        for views in customers.values()
        for move in customer_movements(views, plans, until, grace)
    ]
    return sorted(found, key=lambda m: (m.at, m.customer_external_id, m.currency))


def totals_by_currency(
    moves: Iterable[Movement],
) -> dict[str, dict[MoveKind, int]]:
    """Summed movements per currency and kind (every kind present, zeros included)."""
    out: dict[str, dict[MoveKind, int]] = {}
    for move in moves:
        per_kind = out.setdefault(move.currency, dict.fromkeys(MOVE_KINDS, 0))
        per_kind[move.kind] += move.amount
    return dict(sorted(out.items()))
