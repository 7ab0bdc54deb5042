"""The bulk of the sample: ordinary customers drawn from a seeded ``random.Random``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .export import PLANS, VAT, Export, Row

UPGRADES = {"starter-monthly": "growth-monthly", "growth-monthly": "scale-monthly"}
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
BULK_CUSTOMERS = 240
CHURN = {"month": 0.025, "quarter": 0.05, "year": 0.15}  # chance of cancelling at a renewal
LEAD_WORK = ("Consulting workshop", "Training session", "Custom integration", "Data audit")


def add_bulk(x: Export, rng: random.Random) -> None:
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
