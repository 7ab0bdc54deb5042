"""Bundled sample data: a small SaaS business's billing exports, generated deterministically.

``generate(out_dir, end=...)`` writes the exports the ``files`` connector reads. Every
date is relative to ``end`` (any day of the last invoice month), so the data can be
regenerated for any month and always looks current. The export is taken as of the
15th of that month (``as_of``): nothing in it happens later.

Two parts: the scenario customers, with readable ids, each exercising one rule of
docs/rules.md (``sample_data/SCENARIOS.md`` says what analytics must show for each), and a
seeded random bulk of ordinary customers. Exactly three rows are deliberately bad, so
a newcomer sees the review queue. Run ``python -m saasync.sample OUT_DIR``.

``generate(..., invoices_only=True)`` (``--invoices-only``) writes a second, small
export instead: three customers' invoices and no subscription rows, as an accounting
system exports them, to show automatic churn (``auto_churn_days``).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

from saasync.money import to_major

Row = dict[str, Any]

# The file format (connectors/files/BEHAVIOR.md). The core never imports a connector, so
# the column lists live here too; a test checks the connector reads what this writes.
COLUMNS: dict[str, tuple[str, ...]] = {
    "plans": ("external_id", "name", "interval_unit", "interval_count", "updated_at"),
    "customers": (
        "external_id", "name", "email", "company", "country", "created_at",
        "account_status", "billing_cycle_enabled", "updated_at",
    ),
    "subscriptions": (
        "external_id", "customer_external_id", "plan_external_id", "status", "started_at",
        "cancelled_at", "paused_at", "current_period_end", "updated_at",
        "past_cancellation_dates",
    ),
    "invoices": (
        "external_id", "customer_external_id", "issued_at", "due_at", "currency", "status",
        "discount_amount", "discount_code", "updated_at",
    ),
    "invoice_lines": (
        "invoice_external_id", "external_id", "kind", "subscription_external_id",
        "plan_external_id", "service_period_start", "service_period_end", "quantity",
        "prorated", "amount", "discount_amount", "tax_amount", "description",
    ),
    "transactions": ("invoice_external_id", "external_id", "type", "result", "date", "amount"),
}  # fmt: skip
MONEY = frozenset({"amount", "discount_amount", "tax_amount"})
INTEGERS = frozenset({"quantity", "interval_count"})

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
UPGRADES = {"starter-monthly": "growth-monthly", "growth-monthly": "scale-monthly"}
VAT = {"DE": 19, "FR": 20, "NL": 21, "ES": 21, "IT": 22, "IE": 23}
COUNTRIES = {"USD": ("US", "US", "US", "CA", "GB", "AU"), "EUR": tuple(VAT), "JPY": ("JP",)}
FIRST = (
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kai",
    "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomas", "Uma",
    "Viktor", "Wen", "Yara", "Zoe", "Aiko", "Bruno", "Carla", "Dmitri", "Emma",
)  # fmt: skip
LAST = (
    "Andersen", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hayashi",
    "Ivanova", "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi",
    "Schmidt", "Tanaka", "Ueda", "Vogel", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
WORDS = (
    "Acme", "Blue", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper",
    "Kestrel", "Lumen", "Maple", "Nimbus", "Orbit", "Pine", "Quartz", "Ridge", "Summit",
    "Tidal", "Umber", "Vertex", "Willow", "Zephyr",
)  # fmt: skip
TRADES = (
    "Analytics", "Labs", "Software", "Studio", "Logistics", "Health", "Media", "Robotics",
    "Cloud", "Foods",
)  # fmt: skip
ONE_TIME = {"USD": 50000, "EUR": 45000, "JPY": 60000}  # onboarding / setup fee, net


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(name: str, value: Any, currency: str | None) -> Any:
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


# --------------------------------------------------------------------------------------
# Scenario customers: one rule of docs/rules.md each; SCENARIOS.md says what analytics shows.
# --------------------------------------------------------------------------------------

SCENARIO_NAMES = (
    "Ada Moreau", "Bilal Okafor", "Clara Jensen", "Diego Rossi", "Eva Lindqvist",
    "Felix Wagner", "Gita Rao", "Hugo Martin", "Isla Byrne", "Jun Takeda", "Kara Novak",
    "Liam Walsh", "Mina Park", "Noah Fischer", "Olga Petrova", "Pablo Ruiz", "Rin Sato",
    "Sara Cohen", "Theo Laurent", "Una Keane", "Vera Horvat", "Will Turner", "Xin Liu",
    "Yusuf Demir", "Zara Ahmed", "Arne Berg", "Bea Costa", "Cyril Dupont", "Dana Levi",
    "Emil Nowak", "Fay Gordon", "Gus Meyer", "Hana Ito", "Ivan Kuznetsov", "Jade Wong",
    "Kofi Mensah", "Lara Silva", "Milo Brandt", "Nora Hayes", "Otto Klein", "Pia Lund",
    "Raj Mehta", "Sofia Greco", "Tariq Aziz", "Ugo Bianchi", "Vik Sharma",
    "Alma Ruiz", "Boris Lenz", "Chloe Petit",
)  # fmt: skip

BAD_STATUS = "awaiting_approval"  # deliberately bad row 1: not in the status mapping table


def _invalid_date(x: Export, back: int) -> str:
    """Deliberately bad row 2: a day that does not exist (e.g. 2026-09-31)."""
    first = x.month(back)
    return f"{first.year}-{first.month:02d}-{monthrange(first.year, first.month)[1] + 1:02d}"


class _Scenarios:
    """Adds the scenario customers to an export; each method is one family of rules."""

    def __init__(self, x: Export) -> None:
        self.x = x
        self.names = iter(SCENARIO_NAMES)

    def customer(self, slug: str, created: datetime, **kw: Any) -> str:
        cid = f"cus_{slug}"
        self.x.customer(cid, next(self.names), created, **kw)
        return cid

    def plain(
        self, slug: str, plan: str, months: Sequence[int], *, status: str = "active",
        currency: str = "USD", country: str = "US", quantity: int = 1, percent_off: int = 0,
        account: str | None = None, billing: bool | None = None, **sub: Any,
    ) -> tuple[str, str]:  # fmt: skip
        """A customer with one subscription, paid at the start of each of ``months``."""
        x, first = self.x, self.x.month(max(months))
        cid = self.customer(
            slug, first - timedelta(days=2), country=country, account_status=account,
            billing=billing,
        )  # fmt: skip
        sid = f"sub_{slug}"
        end = x.paid_months(
            slug, cid, sid, plan, sorted(months, reverse=True), currency=currency,
            country=country, quantity=quantity, percent_off=percent_off,
        )  # fmt: skip
        sub.setdefault("period_end", end)
        x.subscription(sid, cid, plan, status, first, **sub)
        return cid, sid

    def add_all(self) -> None:
        self.baseline_and_trials()
        self.discounts_and_one_time()
        self.terminal_invoices()
        self.open_invoices()
        self.lifecycle()
        self.billing_shapes()
        self.audit_accounts()
        self.bad_rows()
        self.cancellation_history()

    def baseline_and_trials(self) -> None:
        x, m = self.x, self.x.month
        self.plain("steady_monthly", "growth-monthly", [5, 4, 3, 2, 1, 0])
        cid = self.customer("trial_then_paid", m(2, -1))
        sid = "sub_trial_then_paid"
        trial = x.sub_line(sid, "growth-monthly", m(2), "USD", "US", unit=0,
                           description="Growth (monthly), 30-day free trial")  # fmt: skip
        x.invoice("trial_then_paid", cid, m(2), "USD", [trial])
        end = x.paid_months("trial_then_paid", cid, sid, "growth-monthly", [1, 0])
        x.subscription(sid, cid, "growth-monthly", "active", m(2), period_end=end)
        cid = self.customer("trial_running", m(0, 2))
        sid = "sub_trial_running"
        trial = x.sub_line(sid, "growth-monthly", m(0, 2), "USD", "US", unit=0,
                           description="Growth (monthly), 30-day free trial")  # fmt: skip
        x.invoice("trial_running", cid, m(0, 2), "USD", [trial])
        x.subscription(sid, cid, "growth-monthly", "in_trial", m(0, 2),
                       period_end=trial["service_period_end"])  # fmt: skip
        cid = self.customer("trial_cancelled", m(1, -1))
        sid = "sub_trial_cancelled"
        trial = x.sub_line(sid, "starter-monthly", m(1), "USD", "US", unit=0,
                           description="Starter (monthly), 30-day free trial")  # fmt: skip
        x.invoice("trial_cancelled", cid, m(1), "USD", [trial])
        x.subscription(sid, cid, "starter-monthly", "canceled", m(1), cancelled=m(0),
                       period_end=m(0))  # fmt: skip
        cid = self.customer("trial_no_invoice", m(0, 5))
        x.subscription("sub_trial_no_invoice", cid, "scale-monthly", "trialing", m(0, 5),
                       period_end=m(0, 19))  # fmt: skip

    def discounts_and_one_time(self) -> None:
        x, m = self.x, self.x.month
        cid = self.customer("full_coupon", m(2, -3))
        sid = "sub_full_coupon"
        for back in (2, 1, 0):
            line = x.sub_line(sid, "growth-monthly", m(back), "USD", "US")
            x.invoice(
                "full_coupon", cid, m(back), "USD", [line], discount=10000, code="FOUNDERS100"
            )
        x.subscription(sid, cid, "growth-monthly", "active", m(2), period_end=m(-1))
        self.plain("partial_coupon", "growth-monthly", [2, 1, 0], percent_off=25)
        cid = self.customer("invoice_coupon", m(1, -2))
        sid = "sub_invoice_coupon"
        line = x.sub_line(sid, "scale-monthly", m(1), "USD", "US")
        x.invoice("invoice_coupon", cid, m(1), "USD", [line], discount=5000, code="LOYAL50")
        lines = [x.sub_line(sid, "scale-monthly", m(0), "USD", "US"),
                 x.one_time(10000, "USD", "US", "Extra workspace (one-time)")]  # fmt: skip
        x.invoice("invoice_coupon", cid, m(0), "USD", lines, discount=5000, code="LOYAL50")
        x.subscription(sid, cid, "scale-monthly", "active", m(1), period_end=m(-1))
        cid = self.customer("setup_fee", m(3, -1))
        sid = "sub_setup_fee"
        lines = [x.sub_line(sid, "growth-monthly", m(3), "USD", "US"),
                 x.one_time(50000, "USD", "US", "Onboarding & setup fee")]  # fmt: skip
        x.invoice("setup_fee", cid, m(3), "USD", lines)
        end = x.paid_months("setup_fee", cid, sid, "growth-monthly", [2, 1, 0])
        x.subscription(sid, cid, "growth-monthly", "active", m(3), period_end=end)
        cid = self.customer("one_time_only", m(5, 5))
        for when, net, what in ((m(5, 9), 120000, "Consulting workshop"),
                                (m(2, 14), 80000, "Data migration service")):  # fmt: skip
            x.invoice("one_time_only", cid, when, "USD", [x.one_time(net, "USD", "US", what)],
                      paid=when + timedelta(days=6), due=when + timedelta(days=14))  # fmt: skip
        cid = self.customer("one_time_sub", m(4, -1))
        sid = "sub_one_time_sub"
        line = x.one_time(29000, "USD", "US", "Starter annual licence (manual invoice)", sid)
        x.invoice("one_time_sub", cid, m(4), "USD", [line], paid=m(4, 3), due=m(4, 14))
        x.subscription(sid, cid, "starter-yearly", "active", m(4), period_end=m(-8))

    def terminal_invoices(self) -> None:
        x, m = self.x, self.x.month
        cid = self.customer("no_active_invoice", m(2, -1))
        sid = "sub_no_active_invoice"
        line = x.sub_line(sid, "growth-monthly", m(2), "USD", "US")
        x.invoice("no_active_invoice", cid, m(2), "USD", [line], status="voided")
        x.invoice("no_active_invoice", cid, m(2, 1), "USD", [line], status="uncollectible",
                  failed=[m(2, 1), m(2, 4), m(2, 8)])  # fmt: skip
        draft = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("no_active_invoice", cid, m(0), "USD", [draft], status="draft")
        x.subscription(sid, cid, "growth-monthly", "unpaid", m(2), period_end=m(1))
        cid, sid = self.plain("voided_invoice", "growth-monthly", [3, 2, 1, 0])
        line = x.sub_line(sid, "growth-monthly", m(1), "USD", "US")
        x.invoice("voided_invoice", cid, m(1) + timedelta(hours=3), "USD", [line], status="void")
        cid, sid = self.plain("failed_then_cancelled", "starter-monthly", [5, 4, 3],
                              status="canceled", cancelled=m(2, 14))  # fmt: skip
        line = x.sub_line(sid, "starter-monthly", m(2), "USD", "US")
        x.invoice("failed_then_cancelled", cid, m(2), "USD", [line], status="uncollectible",
                  failed=[m(2), m(2, 3), m(2, 7)])  # fmt: skip

    def open_invoices(self) -> None:
        x, m = self.x, self.x.month
        week, month = timedelta(days=7), timedelta(days=30)
        cid = self.customer("open_past_due", m(3, -2))
        sid = "sub_open_past_due"
        x.paid_months("open_past_due", cid, sid, "growth-monthly", [3, 2, 1],
                      pay_after=timedelta(days=5), due_after=week)  # fmt: skip
        line = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("open_past_due", cid, m(0), "USD", [line], status="open", due=m(0) + week)
        x.subscription(sid, cid, "growth-monthly", "past_due", m(3), period_end=m(-1))
        cid, sid = self.plain("open_failed_attempt", "growth-monthly", [2, 1],
                              status="past_due", period_end=m(-1))  # fmt: skip
        line = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("open_failed_attempt", cid, m(0), "USD", [line], status="payment_due",
                  failed=[m(0) + timedelta(minutes=7), m(0, 3)])  # fmt: skip
        cid = self.customer("open_not_due", m(3, -2))
        sid = "sub_open_not_due"
        x.paid_months("open_not_due", cid, sid, "starter-monthly", [3, 2, 1],
                      pay_after=timedelta(days=20), due_after=month)  # fmt: skip
        line = x.sub_line(sid, "starter-monthly", m(0), "USD", "US")
        x.invoice("open_not_due", cid, m(0), "USD", [line], status="posted", due=m(0) + month)
        x.subscription(sid, cid, "starter-monthly", "active", m(3), period_end=m(-1))
        cid = self.customer("open_only", m(0, 3))
        sid = "sub_open_only"
        line = x.sub_line(sid, "scale-monthly", m(0, 4), "USD", "US")
        x.invoice("open_only", cid, m(0, 4), "USD", [line], status="open", due=m(0, 4) + month)
        x.subscription(sid, cid, "scale-monthly", "active", m(0, 4),
                       period_end=line["service_period_end"])  # fmt: skip

    def lifecycle(self) -> None:
        x, m = self.x, self.x.month
        self.plain("on_hold", "growth-monthly", [2, 1, 0], status="on_hold", paused=m(0, 9))
        self.plain("paused_past_due", "starter-monthly", [4, 3, 2], status="paused",
                   paused=m(2, 14))  # fmt: skip
        self.plain("cancelled", "starter-monthly", [6, 5, 4, 3], status="cancelled",
                   cancelled=m(2))  # fmt: skip
        cid, sid = self.plain("reactivated", "growth-monthly", [7, 6, 5], cancelled=m(4),
                              updated=m(2))  # fmt: skip
        x.paid_months("reactivated", cid, sid, "growth-monthly", [2, 1, 0])
        x.subscriptions[-1]["current_period_end"] = m(-1)
        cid, sid = self.plain("seats", "team-monthly", [3, 2], quantity=5, period_end=m(-1))
        x.paid_months("seats", cid, sid, "team-monthly", [1, 0], quantity=8)
        cid, sid = self.plain("upgrade", "starter-monthly", [3, 2], period_end=m(-1))
        x.paid_months("upgrade", cid, sid, "growth-monthly", [1, 0])
        x.subscriptions[-1]["plan_external_id"] = "growth-monthly"
        cid, sid = self.plain("downgrade_to_free", "growth-monthly", [3, 2], period_end=m(-1))
        x.paid_months("downgrade_to_free", cid, sid, "free-monthly", [1, 0])
        x.subscriptions[-1]["plan_external_id"] = "free-monthly"
        cid, sid = self.plain("two_subs", "growth-monthly", [2, 1, 0])
        addon = "sub_two_subs_addon"
        x.paid_months("two_subs", cid, addon, "starter-monthly", [3, 2])
        line = x.sub_line(addon, "starter-monthly", m(1), "USD", "US")
        x.invoice("two_subs", cid, m(1), "USD", [line], status="payment_due",
                  failed=[m(1) + timedelta(minutes=7), m(1, 3)])  # fmt: skip
        x.subscription(addon, cid, "starter-monthly", "past_due", m(3), period_end=m(0))

    def cancellation_history(self) -> None:
        """Cancellations as a history (reactivation keeps the churn), a withdrawn scheduled
        cancellation and an immediate cancellation. (Automatic churn needs an export without
        subscription rows: see ``build_invoices_only``.)"""
        x, m = self.x, self.x.month
        cid, sid = self.plain("churned_and_back", "growth-monthly", [6, 5], updated=m(2))
        x.paid_months("churned_and_back", cid, sid, "growth-monthly", [2, 1, 0])
        x.subscriptions[-1].update(current_period_end=m(-1), past_cancellation_dates=[m(4)])
        self.plain("withdrawn_cancel", "growth-monthly", [2, 1, 0], cancelled=m(-1),
                   updated=m(0, 10))  # fmt: skip
        cid = self.customer("immediate_cancel", m(1, 9))
        sid = "sub_immediate_cancel"
        start = m(1, 9) + timedelta(hours=10)
        line = x.sub_line(sid, "starter-monthly", start, "USD", "US")
        x.invoice("immediate_cancel", cid, start, "USD", [line])
        x.subscription(sid, cid, "starter-monthly", "canceled", start, cancelled=start,
                       period_end=start)  # fmt: skip

    def billing_shapes(self) -> None:
        self.plain("yearly", "growth-yearly", [8])
        self.plain("quarterly", "growth-quarterly", [3])
        x, m = self.x, self.x.month
        x.paid_months("quarterly", "cus_quarterly", "sub_quarterly", "growth-quarterly", [0])
        x.subscriptions[-1]["current_period_end"] = m(-3)
        self.plain("eur_vat", "growth-monthly", [2, 1, 0], currency="EUR", country="DE")
        self.plain("jpy", "growth-monthly", [2, 1, 0], currency="JPY", country="JP")

    def audit_accounts(self) -> None:
        """Accounts with an account status and billing-cycle flag (docs/rules.md, out-of-sync accounts)."""
        m, plan = self.x.month, "starter-monthly"
        self.plain("audit_in_sync", plan, [2, 1, 0], account="ACTIVE", billing=True)
        self.plain("audit_active_billing_off", plan, [3, 2], account="ACTIVE", billing=False)
        self.plain("audit_active_suspended_sub", plan, [3, 2, 1], status="suspended",
                   paused=m(1, 9), account="ACTIVE", billing=True)  # fmt: skip
        self.plain("audit_active_no_subs", plan, [6, 5], status="cancelled", cancelled=m(4),
                   account="ACTIVE", billing=True)  # fmt: skip
        self.plain("audit_inactive_with_subs", plan, [3, 2, 1, 0], account="INACTIVE",
                   billing=True)  # fmt: skip
        self.customer("audit_lead_billing_on", m(1, 12), account_status="LEAD", billing=True)
        cid = self.customer("audit_pending_billing_on", m(0, 6), account_status="PENDING",
                            billing=True)  # fmt: skip
        self.x.subscription("sub_audit_pending_billing_on", cid, plan, "future", m(-1),
                            updated=m(0, 6))  # fmt: skip
        self.customer("audit_pending_no_subs", m(0, 8), account_status="PENDING", billing=False)
        self.plain("audit_suspended_active_sub", plan, [2, 1, 0], account="SUSPENDED",
                   billing=True)  # fmt: skip
        self.plain("audit_suspended_no_subs", plan, [5, 4, 3], status="expired",
                   cancelled=m(2), account="SUSPENDED", billing=False)  # fmt: skip
        self.plain("audit_suspended_in_sync", plan, [3, 2, 1], status="suspended",
                   paused=m(1, 4), account="SUSPENDED", billing=False)  # fmt: skip
        self.plain("audit_inactive_in_sync", plan, [6, 5, 4], status="cancelled",
                   cancelled=m(3), account="INACTIVE", billing=False)  # fmt: skip

    def bad_rows(self) -> None:
        """The three deliberately bad rows: they land in the review queue, nothing else breaks."""
        x, m = self.x, self.x.month
        cid = self.customer("bad_status", m(0, -2))
        sid = "sub_bad_status"
        line = x.sub_line(sid, "growth-monthly", m(0), "USD", "US")
        x.invoice("bad_status", cid, m(0), "USD", [line], status=BAD_STATUS)
        x.subscription(sid, cid, "growth-monthly", "active", m(0), period_end=m(-1))
        cid = self.customer("bad_date", m(2, -2))
        sid = "sub_bad_date"
        line = x.sub_line(sid, "growth-monthly", m(2), "USD", "US")
        x.invoice(
            "bad_date", cid, _invalid_date(x, 2), "USD", [line], paid=m(2) + timedelta(minutes=7)
        )
        end = x.paid_months("bad_date", cid, sid, "growth-monthly", [1, 0])
        x.subscription(sid, cid, "growth-monthly", "active", m(2), period_end=end)
        cid, sid = self.plain("bad_quantity", "team-monthly", [2, 1], quantity=4,
                              period_end=m(-1))  # fmt: skip
        line = x.sub_line(sid, "team-monthly", m(0), "USD", "US", quantity=4)
        line["quantity"] = -4  # deliberately bad row 3: a negative quantity
        x.invoice("bad_quantity", cid, m(0), "USD", [line])


# --------------------------------------------------------------------------------------
# The bulk: ordinary customers drawn from a seeded random.Random.
# --------------------------------------------------------------------------------------

BULK_CUSTOMERS = 240
CHURN = {"month": 0.025, "quarter": 0.05, "year": 0.15}  # chance of cancelling at a renewal
LEAD_WORK = ("Consulting workshop", "Training session", "Custom integration", "Data audit")


def _bulk(x: Export, rng: random.Random) -> None:
    for n in range(1, BULK_CUSTOMERS + 1):
        back = rng.choices(range(18), weights=[1 + 0.12 * (17 - b) for b in range(18)])[0]
        signup = x.month(back, rng.randrange(28))
        if signup >= x.as_of:
            signup = x.as_of - timedelta(days=1 + rng.randrange(10))
        currency = rng.choices(("USD", "EUR", "JPY"), weights=(60, 25, 15))[0]
        country = rng.choice(COUNTRIES[currency])
        cid = f"cus_{n:04d}"
        x.customer(
            cid, f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            signup - timedelta(hours=rng.randrange(1, 48)), country=country,
            company=f"{rng.choice(WORDS)} {rng.choice(TRADES)}",
        )  # fmt: skip
        if rng.random() < 0.07:
            _bulk_lead(x, rng, cid, f"{n:04d}", signup, currency, country)
        else:
            _bulk_subscription(x, rng, cid, f"{n:04d}", signup, currency, country)


def _bulk_lead(
    x: Export, rng: random.Random, cid: str, stem: str, signup: datetime, currency: str,
    country: str,
) -> None:  # fmt: skip
    """A customer billed only one-time work: a Lead in analytics (ONE_TIME_ONLY)."""
    when = signup
    for _ in range(rng.randint(1, 2)):
        if when >= x.as_of:
            return
        net = rng.randrange(300, 1500, 50) * 100
        net = net * 3 // 2 if currency == "JPY" else net
        line = x.one_time(net, currency, country, rng.choice(LEAD_WORK))
        paid = when + timedelta(days=rng.randint(3, 20))
        due = when + timedelta(days=14)
        if paid <= x.as_of:
            x.invoice(stem, cid, when, currency, [line], paid=paid, due=due)
        else:
            x.invoice(stem, cid, when, currency, [line], status="open", due=due)
        when += timedelta(days=rng.randint(20, 120))


def _pick_plan(rng: random.Random) -> str:
    interval = rng.choices(("monthly", "yearly", "quarterly"), weights=(70, 20, 10))[0]
    if interval == "quarterly":
        return "growth-quarterly"
    tier = rng.choices(("starter", "growth", "scale", "team"), weights=(45, 35, 10, 10))[0]
    if interval == "yearly" and tier == "team":
        tier = "growth"
    return f"{tier}-{interval}"


def _period(plan: str) -> str:
    _, unit, count, _ = PLANS[plan]
    return "year" if unit == "year" else "quarter" if count == 3 else "month"


def _bulk_subscription(
    x: Export, rng: random.Random, cid: str, stem: str, signup: datetime, currency: str,
    country: str,
) -> None:  # fmt: skip
    sid, plan = f"sub_{stem}", _pick_plan(rng)
    seats = rng.randint(2, 20) if plan == "team-monthly" else 1
    started = start = datetime(signup.year, signup.month, signup.day, tzinfo=UTC)
    state: dict[str, Any] = {"status": "active", "period_end": None}
    if plan.endswith("-monthly") and rng.random() < 0.35:
        end = start + timedelta(days=14)
        trial = x.sub_line(sid, plan, start, currency, country, quantity=seats, unit=0, end=end,
                           description=f"{PLANS[plan][0]}, 14-day free trial")  # fmt: skip
        x.invoice(stem, cid, start, currency, [trial])
        state["period_end"], start = end, end
        if start > x.as_of:
            state["status"] = rng.choice(("trialing", "in_trial"))
    card = rng.random() < 0.8
    percent = rng.choice((10, 20, 25, 50)) if rng.random() < 0.12 else 0
    setup = rng.random() < 0.1
    renewals = 0
    while start < x.as_of and state["status"] == "active":
        if renewals:
            roll = rng.random()
            if roll < CHURN[_period(plan)]:
                state.update(
                    status=rng.choice(("cancelled", "canceled", "expired")), cancelled=start
                )
                break
            if roll < CHURN[_period(plan)] + 0.012:
                paused = start - timedelta(days=rng.randrange(3, 20))
                state.update(status=rng.choice(("paused", "on_hold")), paused=paused)
                break
            if plan in UPGRADES and rng.random() < 0.04:
                plan = UPGRADES[plan]
            if plan == "team-monthly" and rng.random() < 0.15:
                seats = max(1, seats + rng.choice((-2, -1, 1, 2, 3)))
        line = x.sub_line(sid, plan, start, currency, country, quantity=seats,
                          percent_off=percent if renewals < 3 else 0)  # fmt: skip
        lines = [line]
        if setup and not renewals:
            lines.append(
                x.one_time(ONE_TIME[currency], currency, country, "Onboarding & setup fee")
            )
        _bulk_charge(x, rng, stem, cid, start, currency, lines, card, state)
        if rng.random() < 0.015 and state["status"] == "active":
            x.invoice(stem, cid, start + timedelta(hours=1), currency, [line],
                      status=rng.choice(("void", "voided")))  # fmt: skip
        state["period_end"] = start = line["service_period_end"]
        renewals += 1
    if state["status"] == "active" and card and start - x.as_of < timedelta(days=5):
        line = x.sub_line(sid, plan, start, currency, country, quantity=seats)
        x.invoice(stem, cid, x.as_of - timedelta(hours=2), currency, [line], status="draft")
    if state["status"] == "active" and rng.random() < 0.03:
        state["status"] = "non_renewing"
    x.subscription(
        sid, cid, plan, state["status"], started, cancelled=state.get("cancelled"),
        paused=state.get("paused"), period_end=state["period_end"],
    )  # fmt: skip


def _bulk_charge(
    x: Export, rng: random.Random, stem: str, cid: str, start: datetime, currency: str,
    lines: list[Row], card: bool, state: dict[str, Any],
) -> None:  # fmt: skip
    """Invoice one period: paid by card (with the odd failed attempt) or by bank transfer."""
    if card:
        roll, first = rng.random(), start + timedelta(minutes=rng.randrange(2, 50))
        if roll < 0.015:  # dunning exhausted: the invoice fails, the subscription ends
            attempts = [
                first + timedelta(days=d) for d in (0, 3, 7) if first + timedelta(days=d) <= x.as_of
            ]
            if start + timedelta(days=14) <= x.as_of:
                word = rng.choice(("uncollectible", "not_paid", "failed"))
                x.invoice(stem, cid, start, currency, lines, status=word, failed=attempts)
                state.update(status="cancelled", cancelled=start + timedelta(days=14))
            else:
                x.invoice(stem, cid, start, currency, lines, status="payment_due", failed=attempts)
                state["status"] = "past_due"
        elif roll < 0.06:  # the first attempt fails, the retry two days later succeeds
            retry = first + timedelta(days=2)
            if retry <= x.as_of:
                x.invoice(stem, cid, start, currency, lines, paid=retry, failed=[first])
            else:
                x.invoice(stem, cid, start, currency, lines, status="payment_due", failed=[first])
                state["status"] = "past_due"
        else:
            word = "closed" if rng.random() < 0.1 else "paid"
            x.invoice(stem, cid, start, currency, lines, status=word, paid=first)
        return
    due, paid = start + timedelta(days=30), start + timedelta(days=rng.randint(4, 40))
    if paid <= x.as_of:
        x.invoice(stem, cid, start, currency, lines, paid=paid, due=due)
    elif due < x.as_of:
        x.invoice(stem, cid, start, currency, lines, status="past_due", due=due)
        state["status"] = "unpaid"
    else:
        word = rng.choice(("open", "posted"))
        x.invoice(stem, cid, start, currency, lines, status=word, due=due)


# --------------------------------------------------------------------------------------
# Writing the files.
# --------------------------------------------------------------------------------------


def build(end: date, seed: int = 7, as_of: datetime | None = None) -> Export:
    """The whole export in memory: scenario customers, then the seeded bulk, date-sorted.

    The export is taken on the 15th of ``end``'s month unless ``as_of`` says when (the
    demo takes it "now", so renewals due up to today exist and nothing looks late).
    """
    x = _empty_export(end, as_of)
    _Scenarios(x).add_all()
    _bulk(x, random.Random(seed))
    _sort(x)
    return x


def _empty_export(end: date, as_of: datetime | None) -> Export:
    """An export of ``end``'s month with the plans and no other rows."""
    month0 = datetime(end.year, end.month, 1, tzinfo=UTC)
    x = Export(end, month0, as_of or month0 + timedelta(days=14))
    for plan_id, (name, unit, count, _) in PLANS.items():
        x.plans.append(
            {"external_id": plan_id, "name": name, "interval_unit": unit,
             "interval_count": count, "updated_at": month0 - relativedelta(months=24)}
        )  # fmt: skip
    return x


def _sort(x: Export) -> None:
    x.customers.sort(key=lambda r: (r["created_at"], r["external_id"]))
    x.subscriptions.sort(key=lambda r: (r["started_at"], r["external_id"]))
    x.invoices.sort(key=lambda r: (_text("issued_at", r["issued_at"], None), r["external_id"]))


# The invoices-only sample: (slug, name, plan, months paid, as months back from the last).
INVOICES_ONLY = (
    ("stopped_paying", "Ines Ueda", "starter-monthly", (6, 5, 4)),
    ("paying_monthly", "Omar Vogel", "growth-monthly", (5, 4, 3, 2, 1, 0)),
    ("churned_and_back", "Rosa Lopez", "starter-monthly", (7, 6, 2, 1, 0)),
)


def build_invoices_only(end: date, as_of: datetime | None = None) -> Export:
    """An accounting system's export: customers and paid invoices, no subscription rows.

    Every subscription is inferred from the invoice lines, so nothing in the export ever
    says one is cancelled; ``auto_churn_days`` does (SCENARIOS.md, "The invoices-only
    sample"). One customer per case: stopped paying months ago, paying every month,
    stopped and came back.
    """
    x = _empty_export(end, as_of)
    for slug, name, plan, months in INVOICES_ONLY:
        cid = f"cus_{slug}"
        x.customer(cid, name, x.month(max(months), -2))
        x.paid_months(slug, cid, f"sub_{slug}", plan, months)
    _sort(x)
    return x


def _tables(x: Export) -> dict[str, list[Row]]:
    """Flat rows per CSV file (lines and transactions point at their invoice)."""
    tables: dict[str, list[Row]] = {
        "plans": x.plans, "customers": x.customers, "subscriptions": x.subscriptions,
        "invoices": [], "invoice_lines": [], "transactions": [],
    }  # fmt: skip
    for invoice in x.invoices:
        tables["invoices"].append(invoice)
        for name, nested in (("invoice_lines", "lines"), ("transactions", "transactions")):
            for row in invoice[nested]:
                tables[name].append(
                    {**row, "invoice_external_id": invoice["external_id"],
                     "_currency": invoice["currency"]}
                )  # fmt: skip
    return tables


def _write_csv(x: Export, out_dir: Path) -> None:
    for name, rows in _tables(x).items():
        if not rows:  # the invoices-only export has no subscriptions file at all
            continue
        with (out_dir / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS[name])
            for row in rows:
                currency = row.get("_currency") or row.get("currency")
                writer.writerow([_text(col, row.get(col), currency) for col in COLUMNS[name]])


def _json_object(row: Row, columns: Sequence[str], currency: str | None) -> Row:
    out: Row = {}
    for col in columns:
        value = row.get(col)
        if value is None or col == "invoice_external_id":
            continue
        if isinstance(value, bool) or (col in INTEGERS and isinstance(value, int)):
            out[col] = value
        else:
            out[col] = _text(col, value, currency)
    return out


def _write_jsonl(x: Export, out_dir: Path) -> None:
    for name in ("plans", "customers", "subscriptions", "invoices"):
        rows: list[Row] = getattr(x, name)
        if not rows:
            continue
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                obj = _json_object(row, COLUMNS[name], row.get("currency"))
                if name == "invoices":
                    for nested, table in (
                        ("lines", "invoice_lines"),
                        ("transactions", "transactions"),
                    ):
                        obj[nested] = [
                            _json_object(item, COLUMNS[table], row["currency"])
                            for item in row[nested]
                        ]
                handle.write(json.dumps(obj, ensure_ascii=False) + "\n")


def generate(out_dir: Path, *, end: date, seed: int = 7, fmt: str = "csv",
             as_of: datetime | None = None, invoices_only: bool = False) -> None:
    """Write the sample exports for the month of ``end`` into ``out_dir`` (csv or jsonl);
    ``invoices_only``: the small export without subscription rows instead."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    export = build_invoices_only(end, as_of) if invoices_only else build(end, seed, as_of)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (_write_csv if fmt == "csv" else _write_jsonl)(export, out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m saasync.sample",
        description="Write the sample billing exports (a small SaaS business) for the files connector.",
    )
    parser.add_argument("out_dir", type=Path, help="directory to write the export files into")
    parser.add_argument(
        "--end", type=date.fromisoformat, default=datetime.now(UTC).date(),
        help="a day of the last invoice month (default: today); the export is as of its 15th",
    )  # fmt: skip
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random bulk (default 7)")
    parser.add_argument("--invoices-only", action="store_true",
                        help="the small invoices-only export (no subscription rows) instead")
    args = parser.parse_args(argv)
    generate(args.out_dir, end=args.end, seed=args.seed, fmt=args.format,
             invoices_only=args.invoices_only)
    which = "invoices-only sample" if args.invoices_only else "sample"
    print(f"wrote the {args.format} {which} for {args.end:%Y-%m} to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
