"""docs/rules.md, out-of-sync accounts: each out-of-sync code on a constructed account, with its money at stake."""

from __future__ import annotations

from typing import Any

import pytest

from saasync.models import Invoice, SourceSubscription
from saasync.rules.audit import (
    CODES,
    AuditCode,
    Finding,
    MoneyKind,
    audit_account,
    is_suspended,
    latest_priced_invoice,
    summarize,
)
from tests.factories import PLANS, customer, invoice, sub_line, subscription

CANCELLED = {"status": "cancelled", "cancelled_at": "2026-07-01"}


def account(status: str, cycle: bool | None, subs: list[SourceSubscription] = (),  # type: ignore[assignment]
            invoices: list[Invoice] = ()) -> list[Finding]:  # type: ignore[assignment]
    cust = customer(account_status=status, billing_cycle_enabled=cycle)
    return audit_account(cust, list(subs), list(invoices), PLANS)


def codes(findings: list[Finding]) -> list[AuditCode]:
    return [f.code for f in findings]


def sub(status: str = "active", sid: str = "sub_1", **kw: Any) -> SourceSubscription:
    if status == "suspended":
        return subscription(sid, "paused", source_status="suspended", **kw)
    return subscription(sid, status, **kw)


BILLED = [invoice("in_1", "2026-10-01", [sub_line(2900, "2026-10-01")])]


def only(findings: list[Finding], code: AuditCode) -> Finding:
    assert codes(findings) == [code]
    return findings[0]


def test_ACTIVE_BILLING_CYCLE_DISABLED() -> None:
    f = only(account("ACTIVE", False, [sub()], BILLED), AuditCode.ACTIVE_BILLING_CYCLE_DISABLED)
    assert f.subscriptions == ("sub_1",)
    assert f.money.kind is MoneyKind.NOT_BILLED and f.money.per_month == {"USD": 2900}
    assert f.info.root_cause == "activation workflow not used"


def test_ACTIVE_SUSPENDED_SUBSCRIPTIONS() -> None:
    found = account("ACTIVE", True, [sub("suspended"), sub("active", "sub_2")], BILLED)
    f = only(found, AuditCode.ACTIVE_SUSPENDED_SUBSCRIPTIONS)
    assert f.subscriptions == ("sub_1",)  # only the suspended one is priced: it is not billed
    assert f.money.kind is MoneyKind.NOT_BILLED and f.money.per_month == {"USD": 2900}


def test_ACTIVE_NO_SUBSCRIPTIONS() -> None:
    f = only(account("ACTIVE", True, [sub(**CANCELLED)]), AuditCode.ACTIVE_NO_SUBSCRIPTIONS)
    assert f.money.kind is MoneyKind.NOT_BILLED and f.money.unknown  # nothing to price
    assert f.money.per_month == {}


def test_INACTIVE_WITH_SUBSCRIPTIONS() -> None:
    f = only(account("INACTIVE", True, [sub()], BILLED), AuditCode.INACTIVE_WITH_SUBSCRIPTIONS)
    assert f.money.kind is MoneyKind.OVERCHARGED and f.money.per_month == {"USD": 2900}


def test_LEAD_BILLING_CYCLE_ENABLED() -> None:
    f = only(account("LEAD", True), AuditCode.LEAD_BILLING_CYCLE_ENABLED)
    assert f.money.kind is None  # nothing billed, nothing at stake
    billed = only(account("LEAD", True, [sub()], BILLED), AuditCode.LEAD_BILLING_CYCLE_ENABLED)
    assert billed.money.kind is MoneyKind.OVERCHARGED and billed.money.per_month == {"USD": 2900}


def test_PENDING_BILLING_CYCLE_ENABLED() -> None:
    f = only(account("PENDING", True, [sub("future")]), AuditCode.PENDING_BILLING_CYCLE_ENABLED)
    assert f.subscriptions == ("sub_1",) and f.money.kind is None  # a future one is not billed yet


def test_PENDING_NO_SUBSCRIPTIONS() -> None:
    f = only(account("PENDING", False), AuditCode.PENDING_NO_SUBSCRIPTIONS)
    assert f.money.kind is None


def test_PENDING_with_cycle_and_no_subscriptions_has_both_codes() -> None:
    assert codes(account("PENDING", True)) == [
        AuditCode.PENDING_BILLING_CYCLE_ENABLED, AuditCode.PENDING_NO_SUBSCRIPTIONS]


def test_SUSPENDED_ACTIVE_SUBSCRIPTIONS() -> None:
    found = account("SUSPENDED", True, [sub(), sub("suspended", "sub_2")], BILLED)
    f = only(found, AuditCode.SUSPENDED_ACTIVE_SUBSCRIPTIONS)
    assert f.subscriptions == ("sub_1",)
    assert f.money.kind is MoneyKind.OVERCHARGED and f.money.per_month == {"USD": 2900}


def test_SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS() -> None:
    f = only(account("SUSPENDED", False, [sub(**CANCELLED)]),
             AuditCode.SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS)
    assert f.money.kind is None


def test_suspended_account_with_only_an_active_subscription_has_both_codes() -> None:
    assert codes(account("SUSPENDED", True, [sub()], BILLED)) == [
        AuditCode.SUSPENDED_ACTIVE_SUBSCRIPTIONS, AuditCode.SUSPENDED_NO_SUSPENDED_SUBSCRIPTIONS]


@pytest.mark.parametrize(
    ("status", "cycle", "subs"),
    [
        ("ACTIVE", True, [sub()]),
        ("SUSPENDED", False, [sub("suspended")]),
        ("INACTIVE", False, [sub(**CANCELLED)]),
        ("LEAD", False, []),
        ("PENDING", False, [sub("future")]),
    ],
)
def test_in_sync_accounts_have_no_code(status: str, cycle: bool,
                                       subs: list[SourceSubscription]) -> None:
    assert account(status, cycle, subs, BILLED) == []


def test_an_account_without_status_is_not_audited() -> None:
    assert audit_account(customer(), [sub()], BILLED, PLANS) == []


def test_on_hold_and_paused_are_not_suspended() -> None:
    assert is_suspended(sub("suspended"))
    assert not is_suspended(subscription("sub_1", "paused", source_status="on_hold"))
    assert is_suspended(subscription("sub_1", "paused"))  # no source word: the paused group


def test_money_is_per_currency_after_discounts_without_tax_from_the_latest_invoice() -> None:
    invoices = [
        invoice("in_1", "2026-09-01", [sub_line(2900, "2026-09-01")]),
        invoice("in_2", "2026-10-01", [sub_line(11305, "2026-10-01", tax_amount=1805)],
                currency="EUR", discount_amount=1000),
        invoice("in_3", "2026-11-01", [sub_line(5000, "2026-11-01")], status="void"),
        invoice("in_4", "2026-10-01", [sub_line(120000, "2026-10-01", sub="sub_2",
                                                plan_id="pl_yearly", months=12)]),
    ]
    assert latest_priced_invoice("sub_1", invoices) is invoices[1]  # a void bills nothing
    f = only(account("INACTIVE", True, [sub(), sub("active", "sub_2"), sub("active", "sub_3")],
                     invoices), AuditCode.INACTIVE_WITH_SUBSCRIPTIONS)
    assert f.money.per_month == {"EUR": 11305 - 1000 - 1805, "USD": 10000}
    assert f.money.unpriced == ("sub_3",) and f.money.unknown  # no invoice to price it


def test_no_overcharge_while_the_billing_cycle_is_off() -> None:
    f = only(account("INACTIVE", False, [sub()], BILLED), AuditCode.INACTIVE_WITH_SUBSCRIPTIONS)
    assert f.money.kind is None


def test_every_code_has_a_cause_and_an_action_and_summary_lists_all_nine() -> None:
    assert set(CODES) == set(AuditCode) and len(AuditCode) == 9
    assert all(info.root_cause and info.action for info in CODES.values())
    found = account("INACTIVE", True, [sub()], BILLED) + account("SUSPENDED", True, [sub()], BILLED)
    summary = {s.code: s for s in summarize(found)}
    assert len(summary) == 9
    assert summary[AuditCode.INACTIVE_WITH_SUBSCRIPTIONS].per_month == {"USD": 2900}
    assert summary[AuditCode.ACTIVE_NO_SUBSCRIPTIONS].accounts == 0
