"""The rows of one sample export and how they are built: plans, prices, VAT, invoices.

``Export`` holds the rows in the files' own shape (``connectors/files/columns.py``); every
date is relative to the last invoice month (``month0``). ``as_text`` is a value as the
export file holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta

from saasync.money import to_major

from ..columns import MONEY

Row = dict[str, Any]

# plan id: (name, interval unit, interval count, net unit price in USD, EUR, JPY minor units)
PLANS: dict[str, tuple[str, str, int, dict[str, int]]] = {
    "free-monthly": ("Free", "month", 1, {"USD": 0, "EUR": 0, "JPY": 0}),
    "starter-monthly": ("Starter (monthly)", "month", 1, {"USD": 2900, "EUR": 2700, "JPY": 4000}),
    "growth-monthly": ("Growth (monthly)", "month", 1, {"USD": 10000, "EUR": 9500, "JPY": 15000}),
    "scale-monthly": ("Scale (monthly)", "month", 1, {"USD": 29900, "EUR": 27900, "JPY": 45000}),
    "team-monthly": ("Team, per seat (monthly)", "month", 1, {"USD": 1200, "EUR": 1100, "JPY": 1800}),
    "growth-quarterly": (
        "Growth (quarterly)", "month", 3, {"USD": 27000, "EUR": 25500, "JPY": 40000}
    ),
    "starter-yearly": ("Starter (yearly)", "year", 1, {"USD": 29000, "EUR": 27000, "JPY": 40000}),
    "growth-yearly": ("Growth (yearly)", "year", 1, {"USD": 100000, "EUR": 95000, "JPY": 150000}),
    "scale-yearly": ("Scale (yearly)", "year", 1, {"USD": 299000, "EUR": 279000, "JPY": 450000}),
}  # fmt: skip
VAT = {"DE": 19, "FR": 20, "NL": 21, "ES": 21, "IT": 22, "IE": 23}


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_text(name: str, value: Any, currency: str | None) -> Any:
    """A value as the CSV holds it: money in major units, times in ISO 8601 UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, list):  # past_cancellation_dates: one cell, ";"-separated
        return ";".join(iso(v) for v in value)
    if name in MONEY and isinstance(value, int) and currency:
        return f"{to_major(value, currency):f}"
    return str(value)


@dataclass
class Export:
    """The rows of one export, in the files' own shape (see COLUMNS)."""

    end: date
    month0: datetime  # first day of the last invoice month
    as_of: datetime  # the moment the export was taken
    plans: list[Row] = field(default_factory=list)
    customers: list[Row] = field(default_factory=list)
    subscriptions: list[Row] = field(default_factory=list)
    invoices: list[Row] = field(default_factory=list)  # each with "lines" and "transactions"
    _counters: dict[str, int] = field(default_factory=dict)

    def month(self, back: int, days: int = 0) -> datetime:
        """The first of the month ``back`` months before the last invoice month, plus days."""
        first: datetime = self.month0 - relativedelta(months=back)
        return first + timedelta(days=days)

    def next_invoice_id(self, stem: str) -> str:
        self._counters[stem] = self._counters.get(stem, 0) + 1
        return f"inv_{stem}_{self._counters[stem]}"

    def customer(
        self, cid: str, name: str, created: datetime, *, country: str = "US",
        company: str | None = None, account_status: str | None = None,
        billing: bool | None = None,
    ) -> None:  # fmt: skip
        company = company or f"{cid.removeprefix('cus_').replace('_', ' ').title()} Inc"
        domain = "-".join(company.lower().split()[:2])
        email = f"{name.split()[0].lower()}.{name.split()[-1].lower()}@{domain}.example"
        self.customers.append(
            {
                "external_id": cid, "name": name, "email": email, "company": company,
                "country": country, "created_at": created, "account_status": account_status,
                "billing_cycle_enabled": billing, "updated_at": created + timedelta(hours=1),
            }
        )  # fmt: skip

    def subscription(
        self, sid: str, cid: str, plan: str, status: str, started: datetime, *,
        cancelled: datetime | None = None, paused: datetime | None = None,
        period_end: datetime | None = None, updated: datetime | None = None,
    ) -> None:  # fmt: skip
        stamps = [s for s in (started, cancelled, paused, updated) if s and s <= self.as_of]
        latest = max(stamps, default=started)
        self.subscriptions.append(
            {
                "external_id": sid, "customer_external_id": cid, "plan_external_id": plan,
                "status": status, "started_at": started, "cancelled_at": cancelled,
                "paused_at": paused, "current_period_end": period_end, "updated_at": latest,
            }
        )  # fmt: skip

    def sub_line(
        self, sid: str, plan: str, start: datetime, currency: str, country: str, *,
        quantity: int = 1, percent_off: int = 0, unit: int | None = None,
        description: str | None = None, end: datetime | None = None,
    ) -> Row:  # fmt: skip
        """A subscription line for one full period, priced from the plan, VAT included."""
        name, interval, count, prices = PLANS[plan]
        step = relativedelta(years=count) if interval == "year" else relativedelta(months=count)
        end = end or start + step
        gross = (prices[currency] if unit is None else unit) * quantity
        discount = int((Decimal(gross) * percent_off / 100).to_integral_value(ROUND_HALF_UP))
        amount, tax = with_tax(gross - discount, currency, country)
        return {
            "kind": "subscription", "subscription_external_id": sid, "plan_external_id": plan,
            "service_period_start": start, "service_period_end": end, "quantity": quantity,
            "prorated": False, "amount": amount, "discount_amount": discount or None,
            "tax_amount": tax or None, "description": description or name,
        }  # fmt: skip

    def one_time(
        self, net: int, currency: str, country: str, description: str, sid: str | None = None
    ) -> Row:
        amount, tax = with_tax(net, currency, country)
        return {
            "kind": "one_time", "subscription_external_id": sid, "amount": amount,
            "tax_amount": tax or None, "description": description,
        }  # fmt: skip

    def invoice(
        self, stem: str, cid: str, issued: datetime | str, currency: str, lines: Sequence[Row],
        *, status: str = "paid", paid: datetime | None = None, due: datetime | None = None,
        discount: int = 0, code: str | None = None, failed: Sequence[datetime] = (),
    ) -> str:  # fmt: skip
        """One invoice; a paid one gets a successful payment of its total (at ``paid``)."""
        iid = self.next_invoice_id(stem)
        issued_at = issued if isinstance(issued, datetime) else None
        total = sum(int(line["amount"]) for line in lines) - discount
        txs: list[Row] = [
            {"type": "payment", "result": "failed", "date": when, "amount": total}
            for when in failed
        ]
        if status in ("paid", "closed") and total > 0:
            when = paid or (issued_at or self.month0) + timedelta(minutes=7)
            txs.append({"type": "payment", "result": "successful", "date": when, "amount": total})
        for n, tx in enumerate(txs, start=1):
            tx["external_id"] = f"{iid}_tx{n}"
        stamps = [t["date"] for t in txs] + ([issued_at] if issued_at else [])
        self.invoices.append(
            {
                "external_id": iid, "customer_external_id": cid, "issued_at": issued,
                "due_at": (due or issued_at) if total > 0 else None,  # nothing to collect
                "currency": currency, "status": status,
                "discount_amount": discount or None, "discount_code": code,
                "updated_at": max(stamps) if stamps else None,
                "lines": [{"external_id": f"{iid}_li{n}", **line} for n, line in enumerate(lines, 1)],
                "transactions": txs,
            }
        )  # fmt: skip
        return iid

    def paid_months(
        self, stem: str, cid: str, sid: str, plan: str, months: Sequence[int], *,
        currency: str = "USD", country: str = "US", quantity: int = 1, percent_off: int = 0,
        pay_after: timedelta = timedelta(minutes=7), due_after: timedelta = timedelta(0),
    ) -> datetime | None:  # fmt: skip
        """Paid invoices at the start of each of ``months`` (months back from the last).

        Returns the end of the last paid service period.
        """
        end = None
        for back in months:
            start = self.month(back)
            line = self.sub_line(
                sid, plan, start, currency, country, quantity=quantity, percent_off=percent_off
            )
            due = start + due_after
            self.invoice(stem, cid, start, currency, [line], paid=start + pay_after, due=due)
            end = line["service_period_end"]
        return end


def with_tax(net: int, currency: str, country: str) -> tuple[int, int]:
    """(amount tax included, tax): VAT on EUR lines at the customer's country rate."""
    if currency != "EUR" or net <= 0:
        return net, 0
    tax = int((Decimal(net) * VAT[country] / 100).to_integral_value(ROUND_HALF_UP))
    return net + tax, tax
