"""``audit``: the out-of-sync accounts report (docs/rules.md, out-of-sync accounts), read from the source and rendered.

The rules (codes, conditions, root causes, actions, money) are in ``saasync.rules.audit``;
this module groups a source read into accounts, asks the rules, and shapes the answer
for the terminal, JSON, CSV and HTML. An account is audited only when the source gives
it an ``account_status``: a source without account statuses has nothing to audit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from saasync.models import Customer, SourceSubscription
from saasync.money import format_money
from saasync.reports.reconciliation import SourceRead
from saasync.rules.audit import (
    CODES,
    AuditCode,
    CodeSummary,
    Finding,
    MoneyAtStake,
    MoneyKind,
    audit_account,
    summarize,
)

ISSUES_FOUND = 6  # exit status of `saasync audit --fail-on-issues` when any account is flagged
NO_ACCOUNT_STATUS = (
    "this source carries no account statuses (account_status): there is nothing to audit; "
    "the out-of-sync accounts audit needs an ISP-style platform (files exports with "
    "account_status, gaiia)"
)
NOT_ADDITIVE = ("an account can have several codes: money at stake is per code, "
                "never add it across codes")
CSV_COLUMNS = ("customer", "name", "account_status", "billing_cycle_enabled", "code",
               "subscriptions", "root_cause", "action", "money_kind", "money_per_month",
               "money_unknown", "money_at_stake")


@dataclass(frozen=True)
class AuditReport:
    audited: int  # accounts that carry an account status
    customers: Mapping[str, Customer]
    findings: tuple[Finding, ...]
    summary: tuple[CodeSummary, ...]

    @property
    def supported(self) -> bool:
        return self.audited > 0

    @property
    def flagged_accounts(self) -> int:
        return len({f.customer_external_id for f in self.findings})


def run_audit(source: SourceRead) -> AuditReport:
    """Audit every account of the source that carries an account status."""
    subs: dict[str, list[SourceSubscription]] = {}
    for sub in source.subscriptions.values():
        subs.setdefault(sub.customer_external_id, []).append(sub)
    audited = [c for c in source.customers.values() if c.account_status is not None]
    findings: list[Finding] = []
    for customer in sorted(audited, key=lambda c: c.external_id):
        cid = customer.external_id
        findings += audit_account(customer, subs.get(cid, []), source.invoices_of(cid),
                                  source.plans)
    return AuditReport(len(audited), dict(source.customers), tuple(findings),
                       tuple(summarize(findings)))


def money_text(money: MoneyAtStake) -> str:
    """Human wording: "29.00 USD/month not billed", "unknown (no invoice to price sub_x)", "-"."""
    if money.kind is None:
        return "-"
    verb = "not billed (free months)" if money.kind is MoneyKind.NOT_BILLED else "overcharged"
    parts = [f"{format_money(v, c)}/month" for c, v in money.per_month.items()]
    text = f"{' + '.join(parts)} {verb}" if parts else ""
    if money.nothing_to_price:
        return f"unknown: {verb}, but no subscription to price"
    if money.unpriced:
        unknown = f"unknown for {', '.join(money.unpriced)} (no invoice to price it)"
        return f"{text}; {unknown}" if text else unknown
    return text


def _per_month(amounts: Mapping[str, int]) -> str:
    return "; ".join(f"{c} {v}" for c, v in amounts.items())


def audit_json(report: AuditReport) -> dict[str, Any]:
    """Stable keys: supported, accounts_audited, accounts_flagged, findings, summary.

    Money in integer minor units per ISO currency code, as ``metrics --json``.
    """
    if not report.supported:
        return {"supported": False, "message": NO_ACCOUNT_STATUS, "accounts_audited": 0,
                "accounts_flagged": 0, "findings": [], "summary": []}
    return {
        "supported": True,
        "accounts_audited": report.audited,
        "accounts_flagged": report.flagged_accounts,
        "money_unit": "minor",
        "findings": [
            {
                "customer": f.customer_external_id,
                "name": report.customers[f.customer_external_id].name,
                "account_status": f.account_status.value,
                "billing_cycle_enabled": f.billing_cycle_enabled,
                "code": f.code.value,
                "condition": f.info.condition,
                "subscriptions": list(f.subscriptions),
                "root_cause": f.info.root_cause,
                "action": f.info.action,
                "money_at_stake": {
                    "kind": f.money.kind.value if f.money.kind else None,
                    "per_month": dict(f.money.per_month),
                    "unknown": f.money.unknown,
                    "unpriced_subscriptions": list(f.money.unpriced),
                    "text": money_text(f.money),
                },
            }
            for f in report.findings
        ],
        "summary": [
            {"code": s.code.value, "accounts": s.accounts,
             "money_kind": (k.value if (k := CODES[s.code].money) else None),
             "money_per_month": dict(s.per_month), "accounts_money_unknown": s.unknown}
            for s in report.summary
        ],
    }


def audit_rows(report: AuditReport) -> list[dict[str, str]]:
    """One flat row per (account, code), in CSV_COLUMNS (CSV and HTML use these)."""
    return [
        {
            "customer": f.customer_external_id,
            "name": report.customers[f.customer_external_id].name,
            "account_status": f.account_status.value,
            "billing_cycle_enabled": "" if f.billing_cycle_enabled is None
            else str(f.billing_cycle_enabled).lower(),
            "code": f.code.value,
            "subscriptions": " ".join(f.subscriptions),
            "root_cause": f.info.root_cause,
            "action": f.info.action,
            "money_kind": f.money.kind.value if f.money.kind else "",
            "money_per_month": _per_month(f.money.per_month),
            "money_unknown": str(f.money.unknown).lower(),
            "money_at_stake": money_text(f.money),
        }
        for f in report.findings
    ]


def summary_rows(summary: Sequence[CodeSummary]) -> list[tuple[str, str, str, str]]:
    """(code, accounts, money at stake per month, root cause) for the per-code summary."""
    out: list[tuple[str, str, str, str]] = []
    for s in summary:
        kind = CODES[s.code].money
        money = " + ".join(format_money(v, c) for c, v in s.per_month.items())
        if money:
            money += " not billed" if kind is MoneyKind.NOT_BILLED else " overcharged"
        if s.unknown:
            unknown = f"unknown for {s.unknown} account(s)"
            money = f"{money}; {unknown}" if money else unknown
        out.append((s.code.value, str(s.accounts), money or "-", CODES[s.code].root_cause))
    return out


__all__ = ["ISSUES_FOUND", "AuditCode", "AuditReport", "audit_json", "audit_rows", "run_audit"]
