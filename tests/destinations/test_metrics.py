"""Metrics from the store are the rules' verdicts: per currency, per status, month by month."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from rich.console import Console

from saasync.destinations.local import LocalStore
from saasync.fx import MissingRate, parse_rates
from saasync.reports.metrics import (
    FxTotal,
    compute_metrics,
    metrics_json,
    metrics_tables,
    month_ends,
    monthly_series,
)
from saasync.rules.changeset import OutInvoice, OutLine
from saasync.rules.status import CustomerStatus, SubStatus
from tests.destinations.helpers import store_with
from tests.factories import PLANS, customer, dt, invoice, paid, sub_line, subscription

LEAD, ACTIVE, PAST_DUE, CANCELLED = (
    CustomerStatus.LEAD,
    CustomerStatus.ACTIVE,
    CustomerStatus.PAST_DUE,
    CustomerStatus.CANCELLED,
)


def customers(
    store: LocalStore, at: str, grace: timedelta = timedelta(0)
) -> dict[CustomerStatus, int]:
    return {k: v for k, v in compute_metrics(store, dt(at), grace).customers.items() if v}


def test_mrr_is_kept_per_currency_usd_and_jpy_apart() -> None:
    store = store_with(
        customer("us"),
        customer("jp"),
        invoice("in_us", "2026-01-01", [sub_line(5000, sub="sub_us")], cid="us"),
        invoice(
            "in_us_y",
            "2026-01-01",
            [sub_line(120000, sub="sub_us_y", plan_id="pl_yearly", months=12)],
            cid="us",
        ),
        invoice("in_jp", "2026-01-01", [sub_line(3000, sub="sub_jp")], cid="jp", currency="JPY"),
    )
    m = compute_metrics(store, dt("2026-01-15"), timedelta(0))
    assert dict(m.mrr) == {"JPY": 3000, "USD": 15000}  # 5000 + 120000 / 12, yen apart
    assert dict(m.arr) == {"JPY": 36000, "USD": 180000}
    assert m.customers[ACTIVE] == 2
    assert m.subscriptions[SubStatus.ACTIVE] == 3


def test_tax_is_left_out_of_mrr() -> None:
    store = store_with(
        customer("cus_1"), invoice("in_1", "2026-01-01", [sub_line(6000, tax_amount=1000)])
    )
    assert dict(compute_metrics(store, dt("2026-01-10")).mrr) == {"USD": 5000}


def test_a_customer_with_only_one_time_lines_is_a_lead() -> None:
    store = store_with(customer("cus_1"), customer("cus_2"))
    # The builder would not send it (ONE_TIME_ONLY); stored directly it must still not count.
    store.import_invoices(
        "cus_1",
        [
            OutInvoice(
                "in_1",
                "cus_1",
                dt("2026-01-01"),
                "USD",
                (OutLine("one_time", 9900, description="setup"),),
            )
        ],
    )
    m = compute_metrics(store, dt("2026-01-10"))
    assert m.customers[LEAD] == 2  # cus_2 has nothing at all: a lead as well
    assert dict(m.mrr) == {} and sum(m.subscriptions.values()) == 0


def test_a_customer_whose_subscription_starts_later_is_still_a_lead() -> None:
    store = store_with(
        customer("cus_1", created_at=dt("2026-01-01")),
        invoice("in_1", "2026-03-01", [sub_line(5000, "2026-03-01")]),
    )
    assert customers(store, "2026-02-15") == {LEAD: 1}
    assert customers(store, "2026-03-15") == {ACTIVE: 1}


def test_on_hold_is_active_within_the_paid_period_then_past_due() -> None:
    store = store_with(
        customer("cus_1"),
        invoice("in_1", "2026-11-01", [sub_line(5000, "2026-11-01")]),
        subscription(status="paused", paused_at="2026-11-15"),
    )
    assert customers(store, "2026-11-20") == {ACTIVE: 1}
    later = compute_metrics(store, dt("2026-12-05"))
    assert later.customers[PAST_DUE] == 1 and later.subscriptions[SubStatus.PAST_DUE] == 1
    assert dict(later.mrr) == {"USD": 5000}  # past due still carries its MRR
    assert customers(store, "2026-12-05", grace=timedelta(days=7)) == {ACTIVE: 1}


def test_customer_status_precedence() -> None:
    store = store_with(
        customer("both"),  # one current, one lapsed -> Past-Due wins
        invoice("b1", "2026-01-01", [sub_line(1000, "2026-01-01", sub="b_old")], cid="both"),
        invoice("b2", "2026-02-01", [sub_line(1000, "2026-02-01", sub="b_new")], cid="both"),
        customer("mixed"),  # one active, one cancelled -> Active
        invoice(
            "m1",
            "2026-02-01",
            [
                sub_line(1000, "2026-02-01", sub="m_live"),
                sub_line(1000, "2026-02-01", sub="m_gone"),
            ],
            cid="mixed",
        ),
        subscription("m_gone", "cancelled", cid="mixed", cancelled_at="2026-02-05"),
        customer("gone"),  # every subscription cancelled -> Cancelled
        invoice("g1", "2026-02-01", [sub_line(1000, "2026-02-01", sub="g_1")], cid="gone"),
        subscription("g_1", "cancelled", cid="gone", cancelled_at="2026-02-05"),
        customer("lead"),
    )
    m = compute_metrics(store, dt("2026-02-10"))
    assert dict(m.customers) == {LEAD: 1, ACTIVE: 1, PAST_DUE: 1, CANCELLED: 1}
    assert dict(m.subscriptions) == {
        SubStatus.ACTIVE: 2,
        SubStatus.PAST_DUE: 1,
        SubStatus.CANCELLED: 2,
    }
    assert dict(m.mrr) == {"USD": 3000}  # b_old (past due), b_new, m_live


def test_void_takes_the_invoice_out_of_metrics() -> None:
    store = store_with(customer("cus_1"), invoice("in_1", "2026-01-01", [sub_line(5000)]))
    assert customers(store, "2026-01-10") == {ACTIVE: 1}
    store.void_invoice("in_1")
    m = compute_metrics(store, dt("2026-01-10"))
    assert customers(store, "2026-01-10") == {LEAD: 1} and dict(m.mrr) == {}


def test_month_by_month_series() -> None:
    store = store_with(
        customer("cus_1", created_at=dt("2025-12-01")),
        customer("cus_2", created_at=dt("2025-12-01")),
        invoice("in_1", "2026-01-10", [sub_line(5000, "2026-01-10")]),
        invoice("in_2", "2026-02-10", [sub_line(7000, "2026-02-10")]),
        subscription(status="cancelled", cancelled_at="2026-03-05"),
        invoice(
            "in_3",
            "2026-02-01",
            [sub_line(1000, "2026-02-01", sub="s2", plan_id="pl_yearly", months=12)],
            cid="cus_2",
            currency="JPY",
            transactions=[paid("2026-02-01")],
        ),
    )
    series = monthly_series(store, date(2025, 12, 1), date(2026, 4, 30))
    assert [p.date for p in series] == [
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    assert [dict(p.metrics.mrr) for p in series] == [
        {},
        {"USD": 5000},
        {"JPY": 83, "USD": 7000},
        {"JPY": 83},
        {"JPY": 83},
    ]
    assert [p.metrics.customers[CANCELLED] for p in series] == [0, 0, 0, 1, 1]
    assert [p.metrics.customers[LEAD] for p in series] == [2, 1, 0, 0, 0]
    assert series[1].metrics.at == dt("2026-01-31") + timedelta(days=1, microseconds=-1)


def test_month_ends_stop_at_the_end_date_and_refuse_a_backwards_range() -> None:
    points = month_ends(date(2028, 1, 15), date(2028, 3, 10))
    assert [d for d, _ in points] == [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 10)]
    assert points[-1][1] == dt("2028-03-11") - timedelta(microseconds=1)
    with pytest.raises(ValueError):
        month_ends(date(2026, 2, 1), date(2026, 1, 1))


def test_renderers_show_major_units_and_json_keeps_minor_units() -> None:
    store = store_with(
        customer("us"),
        customer("jp"),
        invoice("a", "2026-01-01", [sub_line(123456, sub="s_us")], cid="us"),
        invoice("b", "2026-01-01", [sub_line(3000, sub="s_jp")], cid="jp", currency="JPY"),
    )
    current = compute_metrics(store, dt("2026-01-15"), timedelta(days=2))
    series = monthly_series(store, date(2026, 1, 1), date(2026, 1, 15), timedelta(days=2))
    doc = metrics_json(current, series)
    assert set(doc) == {
        "at",
        "mrr",
        "arr",
        "customers",
        "subscriptions",
        "grace_seconds",
        "money_unit",
        "series",
    }
    assert doc["mrr"] == {"JPY": 3000, "USD": 123456} and doc["grace_seconds"] == 172800
    assert doc["customers"] == {"Lead": 0, "Active": 2, "Past-Due": 0, "Cancelled": 0}
    assert doc["subscriptions"] == {"active": 2, "past_due": 0, "cancelled": 0}
    assert doc["series"][0]["date"] == "2026-01-15" and doc["series"][0]["mrr"]["USD"] == 123456
    console = Console(record=True, width=200)
    for table in metrics_tables(current, series):
        console.print(table)
    text = console.export_text()
    assert "1,234.56 USD" in text and "3,000 JPY" in text  # major units, each exponent
    assert "14,814.72 USD" in text and "36,000 JPY" in text and "Past-Due" in text


def test_plans_come_from_the_store() -> None:
    store = store_with(customer("cus_1"), invoice("in_1", "2026-01-01", [sub_line(5000)]))
    assert store.plans_by_external_id() == PLANS


def _monthly(iid: str, cid: str, start: str, amount: int, currency: str = "USD") -> OutInvoice:
    begin = dt(start)
    line = OutLine(
        "subscription", amount, subscription_external_id=f"s-{cid}", plan_external_id="pl_monthly",
        service_period_start=begin, service_period_end=begin + relativedelta(months=1),
    )  # fmt: skip
    return OutInvoice(iid, cid, begin, currency, (line,))


def _history_store() -> LocalStore:
    """us: 50.00 from January, cancelled on 1 March, invoiced again from 1 May (churn, then
    reactivation). eu: 40.00 EUR from February, 60.00 EUR from April (expansion)."""
    store = store_with(customer("us"), customer("eu"))
    store.import_invoices("us", [_monthly(f"us-{m}", "us", f"2026-0{m}-01", 5000)
                                 for m in (1, 2, 5, 6)])  # fmt: skip
    store.set_cancellation_dates("us", "s-us", [dt("2026-03-01")])
    store.import_invoices("eu", [_monthly(f"eu-{m}", "eu", f"2026-0{m}-01", 4000 if m < 4 else 6000,
                                          "EUR") for m in (2, 3, 4, 5, 6)])  # fmt: skip
    return store


def test_churn_then_reactivation_month_by_month() -> None:
    series = monthly_series(_history_store(), date(2026, 1, 1), date(2026, 6, 30))
    usd = [{k.value: v for k, v in p.movements.get("USD", {}).items() if v} for p in series]
    assert usd == [{"new_biz": 5000}, {}, {"churn": -5000}, {}, {"reactivation": 5000}, {}]
    eur = [{k.value: v for k, v in p.movements.get("EUR", {}).items() if v} for p in series]
    assert eur == [{}, {"new_biz": 4000}, {}, {"expansion": 2000}, {}, {}]
    # each month: MRR at its end = MRR at the one before + that month's movements
    previous: dict[str, int] = {}
    for point in series:
        for currency, moves in point.movements.items():
            assert point.metrics.mrr.get(currency, 0) == previous.get(currency, 0) + sum(
                moves.values()
            )
        previous = dict(point.metrics.mrr)


def test_metrics_show_movements_and_an_optional_total_in_one_currency() -> None:
    store = _history_store()
    current = compute_metrics(store, dt("2026-04-15"))
    series = monthly_series(store, date(2026, 1, 1), date(2026, 4, 15))
    rates = parse_rates("date,currency,rate\n2026-01-01,USD,1\n2026-01-01,EUR,0.8\n", "r.csv")
    doc = metrics_json(current, series, total=FxTotal("USD", rates))
    assert doc["total"] == {"currency": "USD", "mrr": 7500, "arr": 90000, "rates": "r.csv"}
    assert doc["series"][1]["movements"] == {
        "EUR": {"new_biz": 4000, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0}
    }
    assert doc["series"][1]["total"]["mrr"] == 5000 + 5000  # 40.00 EUR / 0.8 + 50.00 USD
    assert "total" not in metrics_json(current, series)
    console = Console(record=True, width=200)
    for table in metrics_tables(current, series, total=FxTotal("USD", rates)):
        console.print(table)
    text = console.export_text()
    assert "MRR movements" in text and "reactivation" in text
    assert "75.00 USD" in text  # the converted total
    with pytest.raises(MissingRate):
        metrics_json(current, series, total=FxTotal("JPY", rates))


def test_a_customer_counts_from_its_creation_time_at_the_source() -> None:
    store = store_with(customer("cus_1", created_at=dt("2026-03-01")))
    assert customers(store, "2026-02-15") == {}  # not yet a customer: under no status
    assert customers(store, "2026-03-15") == {LEAD: 1}


def test_a_customer_without_creation_time_counts_from_its_first_record() -> None:
    store = store_with(
        customer("cus_1"), invoice("in_1", "2026-03-01", [sub_line(5000, "2026-03-01")])
    )
    assert customers(store, "2026-02-15") == {}
    assert customers(store, "2026-03-15") == {ACTIVE: 1}
