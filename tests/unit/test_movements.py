"""MRR movements from subscription views: the one derivation behind monthly movements and
activities (new_biz, expansion, contraction, churn, reactivation)."""

from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta

from saasync.rules.changeset import OutInvoice, OutLine
from saasync.rules.movements import MoveKind, account_movements, customer_movements
from saasync.rules.status import SubscriptionView
from tests.factories import PLANS, dt

FAR = dt("2030-01-01")


def _inv(iid: str, start: str, *lines: tuple[str, int], currency: str = "USD") -> OutInvoice:
    begin = dt(start)
    return OutInvoice(iid, "c", begin, currency, tuple(
        OutLine("subscription", amount, subscription_external_id=sub, plan_external_id="pl_monthly",
                service_period_start=begin, service_period_end=begin + relativedelta(months=1))
        for sub, amount in lines
    ))  # fmt: skip


def _view(
    sub: str, *invoices: OutInvoice, cancelled: tuple[datetime, ...] = ()
) -> SubscriptionView:
    return SubscriptionView(sub, "c", tuple(invoices), cancelled)


def _summary(views: list[SubscriptionView]) -> list[tuple[str, str, int, int]]:
    return [
        (m.at.date().isoformat(), m.kind.value, m.amount, m.mrr)
        for m in customer_movements(views, PLANS, FAR)
    ]


def test_upgrade_downgrade_and_a_second_subscription_are_expansion_and_contraction() -> None:
    a = _view("a", _inv("1", "2026-01-01", ("a", 1000)), _inv("2", "2026-02-01", ("a", 3000)),
              _inv("3", "2026-03-01", ("a", 2000)))  # fmt: skip
    b = _view("b", _inv("4", "2026-02-15", ("b", 500)))
    assert _summary([a, b]) == [
        ("2026-01-01", "new_biz", 1000, 1000),
        ("2026-02-01", "expansion", 2000, 3000),
        ("2026-02-15", "expansion", 500, 3500),
        ("2026-03-01", "contraction", -1000, 2500),
    ]


def test_churn_needs_every_subscription_gone_and_a_return_is_a_reactivation() -> None:
    a = _view("a", _inv("1", "2026-01-01", ("a", 1000)), cancelled=(dt("2026-02-01"),))
    b = _view("b", _inv("2", "2026-01-01", ("b", 400)), _inv("3", "2026-04-01", ("b", 400)),
              cancelled=(dt("2026-03-01"),))  # fmt: skip
    assert _summary([a, b]) == [
        ("2026-01-01", "new_biz", 1400, 1400),
        ("2026-02-01", "contraction", -1000, 400),
        ("2026-03-01", "churn", -400, 0),
        ("2026-04-01", "reactivation", 400, 400),
    ]
    moves = customer_movements([a, b], PLANS, FAR)
    assert [m.subscription_external_id for m in moves] == ["a", "a", "b", "b"]


def test_currencies_move_apart_and_nothing_after_until_is_seen() -> None:
    usd = _view("u", _inv("1", "2026-01-01", ("u", 1000)))
    jpy = _view("j", _inv("2", "2026-02-01", ("j", 3000), currency="JPY"))
    moves = account_movements({"c": [usd, jpy]}, PLANS, dt("2026-01-31"))
    assert [(m.kind, m.currency, m.amount) for m in moves] == [(MoveKind.NEW_BIZ, "USD", 1000)]
    later = customer_movements([usd, jpy], PLANS, FAR)
    assert [(m.kind, m.currency, m.mrr) for m in later] == [
        (MoveKind.NEW_BIZ, "USD", 1000),
        (MoveKind.EXPANSION, "JPY", 3000),
    ]
