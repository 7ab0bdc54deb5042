"""Small builders of normalized records for tests: readable cases, sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dateutil.relativedelta import relativedelta

from saasync.models import Customer, Invoice, LineItem, Plan, SourceSubscription, Transaction


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def plan(pid: str = "pl_monthly", unit: str = "month", count: int = 1) -> Plan:
    return Plan(external_id=pid, name=pid, interval_unit=unit, interval_count=count)  # type: ignore[arg-type]


PLANS = {p.external_id: p for p in [plan(), plan("pl_yearly", "year"), plan("pl_weekly", "week")]}


def customer(cid: str = "cus_1", **kw: Any) -> Customer:
    return Customer(external_id=cid, name=kw.pop("name", cid), **kw)


def sub_line(
    amount: int,
    start: str = "2026-01-01",
    *,
    sub: str = "sub_1",
    plan_id: str = "pl_monthly",
    months: int = 1,
    **kw: Any,
) -> LineItem:
    s = dt(start)
    return LineItem(
        kind="subscription",
        subscription_external_id=sub,
        plan_external_id=plan_id,
        service_period_start=s,
        service_period_end=s + relativedelta(months=months),
        amount=amount,
        **kw,
    )


def one_time(amount: int, **kw: Any) -> LineItem:
    return LineItem(kind="one_time", amount=amount, **kw)


def paid(date: str, amount: int | None = None, ext: str | None = None) -> Transaction:
    return Transaction(type="payment", result="successful", date=dt(date), amount=amount, external_id=ext)


def failed_attempt(date: str) -> Transaction:
    return Transaction(type="payment", result="failed", date=dt(date))


def invoice(
    iid: str,
    issued: str,
    lines: list[LineItem],
    *,
    status: str = "paid",
    cid: str = "cus_1",
    currency: str = "USD",
    transactions: list[Transaction] | None = None,
    **kw: Any,
) -> Invoice:
    if transactions is None:
        transactions = [paid(issued)] if status == "paid" else []
    return Invoice(
        external_id=iid,
        customer_external_id=cid,
        issued_at=dt(issued),
        currency=currency,
        status=status,  # type: ignore[arg-type]
        lines=tuple(lines),
        transactions=tuple(transactions),
        **kw,
    )


def subscription(sid: str = "sub_1", status: str = "active", cid: str = "cus_1", **kw: Any) -> SourceSubscription:
    for key in ("cancelled_at", "paused_at", "current_period_end", "started_at"):
        if isinstance(kw.get(key), str):
            kw[key] = dt(kw[key])
    return SourceSubscription(external_id=sid, customer_external_id=cid, status=status, **kw)  # type: ignore[arg-type]
