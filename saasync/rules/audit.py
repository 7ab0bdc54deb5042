"""Out-of-sync accounts (docs/rules.md, out-of-sync accounts) as pure functions: which codes an account earns, and why.

An ISP-style billing platform keeps three facts per account that must agree: the
account status, its subscriptions, and whether the billing cycle runs. Manual status
edits bypass the workflows that keep them aligned, and the customer then gets free
months or is billed when they should not be. This module names every disagreement with
a stable code, says the likely root cause and what to do, and prices it from the
subscriptions' latest source invoices. No I/O: ``saasync.reports.out_of_sync`` reads and renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from saasync.models import (
    AccountStatus,
    Customer,
    Invoice,
    InvoiceStatus,
    Plan,
    SourceSubscription,
    SubscriptionStatus,
)
from saasync.rules.changeset import OutLine
from saasync.rules.discounts import post_discount_amounts
from saasync.rules.mrr import line_mrr_exact, round_minor


class AuditCode(StrEnum):
    ACTIVE_BILLING_CYCLE_DISABLED = "ACTIVE_BILLING_CYCLE_DISABLED"
    ACTIVE_SUSPENDED_SUBSCRIPTIONS = "ACTIVE_SUSPENDED_SUBSCRIPTIONS"
    ACTIVE_NO_SUBSCRIPTIONS = "ACTIVE_NO_SUBSCRIPTIONS"
    INACTIVE_WITH_SUBSCRIPTIONS = "INACTIVE_WITH_SUBSCRIPTIONS"
    LEAD_BILLING_CYCLE_ENABLED = "LEAD_BILLING_CYCLE_ENABLED"
    PENDING_BILLING_CYCLE_ENABLED = "PENDING_BILLING_CYCLE_ENABLED"
    PENDING_NO_SUBSCRIPTIONS = "PENDING_NO_SUBSCRIPTIONS"
    SUSPENDED_ACTIVE_SUBSCRIPTIONS = "SUSPENDED_ACTIVE_SUBSCRIPTIONS"
    SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS = "SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS"


class MoneyKind(StrEnum):
    """Which way the money goes wrong: the customer gets service free, or pays for none."""

    NOT_BILLED = "not_billed"  # free months
    OVERCHARGED = "overcharged"  # billed though the account should not pay


@dataclass(frozen=True)
class CodeInfo:
    condition: str
    root_cause: str
    action: str
    money: MoneyKind | None  # None: no money follows from the code itself


CODES: Mapping[AuditCode, CodeInfo] = {
    AuditCode.ACTIVE_BILLING_CYCLE_DISABLED: CodeInfo(
        "ACTIVE account with subscriptions, billing cycle not enabled",
        "activation workflow not used", "review the account; enable the billing cycle",
        MoneyKind.NOT_BILLED),
    AuditCode.ACTIVE_SUSPENDED_SUBSCRIPTIONS: CodeInfo(
        "ACTIVE account with a SUSPENDED subscription",
        "reactivation workflow not used", "confirm the subscription (reactivate it)",
        MoneyKind.NOT_BILLED),
    AuditCode.ACTIVE_NO_SUBSCRIPTIONS: CodeInfo(
        "ACTIVE account without subscriptions",
        "activation issue or missed subscription assignment",
        "assign or validate subscriptions", MoneyKind.NOT_BILLED),
    AuditCode.INACTIVE_WITH_SUBSCRIPTIONS: CodeInfo(
        "INACTIVE account with subscriptions",
        "manual action or migration inconsistency",
        "validate the account status and subscriptions", MoneyKind.OVERCHARGED),
    AuditCode.LEAD_BILLING_CYCLE_ENABLED: CodeInfo(
        "LEAD account with the billing cycle enabled",
        "lead workflow misused", "validate the account status and subscriptions",
        MoneyKind.OVERCHARGED),
    AuditCode.PENDING_BILLING_CYCLE_ENABLED: CodeInfo(
        "PENDING account with the billing cycle enabled",
        "activation workflow misused", "validate the account status and subscriptions",
        MoneyKind.OVERCHARGED),
    AuditCode.PENDING_NO_SUBSCRIPTIONS: CodeInfo(
        "PENDING account without subscriptions",
        "missed subscription assignment", "validate the account status and subscriptions",
        None),
    AuditCode.SUSPENDED_ACTIVE_SUBSCRIPTIONS: CodeInfo(
        "SUSPENDED account with an ACTIVE subscription",
        "manual action or migration issue",
        "review the suspension reason; align the subscription statuses", MoneyKind.OVERCHARGED),
    AuditCode.SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS: CodeInfo(
        "SUSPENDED account without any SUSPENDED subscription",
        "manual action or migration issue",
        "review the suspension reason; align the subscription statuses", MoneyKind.OVERCHARGED),
}

# A subscription the platform bills each period (past due is still billed, only late).
_BILLED = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})
_UNPRICEABLE = frozenset({InvoiceStatus.DRAFT, InvoiceStatus.VOID})


def is_live(sub: SourceSubscription) -> bool:
    """"With subscriptions" (docs/rules.md, out-of-sync accounts) counts every subscription that is not cancelled."""
    return sub.status is not SubscriptionStatus.CANCELLED


def is_suspended(sub: SourceSubscription) -> bool:
    """SUSPENDED: the paused group, as the platform's own ``suspended`` word (or no word).

    ``paused`` and ``on_hold`` subscriptions are pauses a customer asked for, not the
    platform's suspension, so they do not make an account's subscriptions "suspended".
    """
    if sub.status is not SubscriptionStatus.PAUSED:
        return False
    return sub.source_status is None or sub.source_status.strip().lower() == "suspended"


def is_active(sub: SourceSubscription) -> bool:
    """ACTIVE: running and billed (a past-due subscription is active, only paid late)."""
    return sub.status in _BILLED


@dataclass(frozen=True)
class MoneyAtStake:
    """MRR (minor units per currency) billed wrongly or not billed, for one finding.

    ``unpriced`` lists subscriptions with no invoice (or no known plan) to price them;
    ``unknown`` is True when some money is at stake but cannot (all) be computed.
    """

    kind: MoneyKind | None = None
    per_month: Mapping[str, int] = field(default_factory=dict)
    unpriced: tuple[str, ...] = ()
    nothing_to_price: bool = False

    @property
    def unknown(self) -> bool:
        return self.kind is not None and (bool(self.unpriced) or self.nothing_to_price)


@dataclass(frozen=True)
class Finding:
    """One (account, code) row of the audit."""

    customer_external_id: str
    code: AuditCode
    account_status: AccountStatus
    billing_cycle_enabled: bool | None
    subscriptions: tuple[str, ...]  # the subscriptions the code is about
    money: MoneyAtStake

    @property
    def info(self) -> CodeInfo:
        return CODES[self.code]


def latest_priced_invoice(sub_id: str, invoices: Iterable[Invoice]) -> Invoice | None:
    """The latest invoice billing this subscription (drafts and voids bill nothing)."""
    billing = [
        inv
        for inv in invoices
        if inv.status not in _UNPRICEABLE
        and any(
            line.kind == "subscription" and line.subscription_external_id == sub_id
            for line in inv.lines
        )
    ]
    return max(billing, key=lambda inv: (inv.issued_at, inv.external_id), default=None)


def subscription_mrr_from_invoice(
    sub_id: str, invoice: Invoice, plans: Mapping[str, Plan]
) -> int | None:
    """MRR of the subscription's lines on ``invoice`` after every discount.

    None when a line names a plan the source never sent: it cannot be normalized to a month.
    """
    total = Fraction(0)
    for line, amount in zip(invoice.lines, post_discount_amounts(invoice), strict=True):
        if line.kind != "subscription" or line.subscription_external_id != sub_id:
            continue
        plan = plans.get(line.plan_external_id or "")
        if plan is None:
            return None
        out = OutLine(
            kind="subscription",
            amount=amount,
            tax_amount=line.tax_amount,
            quantity=line.quantity,
            subscription_external_id=sub_id,
            plan_external_id=line.plan_external_id,
            service_period_start=line.service_period_start,
            service_period_end=line.service_period_end,
            prorated=line.prorated,
        )
        total += line_mrr_exact(out, plan)
    return round_minor(total)


def price(
    kind: MoneyKind,
    subs: Sequence[SourceSubscription],
    invoices: Sequence[Invoice],
    plans: Mapping[str, Plan],
) -> MoneyAtStake:
    """Price ``subs`` per currency from each one's latest invoice; never mixes currencies."""
    per_month: dict[str, int] = {}
    unpriced: list[str] = []
    for sub in subs:
        invoice = latest_priced_invoice(sub.external_id, invoices)
        mrr = (
            subscription_mrr_from_invoice(sub.external_id, invoice, plans)
            if invoice is not None
            else None
        )
        if invoice is None or mrr is None:
            unpriced.append(sub.external_id)
            continue
        per_month[invoice.currency] = per_month.get(invoice.currency, 0) + mrr
    return MoneyAtStake(kind, dict(sorted(per_month.items())), tuple(unpriced))


def _codes(customer: Customer, subs: Sequence[SourceSubscription]) -> list[AuditCode]:
    status = customer.account_status
    cycle = customer.billing_cycle_enabled
    live = [s for s in subs if is_live(s)]
    suspended = [s for s in subs if is_suspended(s)]
    found: list[AuditCode] = []
    if status is AccountStatus.ACTIVE:
        if live and cycle is False:
            found.append(AuditCode.ACTIVE_BILLING_CYCLE_DISABLED)
        if suspended:
            found.append(AuditCode.ACTIVE_SUSPENDED_SUBSCRIPTIONS)
        if not live:
            found.append(AuditCode.ACTIVE_NO_SUBSCRIPTIONS)
    elif status is AccountStatus.INACTIVE and live:
        found.append(AuditCode.INACTIVE_WITH_SUBSCRIPTIONS)
    elif status is AccountStatus.LEAD and cycle is True:
        found.append(AuditCode.LEAD_BILLING_CYCLE_ENABLED)
    elif status is AccountStatus.PENDING:
        if cycle is True:
            found.append(AuditCode.PENDING_BILLING_CYCLE_ENABLED)
        if not live:
            found.append(AuditCode.PENDING_NO_SUBSCRIPTIONS)
    elif status is AccountStatus.SUSPENDED:
        if any(is_active(s) for s in subs):
            found.append(AuditCode.SUSPENDED_ACTIVE_SUBSCRIPTIONS)
        if not suspended:
            found.append(AuditCode.SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS)
    return found


def _concerned(code: AuditCode, subs: Sequence[SourceSubscription]) -> list[SourceSubscription]:
    """The subscriptions a code is about (listed in the row, priced for its money)."""
    if code is AuditCode.ACTIVE_SUSPENDED_SUBSCRIPTIONS:
        return [s for s in subs if is_suspended(s)]
    if code is AuditCode.SUSPENDED_ACTIVE_SUBSCRIPTIONS:
        return [s for s in subs if is_active(s)]
    return [s for s in subs if is_live(s)]


def _money(
    code: AuditCode,
    customer: Customer,
    concerned: Sequence[SourceSubscription],
    invoices: Sequence[Invoice],
    plans: Mapping[str, Plan],
) -> MoneyAtStake:
    kind = CODES[code].money
    if kind is None:
        return MoneyAtStake()
    if code is AuditCode.ACTIVE_NO_SUBSCRIPTIONS:
        # An active account should pay for something, but there is nothing to price.
        return MoneyAtStake(kind, nothing_to_price=True)
    if code is AuditCode.ACTIVE_SUSPENDED_SUBSCRIPTIONS:
        priced = list(concerned)  # a suspended subscription is not billed, whatever the cycle
    elif kind is MoneyKind.NOT_BILLED:
        priced = [s for s in concerned if is_active(s)]
    elif customer.billing_cycle_enabled is False:
        priced = []  # nothing is billed while the billing cycle is off: no overcharge
    else:
        priced = [s for s in concerned if is_active(s)]
    if not priced:
        return MoneyAtStake()
    return price(kind, priced, invoices, plans)


def audit_account(
    customer: Customer,
    subscriptions: Sequence[SourceSubscription],
    invoices: Sequence[Invoice],
    plans: Mapping[str, Plan],
) -> list[Finding]:
    """Every code that applies to one account, each priced; [] when it is in sync or unaudited."""
    if customer.account_status is None:
        return []
    subs = sorted(subscriptions, key=lambda s: s.external_id)
    findings: list[Finding] = []
    for code in _codes(customer, subs):
        concerned = _concerned(code, subs)
        findings.append(
            Finding(
                customer.external_id,
                code,
                customer.account_status,
                customer.billing_cycle_enabled,
                tuple(s.external_id for s in concerned),
                _money(code, customer, concerned, invoices, plans),
            )
        )
    return findings


@dataclass(frozen=True)
class CodeSummary:
    code: AuditCode
    accounts: int
    per_month: Mapping[str, int]  # summed per currency over the accounts that could be priced
    unknown: int  # accounts whose money at stake is (partly) unknown


def summarize(findings: Iterable[Finding]) -> list[CodeSummary]:
    """One line per code, all nine (zeros included), money summed per currency."""
    findings = list(findings)
    out: list[CodeSummary] = []
    for code in AuditCode:
        rows = [f for f in findings if f.code is code]
        totals: dict[str, int] = {}
        for row in rows:
            for currency, amount in row.money.per_month.items():
                totals[currency] = totals.get(currency, 0) + amount
        out.append(
            CodeSummary(
                code,
                len({r.customer_external_id for r in rows}),
                dict(sorted(totals.items())),
                sum(1 for r in rows if r.money.unknown),
            )
        )
    return out
