"""Seeded generator of large data sets in the files connector's JSON Lines format.

N customers × M months with the mix of the sample business: monthly/yearly/quarterly
plans, USD/EUR/JPY, trials ($0 first invoice), coupons, setup fees, drafts, voids,
failed and open invoices, pauses and cancellations. Written as a stream: memory stays
flat whatever N is.

    python bench/generate.py OUT_DIR --customers 10000 --months 12
    python bench/generate.py OUT_DIR --invoices 100000 --months 12   # customers from customers_for()
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from dateutil.relativedelta import relativedelta

PLANS = [
    ("starter-monthly", "Starter", "month", 1, {"USD": "29.00", "EUR": "27.00", "JPY": "3900"}),
    ("growth-monthly", "Growth", "month", 1, {"USD": "100.00", "EUR": "95.00", "JPY": "15000"}),
    ("growth-quarterly", "Growth quarterly", "month", 3, {"USD": "270.00", "EUR": "256.00", "JPY": "40000"}),
    ("growth-yearly", "Growth yearly", "year", 1, {"USD": "1000.00", "EUR": "950.00", "JPY": "150000"}),
]
PLAN_WEIGHTS = (40, 40, 10, 10)  # how often each of PLANS is chosen
STATUS_MIX = [("paid", 0.9), ("open", 0.03), ("failed", 0.02), ("void", 0.02), ("draft", 0.03)]


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def invoices_per_customer(months: int) -> float:
    """Expected invoices per customer over ``months``: a plan billed every p months issues
    ceil(months / p) invoices (signups fall in the first 28 days, so none is lost)."""
    total = sum(PLAN_WEIGHTS)
    return sum(w / total * -(-months // (12 * n if unit == "year" else n))
               for (_, _, unit, n, _), w in zip(PLANS, PLAN_WEIGHTS, strict=True))


def customers_for(invoices: int, months: int) -> int:
    """How many customers make about ``invoices`` invoices over ``months``."""
    return max(1, round(invoices / invoices_per_customer(months)))


def write(handle: TextIO, row: dict[str, Any]) -> None:
    handle.write(json.dumps(row, separators=(",", ":")))
    handle.write("\n")


def generate(out: Path, customers: int, months: int, seed: int = 7) -> int:
    """Write the data set; return the number of invoices."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    start = datetime(2021, 1, 1, tzinfo=UTC)
    count = 0
    with (out / "plans.jsonl").open("w") as plans:
        for pid, name, unit, n, _ in PLANS:
            write(plans, {"external_id": pid, "name": name, "interval_unit": unit, "interval_count": n})
    with (out / "customers.jsonl").open("w") as cust, (out / "subscriptions.jsonl").open("w") as subs, (
        out / "invoices.jsonl"
    ).open("w") as invs:
        for c in range(customers):
            cid, sid = f"cus_{c:07d}", f"sub_{c:07d}"
            currency = rng.choices(("USD", "EUR", "JPY"), (60, 25, 15))[0]
            pid, _, unit, n, prices = rng.choices(PLANS, PLAN_WEIGHTS)[0]
            step = relativedelta(years=n) if unit == "year" else relativedelta(months=n)
            signup = start + relativedelta(days=rng.randrange(0, 28))
            write(cust, {"external_id": cid, "name": f"Customer {c}", "email": f"c{c}@example.com",
                         "created_at": iso(signup), "updated_at": iso(signup)})
            trial = rng.random() < 0.2
            coupon = rng.random() < 0.05
            period = signup
            issued = 0
            for m in range(months):
                if period >= start + relativedelta(months=months):
                    break
                end = period + step
                amount = "0" if trial and m == 0 else prices[currency]
                status = rng.choices([s for s, _ in STATUS_MIX], [w for _, w in STATUS_MIX])[0]
                lines = [{"kind": "subscription", "subscription_external_id": sid, "plan_external_id": pid,
                          "service_period_start": iso(period), "service_period_end": iso(end),
                          "amount": amount}]
                if m == 0 and rng.random() < 0.1:
                    lines.append({"kind": "one_time", "amount": prices[currency], "description": "Setup"})
                invoice = {"external_id": f"inv_{c:07d}_{m:03d}", "customer_external_id": cid,
                           "issued_at": iso(period), "due_at": iso(period), "currency": currency,
                           "status": status, "lines": lines, "updated_at": iso(period),
                           "transactions": [{"type": "payment", "result": "successful", "date": iso(period)}]
                           if status == "paid" else []}
                if coupon and m < 3:
                    invoice["discount_amount"] = prices[currency]
                write(invs, invoice)
                issued += 1
                period = end
            count += issued
            cancelled = rng.random() < 0.15
            write(subs, {"external_id": sid, "customer_external_id": cid, "plan_external_id": pid,
                         "status": "cancelled" if cancelled else rng.choice(("active", "active", "paused")),
                         "started_at": iso(signup), "cancelled_at": iso(period) if cancelled else None,
                         "updated_at": iso(period)})
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--invoices", type=int, default=None,
                        help="aim at about this many invoices (overrides --customers)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    customers = customers_for(args.invoices, args.months) if args.invoices else args.customers
    n = generate(args.out, customers, args.months, args.seed)
    print(f"wrote {n} invoices for {customers} customers to {args.out}")


if __name__ == "__main__":
    main()
