"""What ``saasync sample describe`` prints: the scenario customers of a generated export.

SCENARIOS.md (beside this module) gives each scenario's dates relative to the run month
("M−2" = the 1st of the month two months before it), since the sample is generated for
the current month (``path = "builtin:sample"``). ``describe`` gives them as dates: every
figure is read from the rows of the generated export (``build``), the same rows the files
get; only each customer's case (what it exercises) comes from SCENARIOS.md.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from .export import Export, Row, as_text

BULK_ID = re.compile(r"cus_\d{4}$")  # the seeded random bulk: not scenario customers
INVOICES_ONLY_HEADING = "## The invoices-only sample"
# the column of a SCENARIOS.md table that says what a customer exercises, by table
CASE_COLUMNS = (("exercises", ""), ("codes", "audit: "), ("reason, field", "bad row: "))


def scenario_cases(invoices_only: bool = False) -> dict[str, str]:
    """Customer id -> its case, from the tables of SCENARIOS.md (main sample, or the
    invoices-only sample's section)."""
    text = resources.files(__name__.rpartition(".")[0]).joinpath("SCENARIOS.md").read_text("utf-8")
    main, _, rest = text.partition(INVOICES_ONLY_HEADING)
    cases: dict[str, str] = {}
    header: list[str] = []
    for line in (rest if invoices_only else main).splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = [c.lower() for c in cells]
            continue
        found = re.fullmatch(r"`(cus_\w+)`", cells[0])
        if not found:
            continue
        for column, prefix in CASE_COLUMNS:
            if column in header and header.index(column) < len(cells):
                case = cells[header.index(column)].replace("**", "").replace("`", "")
                cases[found.group(1)] = prefix + case
                break
    return cases


def _money(row: Row, col: str) -> int | None:
    value = row.get(col)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _when(row: Row, col: str) -> Any:
    """A date as the export file holds it (ISO 8601 UTC; a deliberately bad one as written)."""
    value = row.get(col)
    if isinstance(value, list):
        return [as_text(col, v, None) for v in value]
    return as_text(col, value, None) or None


def describe(x: Export, invoices_only: bool = False) -> dict[str, Any]:
    """The scenario customers of ``x`` with their rows, in the order the export has them."""
    cases = scenario_cases(invoices_only)
    subs: dict[str, list[Row]] = {}
    for s in x.subscriptions:
        subs.setdefault(s["customer_external_id"], []).append(s)
    invoices: dict[str, list[Row]] = {}
    for inv in x.invoices:
        invoices.setdefault(inv["customer_external_id"], []).append(inv)
    customers = []
    for c in x.customers:
        cid = c["external_id"]
        if BULK_ID.match(cid):
            continue
        customers.append({
            "customer": cid, "case": cases.get(cid), "name": c["name"],
            "created_at": _when(c, "created_at"), "account_status": c.get("account_status"),
            "billing_cycle_enabled": c.get("billing_cycle_enabled"),
            "subscriptions": [
                {"id": s["external_id"], "plan": s["plan_external_id"], "status": s["status"],
                 **{col: _when(s, col) for col in ("started_at", "cancelled_at", "paused_at",
                                                   "current_period_end")},
                 "past_cancellation_dates": _when(s, "past_cancellation_dates") or []}
                for s in subs.get(cid, [])
            ],
            "invoices": [_invoice(inv) for inv in invoices.get(cid, [])],
        })  # fmt: skip
    months = {("M0" if k == 0 else f"M{-k:+d}"): _when({"m": x.month(k)}, "m")[:10]
              for k in range(-3, 9)}  # fmt: skip
    return {
        "sample": "sample-invoices-only" if invoices_only else "sample",
        "month": f"{x.month0:%Y-%m}", "as_of": _when({"as_of": x.as_of}, "as_of"),
        "months": months, "customers": customers,
    }  # fmt: skip


def _invoice(inv: Row) -> dict[str, Any]:
    total = sum(int(line["amount"]) for line in inv["lines"]) - (_money(inv, "discount_amount") or 0)
    return {
        "id": inv["external_id"], "issued_at": _when(inv, "issued_at"),
        "due_at": _when(inv, "due_at"), "status": inv["status"], "currency": inv["currency"],
        "total": total, "discount_amount": _money(inv, "discount_amount"),
        "discount_code": inv.get("discount_code"),
        "lines": [
            {"id": line["external_id"], "kind": line["kind"],
             "subscription": line.get("subscription_external_id"),
             "plan": line.get("plan_external_id"),
             "service_period_start": _when(line, "service_period_start"),
             "service_period_end": _when(line, "service_period_end"),
             "quantity": line.get("quantity"), "amount": _money(line, "amount"),
             "discount_amount": _money(line, "discount_amount"),
             "tax_amount": _money(line, "tax_amount"), "description": line.get("description")}
            for line in inv["lines"]
        ],
        "transactions": [
            {"id": tx["external_id"], "type": tx["type"], "result": tx["result"],
             "date": _when(tx, "date"), "amount": _money(tx, "amount")}
            for tx in inv["transactions"]
        ],
    }  # fmt: skip


# -- text -----------------------------------------------------------------------------------
def _short(value: str | None) -> str:
    """2026-11-01T00:00:00Z -> 2026-11-01; a time of day is kept (2026-10-10 10:00:00)."""
    if not value:
        return "-"
    return value.removesuffix("T00:00:00Z").replace("T", " ").removesuffix("Z")


def render(d: dict[str, Any]) -> str:
    out = [
        (f"The {d['sample']} for {d['month']} (export taken {_short(d['as_of'])}, T). "
         "Amounts in minor units."),
        "Months (SCENARIOS.md): " + ", ".join(f"{k} = {v}" for k, v in d["months"].items()),
        "",
    ]  # fmt: skip
    for c in d["customers"]:
        out.append(f"{c['customer']}: {c['case'] or '(not in SCENARIOS.md)'}")
        account = ""
        if c["account_status"]:
            on = "on" if c["billing_cycle_enabled"] else "off"
            account = f", account {c['account_status']}, billing cycle {on}"
        out.append(f"  created {_short(c['created_at'])}{account}")
        for s in c["subscriptions"]:
            extra = [f"{label} {_short(s[col])}" for col, label in (
                ("cancelled_at", "cancelled"), ("paused_at", "paused"),
                ("current_period_end", "period end")) if s[col]]  # fmt: skip
            if s["past_cancellation_dates"]:
                extra.append("past cancellations " + ", ".join(map(_short, s["past_cancellation_dates"])))
            out.append(f"  {s['id']}  {s['plan']}  {s['status']}  started {_short(s['started_at'])}"
                       + "".join(f"; {e}" for e in extra))
        for inv in c["invoices"]:
            head = (f"  {inv['id']}  {_short(inv['issued_at'])}  {inv['status']}  "
                    f"{inv['currency']} {inv['total']}")
            if inv["discount_amount"]:
                head += f" (invoice discount {inv['discount_amount']} {inv['discount_code'] or ''})".rstrip()
            if inv["due_at"] and inv["due_at"] != inv["issued_at"]:
                head += f"; due {_short(inv['due_at'])}"
            out.append(head)
            for line in inv["lines"]:
                what = line["plan"] or line["description"]
                if line["kind"] == "subscription":
                    qty = f" x {line['quantity']}" if line["quantity"] != 1 else ""
                    what += (f"{qty} {_short(line['service_period_start'])} -> "
                             f"{_short(line['service_period_end'])}")
                else:
                    what = f"one-time \"{line['description']}\""
                money = f"{line['amount']}"
                if line["discount_amount"]:
                    money += f" (discount {line['discount_amount']})"
                if line["tax_amount"]:
                    money += f" (tax {line['tax_amount']})"
                out.append(f"      {what}: {money}")
            for tx in inv["transactions"]:
                out.append(f"      {tx['type']} {tx['result']} {_short(tx['date'])}: {tx['amount']}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
